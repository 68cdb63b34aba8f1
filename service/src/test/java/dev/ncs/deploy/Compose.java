package dev.ncs.deploy;

import dev.ncs.ExternalTools;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs docker-compose on the repository's docker-compose.yml, its variables taken only from the
 * caller.
 */
final class Compose {

    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path FILE = ROOT.resolve("docker-compose.yml");

    /** The variables docker-compose.yml reads; never inherited from this JVM's environment. */
    private static final List<String> VARIABLES =
            List.of(
                    "BUILD_IMAGE",
                    "RUNTIME_IMAGE",
                    "NCS_IMAGE",
                    "NCS_API_PORT",
                    "NCS_MANAGEMENT_PORT",
                    "NCS_PLUGINS",
                    "NCS_MEMORY",
                    "NCS_NATIVE_MEMORY_LIMIT");

    record Result(int exitCode, String out, String err) {}

    private Compose() {}

    /** Fails (in CI) or skips the calling test unless docker-compose runs. */
    static void require() throws InterruptedException {
        boolean available;
        try {
            available =
                    run(Map.of(), Duration.ofSeconds(30), List.of("docker-compose", "version"))
                                    .exitCode()
                            == 0;
        } catch (IOException notInstalled) {
            available = false;
        }
        ExternalTools.require(available, "docker-compose");
    }

    static Result compose(Map<String, String> env, Duration timeout, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("docker-compose", "-f", FILE.toString()));
        command.addAll(List.of(args));
        return run(env, timeout, command);
    }

    private static Result run(Map<String, String> env, Duration timeout, List<String> command)
            throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).directory(ROOT.toFile());
        VARIABLES.forEach(builder.environment()::remove);
        builder.environment().putAll(env);
        Process process = builder.start();
        CompletableFuture<String> out =
                CompletableFuture.supplyAsync(() -> read(process.getInputStream()));
        CompletableFuture<String> err =
                CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
        if (!process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(command + " did not finish within " + timeout);
        }
        return new Result(process.exitValue(), out.join(), err.join());
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
