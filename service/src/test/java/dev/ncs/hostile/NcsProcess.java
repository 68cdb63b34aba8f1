package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.NcsApplication;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NCS as a separate JVM process, started from the test's own class path with a configuration's JVM
 * options, on free ports of 127.0.0.1. One process per configuration is shared by every hostile
 * case class (starting one takes seconds); it is started again if a case killed it, and destroyed
 * when the test JVM exits.
 */
final class NcsProcess {

    private static final String JACKSON2_ENDPOINT =
            "org.springframework.boot.actuate.autoconfigure.endpoint.jackson.Jackson2EndpointAutoConfiguration";
    private static final Map<Configuration, NcsProcess> RUNNING =
            new EnumMap<>(Configuration.class);

    private final Process process;
    private final Path log;
    final int port;
    final int managementPort;
    final int grpcPort;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private NcsProcess(Configuration configuration) throws IOException, InterruptedException {
        port = freePort();
        managementPort = freePort();
        grpcPort = freePort();
        log =
                Files.createTempFile(
                        "ncs-hostile-" + configuration.name().toLowerCase() + "-", ".log");
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(configuration.jvmOptions);
        command.addAll(
                List.of(
                        "--enable-native-access=ALL-UNNAMED",
                        "-cp",
                        System.getProperty("java.class.path"),
                        NcsApplication.class.getName(),
                        "--server.port=" + port,
                        "--management.server.port=" + managementPort,
                        "--server.address=127.0.0.1",
                        "--management.server.address=127.0.0.1",
                        "--ncs.grpc.port=" + grpcPort,
                        "--ncs.grpc.address=127.0.0.1",
                        // the test class path carries Triton's client, which bundles Jackson 2 (see
                        // IntegrationTestSupport)
                        "--spring.autoconfigure.exclude=" + JACKSON2_ENDPOINT));
        process =
                new ProcessBuilder(command)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        awaitReady(Duration.ofSeconds(90));
    }

    /** The running process of this configuration, started if there is none (or it died). */
    static synchronized NcsProcess of(Configuration configuration)
            throws IOException, InterruptedException {
        NcsProcess running = RUNNING.get(configuration);
        if (running == null || !running.process.isAlive()) {
            running = new NcsProcess(configuration);
            RUNNING.put(configuration, running);
        }
        return running;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** /actuator/prometheus as scraped. */
    String scrape() throws IOException, InterruptedException {
        HttpResponse<String> response =
                http.send(
                        HttpRequest.newBuilder(
                                        URI.create(
                                                "http://127.0.0.1:"
                                                        + managementPort
                                                        + "/actuator/prometheus"))
                                .timeout(Duration.ofSeconds(5))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        return response.body();
    }

    /**
     * The sum of every sample of a series given as its name and (some of) its labels, e.g. {@code
     * a{b="c"}}.
     */
    static double total(String scraped, String series) {
        String name = series.contains("{") ? series.substring(0, series.indexOf('{')) : series;
        String[] labels =
                series.contains("{")
                        ? series.substring(series.indexOf('{') + 1, series.length() - 1).split(",")
                        : new String[0];
        Matcher m =
                Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*\\})? (\\S+)$")
                        .matcher(scraped);
        double sum = 0;
        while (m.find()) {
            String found = m.group(1) == null ? "" : m.group(1);
            boolean all = true;
            for (String label : labels) {
                all &= found.contains(label);
            }
            if (all) {
                sum += Double.parseDouble(m.group(2));
            }
        }
        return sum;
    }

    /** Heap in use now, garbage included. */
    long heapUsed() throws IOException, InterruptedException {
        return (long) total(scrape(), "jvm_memory_used_bytes{area=\"heap\"}");
    }

    /** The maximum heap (the pools that have a maximum). */
    long heapMax() throws IOException, InterruptedException {
        return Pattern.compile("(?m)^jvm_memory_max_bytes\\{[^}]*area=\"heap\"[^}]*\\} (\\S+)$")
                .matcher(scrape())
                .results()
                .mapToLong(m -> (long) Double.parseDouble(m.group(1)))
                .filter(v -> v > 0)
                .sum();
    }

    /** Heap in use right after a full collection (through jcmd): what the process really holds. */
    long liveHeap() throws IOException, InterruptedException {
        Process jcmd =
                new ProcessBuilder(
                                Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                                Long.toString(process.pid()),
                                "GC.run")
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start();
        assertThat(jcmd.waitFor(30, TimeUnit.SECONDS)).as("jcmd GC.run finishes").isTrue();
        return heapUsed();
    }

    private void awaitReady(Duration within) throws IOException, InterruptedException {
        long end = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < end && process.isAlive()) {
            try {
                // the API says ready before the management server (the metrics the cases read) has
                // started
                if (status(port, "/v2/health/ready") == 200
                        && status(managementPort, "/actuator/prometheus") == 200) {
                    warmUp();
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        process.destroyForcibly();
        throw new AssertionError("NCS did not become ready; log:\n" + logTail());
    }

    /**
     * A few real requests before any case, so the probe's first second measures the attack, not a
     * cold request path (class loading and the first compilations take longer than the probe's
     * second here).
     */
    private void warmUp() {
        for (int i = 0; i < 50; i++) {
            String failure = Probe.ask(port);
            if (failure != null && i == 49) {
                throw new AssertionError(
                        "NCS answers no real request: " + failure + "; log:\n" + logTail());
            }
        }
    }

    private int status(int onPort, String path) throws IOException, InterruptedException {
        return http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + onPort + path))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
