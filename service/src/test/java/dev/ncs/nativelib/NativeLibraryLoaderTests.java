package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loader refuses a library that is not the libncs this jar was built for, before binding
 * anything to it. The stand-in of another version is built by the native build
 * (native/tests/fixtures/other_version.c).
 */
class NativeLibraryLoaderTests {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path OTHER_VERSION =
            ROOT.resolve("native/target/build/test-fixtures/other-version/libncs.so");
    private static final Path NOT_LIBNCS = ROOT.resolve("native/target/plugins/libsmallest.so");

    private final ExpectedLibrary expected = ExpectedLibrary.ofThisJar();

    @Test
    void theJarRecordsTheVersionAndSonameOfItsLibrary() {
        assertThat(expected.version()).matches("\\d+\\.\\d+\\.\\d+");
        assertThat(ExpectedLibrary.versionText(expected.versionNumber()))
                .isEqualTo(expected.version());
        assertThat(expected.soname()).isEqualTo("libncs.so." + expected.version().split("\\.")[0]);
    }

    @Test
    void aRefusalNamesBothVersionsAndTheFile() {
        ExpectedLibrary builtFor = new ExpectedLibrary("0.1.0", 100, "libncs.so.0");
        assertThatCode(() -> builtFor.requireVersion(100, "/opt/ncs/lib/libncs.so.0"))
                .doesNotThrowAnyException();
        assertThatThrownBy(() -> builtFor.requireVersion(10203, "/usr/local/lib/libncs.so.1"))
                .isInstanceOf(UnsatisfiedLinkError.class)
                .hasMessageStartingWith(
                        "libncs at /usr/local/lib/libncs.so.1 is version 1.2.3 (ncs_version_number()"
                                + " = 10203), but this jar was built for libncs 0.1.0 (100) and loads no other version");
    }

    @Test
    void refusesALibraryOfAnotherVersion() {
        assertThat(OTHER_VERSION)
                .as("built by the native module (./mvnw -pl native compile)")
                .exists();
        int other = expected.versionNumber() + 1;
        assertThatThrownBy(() -> NativeLibraryLoader.load(Optional.of(OTHER_VERSION)))
                .isInstanceOf(UnsatisfiedLinkError.class)
                .hasMessageContaining(
                        "libncs at "
                                + OTHER_VERSION
                                + " is version "
                                + ExpectedLibrary.versionText(other)
                                + " (ncs_version_number() = "
                                + other
                                + ")")
                .hasMessageContaining(
                        "built for libncs "
                                + expected.version()
                                + " ("
                                + expected.versionNumber()
                                + ")");
    }

    @Test
    void refusesALibraryThatIsNotLibncs() {
        assertThat(NOT_LIBNCS)
                .as("built by the native module (./mvnw -pl native compile)")
                .exists();
        assertThatThrownBy(() -> NativeLibraryLoader.load(Optional.of(NOT_LIBNCS)))
                .isInstanceOf(UnsatisfiedLinkError.class)
                .hasMessage(NOT_LIBNCS + " is not libncs: it has no function ncs_version_number");
    }

    /**
     * The whole start-up path in a JVM of its own (libncs binds once per process): a libncs of
     * another version found under the SONAME on the system library path stops {@link
     * NativeRuntime#load}; the loader neither binds it nor falls back to the copy in the jar.
     */
    @Test
    void startUpRefusesALibraryOfAnotherVersionOnTheSystemPath(@TempDir Path dir) throws Exception {
        Path stale = Files.copy(OTHER_VERSION, dir.resolve(expected.soname()));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process process =
                new ProcessBuilder(
                                List.of(
                                        java.toString(),
                                        "--enable-native-access=ALL-UNNAMED",
                                        "-Djna.library.path=" + dir,
                                        "-cp",
                                        System.getProperty("java.class.path"),
                                        LoadRuntime.class.getName()))
                        .redirectErrorStream(true)
                        .start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();

        assertThat(process.exitValue()).as(output).isEqualTo(LoadRuntime.REFUSED);
        assertThat(output)
                .contains(
                        "libncs at "
                                + stale
                                + " is version "
                                + ExpectedLibrary.versionText(expected.versionNumber() + 1));
    }

    /**
     * Loads the runtime as the service does; exits {@value #REFUSED} with the message when refused.
     */
    static final class LoadRuntime {

        static final int REFUSED = 3;

        public static void main(String[] args) {
            try {
                System.out.println(
                        "libncs " + NativeRuntime.load(Optional.empty()).version() + " loaded");
            } catch (UnsatisfiedLinkError e) {
                System.out.println(e.getMessage());
                System.exit(REFUSED);
            }
        }
    }
}
