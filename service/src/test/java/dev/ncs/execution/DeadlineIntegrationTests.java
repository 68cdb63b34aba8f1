package dev.ncs.execution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.http.HttpRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * The timeout parameter (microseconds): a request past its deadline is cancelled, answered 504, and
 * frees everything.
 */
class DeadlineIntegrationTests extends IntegrationTestSupport {

    private static final String SORT =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                    + "\"data\":[2,1]}]}";

    @Autowired NativeExecutor executor;

    @Test
    void aRunningKernelPastItsDeadlineIsCancelledAndTheWorkersAreFreeAgain() throws Exception {
        double before = metric(scrape(), "ncs_rejected_total{reason=\"deadline\"}");
        int n = 2048; // about 0.2 s of matmul on two cores: far beyond a 20 ms deadline
        byte[] matrix =
                ByteBuffer.allocate(n * n * 8)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putDouble(0, 1.0)
                        .array();
        // The product in binary: as JSON it would be refused before running
        // (ncs.limits.max-json-response-size).
        byte[] header =
                ("{\"parameters\":{\"timeout\":20000,\"binary_data_output\":true},\"inputs\":["
                                + "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":["
                                + n
                                + ","
                                + n
                                + "],\"parameters\":{\"binary_data_size\":"
                                + matrix.length
                                + "}},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":["
                                + n
                                + ","
                                + n
                                + "],"
                                + "\"parameters\":{\"binary_data_size\":"
                                + matrix.length
                                + "}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[header.length + 2 * matrix.length];
        System.arraycopy(header, 0, body, 0, header.length);

        Reply reply =
                send(
                        HttpRequest.newBuilder(api("/v2/models/matmul/infer"))
                                .header(
                                        "Inference-Header-Content-Length",
                                        Integer.toString(header.length))
                                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                                .build());

        assertThat(reply.status()).as(reply.text()).isEqualTo(504);
        assertThat(reply.error())
                .contains("deadline")
                .contains("20000 microseconds")
                .contains("cancelled");
        String metrics = scrape();
        assertThat(metric(metrics, "ncs_rejected_total{reason=\"deadline\"}"))
                .isEqualTo(before + 1);
        assertThat(
                        metric(
                                metrics,
                                "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"deadline_exceeded\"}"))
                .isGreaterThanOrEqualTo(1);
        assertThat(metric(metrics, "ncs_workers_busy")).isZero();
        assertThat(post("/v2/models/sort/infer", SORT).status()).isEqualTo(200);
    }

    @Test
    void aRequestStillQueuedAtItsDeadlineNeverRuns() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Future<?> first =
                executor.submit(() -> release.await(30, java.util.concurrent.TimeUnit.SECONDS));
        Future<?> second =
                executor.submit(() -> release.await(30, java.util.concurrent.TimeUnit.SECONDS));
        try {
            Reply reply =
                    post(
                            "/v2/models/sort/infer",
                            "{\"parameters\":{\"timeout\":50000},\"inputs\":[{\"name\":\"x\","
                                    + "\"datatype\":\"INT32\",\"shape\":[2],\"data\":[2,1]}]}");

            assertThat(reply.status()).isEqualTo(504);
            assertThat(reply.error()).contains("while waiting for a worker");
        } finally {
            release.countDown();
            first.get();
            second.get();
        }
        assertThat(post("/v2/models/sort/infer", SORT).status()).isEqualTo(200);
    }

    @Test
    void aMalformedTimeoutIs400() throws Exception {
        Reply reply =
                post(
                        "/v2/models/sort/infer",
                        "{\"parameters\":{\"timeout\":\"soon\"},\"inputs\":[{\"name\":\"x\","
                                + "\"datatype\":\"INT32\",\"shape\":[2],\"data\":[2,1]}]}");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("timeout").contains("microseconds");
    }

    /**
     * Timeouts too long for nanoseconds in a long (from 2^63 / 1000 microseconds, 292 years)
     * saturate.
     */
    @Test
    void aTimeoutBeyondWhatNanosecondsHoldMeansNoDeadline() throws Exception {
        for (String timeout :
                new String[] {"9223372036854776", "9300000000000000", "9223372036854775807"}) {
            Reply reply =
                    post(
                            "/v2/models/sort/infer",
                            "{\"parameters\":{\"timeout\":"
                                    + timeout
                                    + "},\"inputs\":[{"
                                    + "\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],\"data\":[2,1]}]}");

            assertThat(reply.status()).as(timeout + ": " + reply.text()).isEqualTo(200);
        }
    }
}
