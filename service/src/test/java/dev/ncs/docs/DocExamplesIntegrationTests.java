package dev.ncs.docs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.NcsApplication;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documentation's shell examples, run as written against a real NCS by {@code
 * scripts/check-docs}: every {@code sh} block of README.md, docs/*.md and bench/README.md runs (or
 * is marked as covered elsewhere) and its output must match the output the doc shows. NCS is
 * started from this test's class path instead of {@code service/target/ncs.jar}, which is packaged
 * only after the tests, on free ports.
 */
class DocExamplesIntegrationTests {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path CHECKER = ROOT.resolve("scripts/check-docs");
    private static final String JACKSON2_ENDPOINT =
            "org.springframework.boot.actuate.autoconfigure.endpoint.jackson.Jackson2EndpointAutoConfiguration";

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void everyShellExampleRunsAsShown(@TempDir Path temp) throws Exception {
        // The class path is too long for a shell command line to read well: the JVM takes it from a
        // file.
        Path arguments = temp.resolve("ncs.args");
        Files.writeString(
                arguments,
                String.join(
                        "\n",
                        "--enable-native-access=ALL-UNNAMED",
                        "-cp",
                        quoted(System.getProperty("java.class.path")),
                        NcsApplication.class.getName(),
                        // the test class path carries Triton's Java client, which bundles Jackson 2
                        "--spring.autoconfigure.exclude=" + JACKSON2_ENDPOINT));
        String launcher =
                Path.of(System.getProperty("java.home"), "bin", "java") + " @" + arguments;

        Result result =
                check(
                        "--launcher",
                        launcher,
                        "--api-port",
                        String.valueOf(freePort()),
                        "--management-port",
                        String.valueOf(freePort()));

        assertThat(result.exitCode).as(result.output).isZero();
        assertThat(result.output).contains(" 0 failed").doesNotContain("\nFAIL");
    }

    @Test
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void anExampleWhoseOutputDiffersFailsTheCheck(@TempDir Path temp) throws Exception {
        Path doc = temp.resolve("doc.md");
        Files.writeString(
                doc,
                """
                ```sh
                echo '{"data": [58.0, 64.0], "shape": [2]}'
                ```

                ```json
                {"data": [58.0, 64.0000000001], "shape": [2]}
                ```

                ```sh
                echo '{"data": [58.0, 65.0], "shape": [2]}'
                ```

                ```json
                {"data": [58.0, 64.0], "shape": [2]}
                ```
                """);

        Result result = check(doc.toString());

        assertThat(result.exitCode).as(result.output).isEqualTo(1);
        assertThat(result.output)
                .contains("ok   ")
                .contains("$[0].data[1]: expected 64.0, got 65.0")
                .contains("1 examples ran as shown, 0 skipped, 1 failed");
    }

    private record Result(int exitCode, String output) {}

    private static Result check(String... arguments) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("python3", CHECKER.toString()));
        command.addAll(List.of(arguments));
        Process process =
                new ProcessBuilder(command)
                        .directory(ROOT.toFile())
                        .redirectErrorStream(true)
                        .start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(process.waitFor(), output);
    }

    private static String quoted(String argument) {
        return '"' + argument.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
