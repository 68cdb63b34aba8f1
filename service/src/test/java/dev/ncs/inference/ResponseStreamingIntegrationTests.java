package dev.ncs.inference;

import static dev.ncs.inference.BinaryRequests.body;
import static dev.ncs.inference.BinaryRequests.fp64;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.kernel.References;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * Responses are written as they are produced: a JSON header of megabytes ahead of binary outputs is
 * never held whole, and outputs too large to send as JSON are refused before the kernel runs.
 */
class ResponseStreamingIntegrationTests extends IntegrationTestSupport {

    private static final String HISTOGRAM_SUCCESS =
            "ncs_kernel_seconds_count{kernel=\"histogram\",outcome=\"success\"}";
    private static final List<MemoryPoolMXBean> HEAP =
            ManagementFactory.getMemoryPoolMXBeans().stream()
                    .filter(pool -> pool.getType() == MemoryType.HEAP)
                    .toList();

    @Test
    void aHugeHistogramAskedForAsJsonIsRefusedAtOnceWithoutTouchingTheHeap() throws Exception {
        // 100 million bins: the call (3.2 GB with its workspace) fits the native budget, but the
        // counts as JSON
        // could take 2.1 GB of text. It used to be built whole on the heap (a 500 after seconds, or
        // an OutOfMemoryError).
        String request =
                "{\"parameters\":{\"bins\":100000000,\"lo\":0,\"hi\":1},\"inputs\":[{\"name\":\"x\","
                        + "\"datatype\":\"FP64\",\"shape\":[3],\"parameters\":{\"binary_data_size\":24}}],"
                        + "\"outputs\":[{\"name\":\"counts\"},{\"name\":\"edges\",\"parameters\":{\"binary_data\":true}}]}";
        double ranBefore = total(scrape(), HISTOGRAM_SUCCESS);
        long heapBefore = heapPeakReset();
        long start = System.nanoTime();

        BinaryReply reply =
                sendBytes(
                        request("/v2/models/histogram/infer", body(request, fp64(0.1, 0.5, 0.9)))
                                .build());

        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(reply.status()).as(text(reply)).isEqualTo(413);
        assertThat(reply.json().path("error").asString())
                .contains("'counts' (INT64 [100000000]) up to 2100000000 bytes")
                .contains("ncs.limits.max-json-response-size) is 67108864 bytes")
                .contains("\"binary_data\": true")
                .doesNotContain("'edges'");
        assertThat(millis).as("refused before the kernel ran").isLessThan(3_000);
        assertThat(heapPeak() - heapBefore).as("heap taken by the refusal").isLessThan(256L << 20);
        assertThat(total(scrape(), HISTOGRAM_SUCCESS))
                .as("the kernel never ran")
                .isEqualTo(ranBefore);
    }

    @Test
    void theSameHistogramInBinaryIsRefusedByTheNativeBudgetWhenItCanNeverFit() throws Exception {
        String request =
                "{\"parameters\":{\"bins\":1000000000,\"lo\":0,\"hi\":1,\"binary_data_output\":true},"
                        + "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1],\"data\":[0.5]}]}";

        Reply reply = post("/v2/models/histogram/infer", request);

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(reply.error())
                .contains("more than the whole budget")
                .contains("ncs.native.memory-limit");
    }

    @Test
    void aJsonHeaderOfMegabytesIsFollowedByTheBinaryOutputsItDescribes() throws Exception {
        // 300,000 counts as JSON (a header of about 1 MB, well past the one-pass buffer) and the
        // edges in binary.
        int bins = 300_000;
        double[] x = new Random(13).doubles(100_000, -1, 1).toArray();
        BinaryRequests.Body body =
                body(
                        "{\"parameters\":{\"bins\":"
                                + bins
                                + ",\"lo\":-1,\"hi\":1},\"inputs\":["
                                + "{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                                + x.length
                                + "],\"parameters\":{\"binary_data_size\":"
                                + 8 * x.length
                                + "}}],\"outputs\":[{\"name\":\"counts\"},{\"name\":\"edges\",\"parameters\":"
                                + "{\"binary_data\":true}}]}",
                        fp64(x));

        BinaryReply reply = sendBytes(request("/v2/models/histogram/infer", body).build());

        assertThat(reply.status()).as(text(reply)).isEqualTo(200);
        int headerLength = reply.headerLength();
        assertThat(headerLength).isGreaterThan(InferenceResponseWriter.HEADER_BUFFER);
        assertThat(reply.body().length).isEqualTo(headerLength + 8 * (bins + 1));
        JsonNode outputs = reply.json().path("outputs");
        assertThat(Tensors.longs(outputs.get(0)))
                .containsExactly(References.histogram(x, bins, -1, 1));
        assertThat(outputs.get(1).path("parameters").path("binary_data_size").asLong())
                .isEqualTo(8L * (bins + 1));
        double[] edges = fp64(reply.body(), headerLength, bins + 1);
        for (int i = 0; i <= bins; i += 997) {
            assertThat(edges[i])
                    .isCloseTo(-1 + 2.0 * i / bins, org.assertj.core.data.Offset.offset(1e-12));
        }
        assertThat(edges[bins]).isEqualTo(1.0);
    }

    private HttpRequest.Builder request(String path, BinaryRequests.Body body) {
        return HttpRequest.newBuilder(api(path))
                .header(InferenceService.BINARY_HEADER, Integer.toString(body.headerLength()))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()));
    }

    private static String text(BinaryReply reply) {
        return new String(
                reply.body(), 0, Math.min(reply.body().length, 2000), StandardCharsets.UTF_8);
    }

    /** Resets the heap pools' peaks and returns the heap in use now. */
    private static long heapPeakReset() {
        System.gc();
        HEAP.forEach(MemoryPoolMXBean::resetPeakUsage);
        return HEAP.stream().mapToLong(pool -> pool.getUsage().getUsed()).sum();
    }

    /** The sum of the heap pools' peaks since the reset: at least the heap's own peak. */
    private static long heapPeak() {
        return HEAP.stream().mapToLong(pool -> pool.getPeakUsage().getUsed()).sum();
    }
}
