package dev.ncs.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.nativelib.NativeProperties;
import dev.ncs.nativelib.NativeRuntime;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * ncs.native.buffer-cache: the memory of a freed large buffer serves the next buffer of its size,
 * is given back once idle, and never makes a request fail for want of budget.
 */
class BufferCacheIntegrationTests extends IntegrationTestSupport {

    private static final long MIB = 1024 * 1024;

    @Autowired NativeRuntime runtime;

    @Autowired NativeProperties configured;

    @Test
    void aSecondRequestOfTheSameSizeReusesTheFirstOnesMemory() throws Exception {
        int n = 1_000_000; // 8 MB of input
        double reusesBefore = metric(scrape(), "ncs_native_buffer_reuses_total");

        assertThat(meanOfDescribe(n)).isEqualTo((n - 1) / 2.0);
        String afterFirst = scrape();
        assertThat(metric(afterFirst, "ncs_native_memory_cached_bytes"))
                .isGreaterThanOrEqualTo(8 * MIB);
        assertThat(meanOfDescribe(n)).isEqualTo((n - 1) / 2.0);

        String afterSecond = scrape();
        assertThat(metric(afterSecond, "ncs_native_buffer_reuses_total"))
                .isGreaterThan(reusesBefore);
        assertThat(metric(afterSecond, "ncs_native_memory_live_bytes")).isZero();
        assertThat(metric(afterSecond, "ncs_native_memory_cached_bytes"))
                .isGreaterThanOrEqualTo(8 * MIB);
    }

    @Test
    void cachedMemoryGoesBackOnceIdle() throws Exception {
        var settings =
                new NativeProperties(
                        configured.memoryLimit(),
                        null,
                        new NativeProperties.BufferCache(
                                configured.bufferCache().size(), Duration.ofMillis(200)));
        BufferCacheTrimmer trimmer = new BufferCacheTrimmer(runtime.memory(), settings);
        try {
            assertThat(meanOfDescribe(1_000_000)).isEqualTo(499_999.5);
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            double cached;
            do {
                Thread.sleep(50);
                cached = metric(scrape(), "ncs_native_memory_cached_bytes");
            } while (cached != 0 && System.nanoTime() < deadline);
            assertThat(cached)
                    .as("cached bytes 5 s after the last request, idle time 200 ms")
                    .isZero();
        } finally {
            trimmer.destroy();
        }
    }

    /**
     * 24 MiB budget: 8 MiB cached from the first request; 20 MB more live would pass it, so the
     * cached block is given back and the request runs. Afterwards its own block (20 MiB) is what
     * the cache holds.
     */
    @Test
    void theCacheGivesWayToARequestThatNeedsTheBudget() throws Exception {
        runtime.memory().setMemoryLimit(24 * MIB);
        assertThat(meanOfDescribe(1_000_000)).isEqualTo(499_999.5);
        assertThat(metric(scrape(), "ncs_native_memory_cached_bytes")).isEqualTo(8 * MIB);

        assertThat(meanOfDescribe(2_500_000)).isEqualTo(1_249_999.5);

        assertThat(metric(scrape(), "ncs_native_memory_cached_bytes")).isEqualTo(20 * MIB);
    }

    @Test
    void theTrimmerChecksAtMostEverySecondAndAtLeastEvery50Milliseconds() {
        assertThat(BufferCacheTrimmer.between(Duration.ofSeconds(30)))
                .isEqualTo(Duration.ofSeconds(1));
        assertThat(BufferCacheTrimmer.between(Duration.ofMillis(600)))
                .isEqualTo(Duration.ofMillis(300));
        assertThat(BufferCacheTrimmer.between(Duration.ZERO)).isEqualTo(Duration.ofMillis(50));
    }

    /** describe of 0, 1, ..., n-1 sent as binary FP64 (one buffer of 8n bytes); its mean. */
    private double meanOfDescribe(int n) throws Exception {
        ByteBuffer blob = ByteBuffer.allocate(n * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            blob.putDouble(i);
        }
        byte[] header =
                ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                                + n
                                + "],\"parameters\":{\"binary_data_size\":"
                                + n * 8
                                + "}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(header);
        body.writeBytes(blob.array());
        Reply reply =
                send(
                        HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                                .header(
                                        "Inference-Header-Content-Length",
                                        Integer.toString(header.length))
                                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
                                .build());
        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        for (var output : reply.json().path("outputs")) {
            if (output.path("name").asString().equals("mean")) {
                return output.path("data").get(0).asDouble();
            }
        }
        throw new AssertionError("no mean in " + reply.text());
    }
}
