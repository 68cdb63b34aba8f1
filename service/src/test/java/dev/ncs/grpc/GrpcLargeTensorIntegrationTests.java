package dev.ncs.grpc;

import static dev.ncs.grpc.GrpcIntegrationTests.tensor;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.ncs.IntegrationTestSupport;
import dev.ncs.NcsApplication;
import dev.ncs.kernel.References;
import inference.GRPCInferenceServiceGrpc;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelInferResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * 256 MiB tensors over gRPC to and from an NCS whose heap (128 MiB) is smaller than the tensor: the
 * request's raw tensor goes from the transport's (direct) buffers into native memory, the
 * response's from native memory to the transport, never whole onto the heap. The server runs in its
 * own JVM, so that the test's client (which builds the message on its own heap) does not count.
 */
class GrpcLargeTensorIntegrationTests {

    private static final String JACKSON2_ENDPOINT =
            "org.springframework.boot.actuate.autoconfigure.endpoint.jackson.Jackson2EndpointAutoConfiguration";

    private static Process server;
    private static Path log;
    private static int grpcPort;
    private static int managementPort;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void startSmallHeapServer() throws Exception {
        int port = freePort();
        managementPort = freePort();
        grpcPort = freePort();
        log = Files.createTempFile("ncs-grpc-small-heap-", ".log");
        List<String> command =
                List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        // grpc-java holds a message whole in the transport's direct buffers before
                        // it is parsed; they are
                        // capped by the direct memory limit, which defaults to the heap's size.
                        "-Xmx128m",
                        "-XX:MaxDirectMemorySize=1g",
                        "-XX:+ExitOnOutOfMemoryError",
                        "--enable-native-access=ALL-UNNAMED",
                        "-cp",
                        System.getProperty("java.class.path"),
                        NcsApplication.class.getName(),
                        "--server.port=" + port,
                        "--management.server.port=" + managementPort,
                        "--ncs.grpc.port=" + grpcPort,
                        "--server.address=127.0.0.1",
                        "--management.server.address=127.0.0.1",
                        "--ncs.grpc.address=127.0.0.1",
                        "--spring.autoconfigure.exclude=" + JACKSON2_ENDPOINT);
        server =
                new ProcessBuilder(command)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline && server.isAlive() && !ready()) {
            Thread.sleep(200);
        }
        assertThat(ready())
                .as("the small-heap server started; its log:\n%s", Files.readString(log))
                .isTrue();
    }

    @AfterAll
    static void stop() throws Exception {
        server.destroy();
        server.waitFor(30, TimeUnit.SECONDS);
        Files.deleteIfExists(log);
    }

    @Test
    void a256MiBTensorIsDescribedByAServerWithA128MiBHeap() throws Exception {
        int count = 32 << 20; // 32 Mi FP64 elements, 256 MiB
        double[] x = new double[count];
        ByteBuffer bytes = ByteBuffer.allocate(8 * count).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            x[i] = (i % 1009) - 504.25;
            bytes.putDouble(x[i]);
        }
        ModelInferRequest request =
                ModelInferRequest.newBuilder()
                        .setModelName("describe")
                        .addInputs(tensor("x", "FP64", count))
                        .addRawInputContents(ByteString.copyFrom(bytes.flip()))
                        .build();
        bytes = null;
        ManagedChannel channel =
                ManagedChannelBuilder.forAddress("127.0.0.1", grpcPort).usePlaintext().build();
        try {
            ModelInferResponse response =
                    GRPCInferenceServiceGrpc.newBlockingStub(channel)
                            .withDeadlineAfter(120, TimeUnit.SECONDS)
                            .modelInfer(request);

            double[] expected = References.describe(x);
            List<String> names = response.getOutputsList().stream().map(o -> o.getName()).toList();
            double mean =
                    GrpcIntegrationTests.fp64(response.getRawOutputContents(names.indexOf("mean")))[
                            0];
            double max =
                    GrpcIntegrationTests.fp64(response.getRawOutputContents(names.indexOf("max")))[
                            0];
            assertThat(mean).isCloseTo(expected[1], org.assertj.core.data.Offset.offset(1e-9));
            assertThat(max).isEqualTo(expected[4]);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        assertThat(server.isAlive())
                .as("the server survived; its log:\n%s", Files.readString(log))
                .isTrue();
        assertNativeMemoryIsBackToZero();
    }

    @Test
    void a256MiBOutputIsSentFromNativeMemoryByAServerWithA128MiBHeap() throws Exception {
        int count = 32 << 20;
        ByteBuffer bytes = ByteBuffer.allocate(8 * count).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            bytes.putDouble(i * 0.5);
        }
        ByteString tensor = ByteString.copyFrom(bytes.flip());
        ManagedChannel channel =
                ManagedChannelBuilder.forAddress("127.0.0.1", grpcPort)
                        .usePlaintext()
                        .maxInboundMessageSize(Integer.MAX_VALUE)
                        .build();
        try {
            ModelInferResponse response =
                    GRPCInferenceServiceGrpc.newBlockingStub(channel)
                            .withDeadlineAfter(120, TimeUnit.SECONDS)
                            .modelInfer(
                                    ModelInferRequest.newBuilder()
                                            .setModelName("identity")
                                            .addInputs(tensor("x", "FP64", count))
                                            .addRawInputContents(tensor)
                                            .build());

            assertThat(response.getOutputs(0).getShapeList()).containsExactly((long) count);
            assertThat(response.getRawOutputContents(0)).isEqualTo(tensor);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        assertThat(server.isAlive())
                .as("the server survived; its log:\n%s", Files.readString(log))
                .isTrue();
        assertNativeMemoryIsBackToZero();
    }

    private void assertNativeMemoryIsBackToZero() throws Exception {
        String metrics = scrape();
        assertThat(IntegrationTestSupport.metric(metrics, "ncs_native_buffers_live")).isZero();
        assertThat(IntegrationTestSupport.metric(metrics, "ncs_native_memory_live_bytes")).isZero();
    }

    private String scrape() throws IOException, InterruptedException {
        return http.send(
                        HttpRequest.newBuilder(
                                        URI.create(
                                                "http://127.0.0.1:"
                                                        + managementPort
                                                        + "/actuator/prometheus"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
    }

    private static boolean ready() {
        try {
            return HttpClient.newHttpClient()
                            .send(
                                    HttpRequest.newBuilder(
                                                    URI.create(
                                                            "http://127.0.0.1:"
                                                                    + managementPort
                                                                    + "/actuator/health/readiness"))
                                            .timeout(Duration.ofSeconds(2))
                                            .build(),
                                    HttpResponse.BodyHandlers.discarding())
                            .statusCode()
                    == 200;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
