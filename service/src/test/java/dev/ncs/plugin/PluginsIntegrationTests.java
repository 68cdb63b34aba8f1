package dev.ncs.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.execution.NativeExecutor;
import dev.ncs.inference.TestTensors;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeRuntime;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;

/** The example plugins built by the normal build, loaded at start-up and served like built-ins. */
class PluginsIntegrationTests extends IntegrationTestSupport {

    static final Path PLUGINS =
            Path.of("..", "native", "target", "plugins").toAbsolutePath().normalize();

    @DynamicPropertySource
    static void plugins(DynamicPropertyRegistry registry) {
        registry.add("ncs.plugins.directory", PLUGINS::toString);
    }

    @Autowired NativeRuntime runtime;

    @Autowired NativeExecutor executor;

    @Test
    void theExamplesAreListedAndServed() throws Exception {
        assertThat(get("/v2/repository/index").json().findValuesAsString("name"))
                .contains("scale", "legacy_work", "leaky", "matmul");

        Reply scaled =
                post(
                        "/v2/models/scale/infer",
                        "{\"parameters\":{\"alpha\":2.5},\"inputs\":["
                                + TestTensors.fp64("x", new long[] {2, 2}, 1, -2, 0.5, 4)
                                + "]}");

        assertThat(scaled.status()).as(scaled.text()).isEqualTo(200);
        assertThat(TestTensors.doubles(TestTensors.output(scaled.json(), "y")))
                .containsExactly(2.5, -5, 1.25, 10);
    }

    @Test
    void everyCallOfLeakyIsCountedAsAKernelLeakAndReclaimed() throws Exception {
        String series = "ncs_leaks_total{kernel=\"leaky\",source=\"kernel\"}";
        double before = metric(scrape(), series);
        for (int i = 0; i < 3; i++) {
            Reply reply =
                    post(
                            "/v2/models/leaky/infer",
                            "{\"inputs\":["
                                    + TestTensors.fp64("x", new long[] {3}, 1, 2, 3)
                                    + "]}");
            assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        }
        assertThat(metric(scrape(), series)).isEqualTo(before + 3);
        // The shared fixture then checks that live buffers are back to 0: the leaks were reclaimed.
    }

    @Test
    void theLegacyLibrarysLockIsTimed() throws Exception {
        for (boolean release : new boolean[] {false, true}) {
            Reply reply =
                    post(
                            "/v2/models/legacy_work/infer",
                            "{\"parameters\":{\"iterations\":1000,\"release_lock\":"
                                    + release
                                    + "},\"inputs\":["
                                    + TestTensors.fp64("x", new long[] {4}, 0.1, 0.2, 0.3, 0.4)
                                    + "]}");
            assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        }
        String metrics = scrape();
        assertThat(metric(metrics, "ncs_library_lock_wait_seconds_count{library=\"legacy\"}"))
                .isGreaterThanOrEqualTo(2);
        assertThat(metric(metrics, "ncs_library_lock_held_seconds_sum{library=\"legacy\"}"))
                .isPositive();
        assertThat(metric(metrics, "ncs_library_lock_wait_seconds_count{library=\"builtin\"}"))
                .isZero();
    }

    @Test
    void theSnapshotEndpointShowsBuffersHeldByARunningRequestAndTheirRelease() throws Exception {
        long id = management("/actuator/nativememory").path("id").asLong();
        try (NativeBuffer held = runtime.memory().allocate(1 << 20, "snapshot-test")) {
            JsonNode diff = management("/actuator/nativememory/" + id);
            assertThat(diff.path("groups").toString())
                    .contains("\"owner\":\"java:snapshot-test\",\"count\":1,\"bytes\":1048576");
        }
        CountDownLatch release = new CountDownLatch(1);
        Future<?> first = executor.submit(() -> release.await(30, TimeUnit.SECONDS));
        Future<?> second = executor.submit(() -> release.await(30, TimeUnit.SECONDS));
        // A binary input streams into native memory before the request queues (a JSON one is copied
        // by the
        // worker that takes the request up, so a queued JSON request holds no native memory).
        byte[] header =
                ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3],"
                                + "\"parameters\":{\"binary_data_size\":24}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        ByteBuffer body = ByteBuffer.allocate(header.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        body.put(header).putDouble(3).putDouble(1).putDouble(2);
        CompletableFuture<HttpResponse<String>> request =
                HttpClient.newHttpClient()
                        .sendAsync(
                                HttpRequest.newBuilder(api("/v2/models/sort/infer"))
                                        .header(
                                                "Inference-Header-Content-Length",
                                                Integer.toString(header.length))
                                        .POST(HttpRequest.BodyPublishers.ofByteArray(body.array()))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
        try {
            JsonNode during = null;
            for (int i = 0;
                    i < 200 && (during == null || !during.toString().contains("java:sort"));
                    i++) {
                Thread.sleep(10);
                during = management("/actuator/nativememory/" + id);
            }
            assertThat(during.toString())
                    .contains("\"owner\":\"java:sort\",\"count\":1,\"bytes\":24");
        } finally {
            release.countDown();
            first.get();
            second.get();
        }
        assertThat(request.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(management("/actuator/nativememory/" + id).path("groups").toString())
                .doesNotContain("java:sort");
    }

    private JsonNode management(String path) throws Exception {
        HttpResponse<String> response =
                HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(
                                                URI.create(
                                                        "http://127.0.0.1:"
                                                                + managementPort
                                                                + path))
                                        .GET()
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }
}
