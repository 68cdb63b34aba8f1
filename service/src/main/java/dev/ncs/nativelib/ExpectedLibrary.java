package dev.ncs.nativelib;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The libncs this jar was built for, as the native build recorded it beside the bundled library
 * ({@value #RESOURCE}, from the version in {@code ncs.h}): its version, the only one the loader
 * accepts, and its SONAME ({@code libncs.so.MAJOR}), the name looked for on the system library
 * path.
 *
 * <p>The binding mirrors libncs's functions and constants by hand ({@code NcsLibrary}, {@link
 * DataType}, {@link NativeStatus}, ...), so a library of another version could be misread without
 * any error. {@link #check} asks a library its {@code ncs_version_number()} before anything is
 * bound to it, and refuses any other number.
 *
 * @param version "major.minor.patch"
 * @param versionNumber the same, encoded as {@code ncs_version_number()} returns it
 * @param soname the SONAME of that library
 */
record ExpectedLibrary(String version, int versionNumber, String soname) {

    static final String RESOURCE = "/dev/ncs/nativelib/libncs.properties";

    /** What this jar records ({@value #RESOURCE}). */
    static ExpectedLibrary ofThisJar() {
        Properties properties = new Properties();
        try (InputStream in = ExpectedLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(
                        "this jar does not say which libncs it was built for (no "
                                + RESOURCE
                                + "): build it with ./mvnw package, which builds libncs first");
            }
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        return new ExpectedLibrary(
                required(properties, "version"),
                Integer.parseInt(required(properties, "version.number")),
                required(properties, "soname"));
    }

    /**
     * Returns normally when {@code library} is the libncs of this version. Otherwise closes it and
     * throws an {@link UnsatisfiedLinkError} that names the file and both versions.
     */
    void check(NativeLibrary library) {
        Function versionFunction;
        try {
            versionFunction = library.getFunction("ncs_version_number");
        } catch (UnsatisfiedLinkError e) {
            String file = String.valueOf(library.getFile());
            library.close();
            throw new UnsatisfiedLinkError(
                    file + " is not libncs: it has no function ncs_version_number");
        }
        int found = versionFunction.invokeInt(new Object[0]);
        String file = fileOf(versionFunction, library);
        try {
            requireVersion(found, file);
        } catch (UnsatisfiedLinkError refused) {
            library.close();
            throw refused;
        }
    }

    /** Throws unless {@code found} (what the library at {@code file} returned) is this version. */
    void requireVersion(int found, String file) {
        if (found != versionNumber) {
            throw new UnsatisfiedLinkError(
                    "libncs at "
                            + file
                            + " is version "
                            + versionText(found)
                            + " (ncs_version_number() = "
                            + found
                            + "), but this jar was built for libncs "
                            + version
                            + " ("
                            + versionNumber
                            + ") and loads no other version: give it the libncs built with this jar (it"
                            + " tries ncs.native.library, else "
                            + soname
                            + " on the system library path, else its own copy)");
        }
    }

    /**
     * "major.minor.patch" of a number encoded as {@code NCS_VERSION_NUMBER} is (major * 10000 +
     * ...).
     */
    static String versionText(int number) {
        return (number / 10000) + "." + (number / 100 % 100) + "." + (number % 100);
    }

    /**
     * The file the dynamic linker loaded {@code function} from (dladdr), else the one JNA asked
     * for.
     */
    private static String fileOf(Function function, NativeLibrary library) {
        // Dl_info: dli_fname, dli_fbase, dli_sname, dli_saddr.
        try (Memory info = new Memory(4L * Native.POINTER_SIZE)) {
            Function dladdr = NativeLibrary.getProcess().getFunction("dladdr");
            Pointer name =
                    dladdr.invokeInt(new Object[] {function, info}) != 0
                            ? info.getPointer(0)
                            : null;
            return name != null ? name.getString(0) : String.valueOf(library.getFile());
        }
    }

    private static String required(Properties properties, String key) {
        String value = properties.getProperty(key);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException(RESOURCE + " has no " + key);
        }
        return value.strip();
    }
}
