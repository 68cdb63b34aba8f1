package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.NcsApplication;
import java.io.IOException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM with a request in flight, on a real process: readiness goes down, then new connections
 * are refused, the request in flight still gets its (correct) answer, native memory is back to zero
 * at the end, and the process exits.
 */
class GracefulShutdownIntegrationTests {

    private static final int N = 4000; // one FP64 matmul of about a second or more on two cores

    private static final String JACKSON2_ENDPOINT =
            "org.springframework.boot.actuate.autoconfigure.endpoint.jackson.Jackson2EndpointAutoConfiguration";

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void sigtermDrainsTheRequestInFlightAndExitsWithNoNativeMemoryLive(@TempDir Path dir)
            throws Exception {
        int port = freePort();
        int management = freePort();
        Path log = dir.resolve("ncs.log");
        Process process =
                new ProcessBuilder(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "--enable-native-access=ALL-UNNAMED",
                                "-cp",
                                System.getProperty("java.class.path"),
                                NcsApplication.class.getName(),
                                "--server.port=" + port,
                                "--management.server.port=" + management,
                                "--server.address=127.0.0.1",
                                "--management.server.address=127.0.0.1",
                                "--ncs.workers.threads=2",
                                // the test class path carries Triton's client, which bundles
                                // Jackson 2 (see IntegrationTestSupport)
                                "--spring.autoconfigure.exclude=" + JACKSON2_ENDPOINT)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
        try {
            awaitStatus(
                    process,
                    management,
                    "/actuator/health/readiness",
                    200,
                    Duration.ofSeconds(90),
                    log);

            double[] b = new double[N * N];
            Random random = new Random(7);
            for (int i = 0; i < b.length; i++) {
                b[i] = random.nextGaussian();
            }
            CompletableFuture<HttpResponse<byte[]>> inFlight =
                    http.sendAsync(identityTimes(port, b), HttpResponse.BodyHandlers.ofByteArray());
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!scrape(management).contains("ncs_workers_busy 2.0") && !inFlight.isDone()) {
                assertThat(System.nanoTime()).as("the kernel starts").isLessThan(end);
                Thread.sleep(5);
            }
            assertThat(inFlight).as("still in flight when SIGTERM is sent").isNotDone();

            process.destroy(); // SIGTERM

            awaitDown(management, "/actuator/health/readiness");
            // Readiness goes down first (so a load balancer stops sending), then Tomcat stops
            // accepting.
            awaitRefused(port);
            assertThat(inFlight)
                    .as("readiness went down while the request was still running")
                    .isNotDone();

            HttpResponse<byte[]> response = inFlight.get(60, TimeUnit.SECONDS);
            assertThat(response.statusCode())
                    .as(new String(response.body(), StandardCharsets.UTF_8))
                    .isEqualTo(200);
            ByteBuffer c = ByteBuffer.wrap(response.body()).order(ByteOrder.LITTLE_ENDIAN);
            int headerLength =
                    Integer.parseInt(
                            response.headers()
                                    .firstValue("Inference-Header-Content-Length")
                                    .orElseThrow());
            for (int i = 0; i < b.length; i += 9973) {
                assertThat(c.getDouble(headerLength + 8 * i)).isEqualTo(b[i]);
            }
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("the process exits").isTrue();
            assertThat(process.exitValue()).isIn(0, 143);
            assertThat(Files.readString(log))
                    .contains("native memory at shutdown: 0 buffers live, 0 bytes");
        } finally {
            process.destroyForcibly();
        }
    }

    /** The identity times b, with binary input and output: c must equal b exactly. */
    private static HttpRequest identityTimes(int port, double[] b) {
        long bytes = 8L * N * N;
        byte[] header =
                ("{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":["
                                + N
                                + ","
                                + N
                                + "],"
                                + "\"parameters\":{\"binary_data_size\":"
                                + bytes
                                + "}},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":["
                                + N
                                + ","
                                + N
                                + "],\"parameters\":{\"binary_data_size\":"
                                + bytes
                                + "}}],"
                                + "\"parameters\":{\"binary_data_output\":true}}")
                        .getBytes(StandardCharsets.UTF_8);
        ByteBuffer body =
                ByteBuffer.allocate(header.length + (int) (2 * bytes))
                        .order(ByteOrder.LITTLE_ENDIAN);
        body.put(header);
        int a = body.position();
        for (int i = 0; i < N; i++) {
            body.putDouble(a + 8 * (i * N + i), 1.0);
        }
        body.position(a + (int) bytes);
        for (double value : b) {
            body.putDouble(value);
        }
        return HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/v2/models/matmul/infer"))
                .header("Inference-Header-Content-Length", Integer.toString(header.length))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.array()))
                .build();
    }

    private void awaitRefused(int port) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!refused(port)) {
            assertThat(System.nanoTime())
                    .as("new requests refused within 10 s of SIGTERM")
                    .isLessThan(end);
            Thread.sleep(5);
        }
    }

    private boolean refused(int port) throws InterruptedException {
        try {
            HttpResponse<String> response =
                    http.send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2"))
                                    .timeout(Duration.ofSeconds(5))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 503;
        } catch (IOException e) {
            return true;
        }
    }

    private void awaitDown(int port, String path) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < end) {
            try {
                if (get(port, path).statusCode() != 200) {
                    return;
                }
            } catch (ConnectException e) {
                return;
            }
            Thread.sleep(5);
        }
        throw new AssertionError(path + " still answers 200 ten seconds after SIGTERM");
    }

    private void awaitStatus(
            Process process, int port, String path, int status, Duration within, Path log)
            throws Exception {
        long end = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < end && process.isAlive()) {
            try {
                if (get(port, path).statusCode() == status) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError(
                path + " did not answer " + status + "; log:\n" + Files.readString(log));
    }

    private HttpResponse<String> get(int port, String path)
            throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .timeout(Duration.ofSeconds(5))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private String scrape(int management) throws IOException, InterruptedException {
        return get(management, "/actuator/prometheus").body();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
