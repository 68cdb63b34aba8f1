package dev.ncs.nativelib;

import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds libncs: first the explicit override ({@code ncs.native.library}), then the system's
 * library path ({@code jna.library.path}, {@code java.library.path}, the dynamic linker's), then the
 * copy bundled in the jar. When every place fails the error lists each place and why.
 */
final class NativeLibraryLoader {

    static final String LIBRARY_NAME = "ncs";
    static final String BUNDLED_RESOURCE = "/dev/ncs/nativelib/linux-x86-64/libncs.so";

    private NativeLibraryLoader() {
    }

    static NativeLibrary load(Optional<Path> override) {
        List<String> tried = new ArrayList<>();
        if (override.isPresent()) {
            Path path = override.get().toAbsolutePath();
            try {
                return NativeLibrary.getInstance(path.toString());
            } catch (UnsatisfiedLinkError e) {
                tried.add("ncs.native.library=" + path + ": " + firstLine(e));
                throw failure(tried);
            }
        }
        try {
            return NativeLibrary.getInstance(LIBRARY_NAME);
        } catch (UnsatisfiedLinkError e) {
            tried.add("system library path (jna.library.path=" + System.getProperty("jna.library.path")
                    + ", java.library.path=" + System.getProperty("java.library.path")
                    + ", the dynamic linker's path): " + firstLine(e));
        }
        try {
            return NativeLibrary.getInstance(extractBundled().toString());
        } catch (IOException | UnsatisfiedLinkError e) {
            tried.add("bundled classpath resource " + BUNDLED_RESOURCE + ": " + firstLine(e));
        }
        throw failure(tried);
    }

    private static Path extractBundled() throws IOException {
        try (InputStream in = NativeLibraryLoader.class.getResourceAsStream(BUNDLED_RESOURCE)) {
            if (in == null) {
                throw new IOException("not in this jar (build with ./mvnw package to bundle it)");
            }
            Path file = Files.createTempFile("libncs-", ".so");
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        }
    }

    private static UnsatisfiedLinkError failure(List<String> tried) {
        return new UnsatisfiedLinkError("libncs could not be loaded; tried, in order:\n  - "
                + String.join("\n  - ", tried));
    }

    private static String firstLine(Throwable e) {
        String message = String.valueOf(e.getMessage());
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
