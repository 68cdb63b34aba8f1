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
 * Finds libncs: first the explicit override ({@code ncs.native.library}), then the system's library
 * path ({@code jna.library.path}, {@code java.library.path}, the dynamic linker's) under the SONAME
 * of the version this jar was built for ({@code libncs.so.MAJOR}), then the copy bundled in the
 * jar. When every place fails the error lists each place and why. The library found is then
 * checked: one whose {@code ncs_version_number()} is not the version this jar was built for is
 * refused ({@link ExpectedLibrary}), before anything is bound to it.
 */
final class NativeLibraryLoader {

    static final String BUNDLED_RESOURCE = "/dev/ncs/nativelib/linux-x86-64/libncs.so";

    private NativeLibraryLoader() {}

    /** The libncs to bind: the first one found, if it is the version this jar was built for. */
    static NativeLibrary load(Optional<Path> override) {
        ExpectedLibrary expected = ExpectedLibrary.ofThisJar();
        NativeLibrary library = find(override, expected.soname());
        expected.check(library);
        return library;
    }

    private static NativeLibrary find(Optional<Path> override, String soname) {
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
            return NativeLibrary.getInstance(soname);
        } catch (UnsatisfiedLinkError e) {
            tried.add(
                    soname
                            + " on the system library path (jna.library.path="
                            + System.getProperty("jna.library.path")
                            + ", java.library.path="
                            + System.getProperty("java.library.path")
                            + ", the dynamic linker's path): "
                            + firstLine(e));
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
        return new UnsatisfiedLinkError(
                "libncs could not be loaded; tried, in order:\n  - "
                        + String.join("\n  - ", tried));
    }

    private static String firstLine(Throwable e) {
        String message = String.valueOf(e.getMessage());
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
