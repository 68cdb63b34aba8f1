package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.execution.NativeExecutor;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.DoublePredicate;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * A client that hangs up has its queued or running kernel cancelled, its memory freed and the
 * worker freed.
 */
class ClientDisconnectIntegrationTests extends IntegrationTestSupport {

    private static final String DISCONNECTED = "ncs_rejected_total{reason=\"client_disconnected\"}";
    private static final String MATMUL_DISCONNECTED =
            "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"client_disconnected\"}";
    private static final String MATMUL_SUCCESS =
            "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"success\"}";

    /**
     * Every describe that started, whatever its outcome (the context may be shared with other
     * tests).
     */
    private static final String DESCRIBE_RUNS = "ncs_kernel_seconds_count{kernel=\"describe\"}";

    @Autowired NativeExecutor executor;

    @Test
    void aRunningKernelIsCancelledWhenItsClientHangsUp() throws Exception {
        String start = scrape();
        double before = total(start, DISCONNECTED);
        double cancelledBefore = total(start, MATMUL_DISCONNECTED);
        double successesBefore = total(start, MATMUL_SUCCESS);
        int n = 3000; // seconds of FP64 matmul on this machine's two cores
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            // The product in binary: as JSON it would be refused before running
            // (ncs.limits.max-json-response-size).
            sendMatmul(
                    socket.getOutputStream(), n, "\"parameters\":{\"binary_data_output\":true},");
            awaitMetric("ncs_workers_busy", busy -> busy > 0);
        }
        long hungUp = System.nanoTime();

        awaitMetric(DISCONNECTED, count -> count == before + 1);
        awaitMetric("ncs_workers_busy", busy -> busy == 0);
        long freedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - hungUp);
        String metrics = scrape();
        assertThat(total(metrics, MATMUL_DISCONNECTED)).isEqualTo(cancelledBefore + 1);
        assertThat(total(metrics, MATMUL_SUCCESS))
                .as("the matmul did not run to its end")
                .isEqualTo(successesBefore);
        assertThat(freedMillis).as("workers free again after the hang-up").isLessThan(2_000);
        assertThat(
                        post(
                                        "/v2/models/sort/infer",
                                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                                                + "\"data\":[2,1]}]}")
                                .status())
                .isEqualTo(200);
    }

    /**
     * A client that shuts down its sending side after a complete request still reads: its
     * connection shows CLOSE_WAIT like a hang-up, but it takes the probe (a 103) without a reset,
     * so its kernel runs on and it gets the whole answer.
     */
    @Test
    void aClientThatHalfClosesAfterItsRequestGetsItsAnswer() throws Exception {
        String start = scrape();
        double disconnectedBefore = total(start, DISCONNECTED);
        double successesBefore = total(start, MATMUL_SUCCESS);
        int n = 2500; // several check intervals of FP64 matmul on two cores
        long matrixBytes = 8L * n * n;
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(60_000);
            sendMatmul(
                    socket.getOutputStream(),
                    n,
                    "\"outputs\":[{\"name\":\"c\",\"parameters\":{\"binary_data\":true}}],");
            awaitMetric("ncs_workers_busy", busy -> busy > 0);
            long halfClosed = System.nanoTime();
            socket.shutdownOutput();

            byte[] reply = socket.getInputStream().readAllBytes();
            String head =
                    new String(reply, 0, Math.min(reply.length, 400), StandardCharsets.ISO_8859_1);

            assertThat(head)
                    .as("the probe, then the answer")
                    .startsWith("HTTP/1.1 103 ")
                    .contains("HTTP/1.1 200 ");
            assertThat(reply.length)
                    .as("the whole binary output came")
                    .isGreaterThan((int) matrixBytes);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - halfClosed))
                    .isGreaterThan(100);
        }
        String metrics = scrape();
        assertThat(total(metrics, MATMUL_SUCCESS)).isEqualTo(successesBefore + 1);
        assertThat(total(metrics, DISCONNECTED)).isEqualTo(disconnectedBefore);
    }

    /**
     * A request line, headers and an n×n FP64 matmul body of zeros in binary; {@code extra} goes
     * into its JSON.
     */
    private static void sendMatmul(OutputStream out, int n, String extra)
            throws java.io.IOException {
        long matrixBytes = 8L * n * n;
        byte[] header =
                ("{"
                                + extra
                                + "\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":["
                                + n
                                + ","
                                + n
                                + "],\"parameters\":{\"binary_data_size\":"
                                + matrixBytes
                                + "}},{\"name\":\"b\",\"datatype\":\"FP64\","
                                + "\"shape\":["
                                + n
                                + ","
                                + n
                                + "],\"parameters\":{\"binary_data_size\":"
                                + matrixBytes
                                + "}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        out.write(
                ("POST /v2/models/matmul/infer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                + "Inference-Header-Content-Length: "
                                + header.length
                                + "\r\nContent-Length: "
                                + (header.length + 2 * matrixBytes)
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
        out.write(header);
        byte[] zeros = new byte[1 << 20];
        for (long sent = 0; sent < 2 * matrixBytes; sent += zeros.length) {
            out.write(zeros, 0, (int) Math.min(zeros.length, 2 * matrixBytes - sent));
        }
        out.flush();
    }

    @Test
    void aQueuedRequestWhoseClientHangsUpNeverRuns() throws Exception {
        String start = scrape();
        double before = total(start, DISCONNECTED);
        double describesBefore = total(start, DESCRIBE_RUNS);
        CountDownLatch release = new CountDownLatch(1);
        Future<?> first = executor.submit(() -> release.await(30, TimeUnit.SECONDS));
        Future<?> second = executor.submit(() -> release.await(30, TimeUnit.SECONDS));
        try {
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
                byte[] body =
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3],\"data\":[3,1,2]}]}"
                                .getBytes(StandardCharsets.UTF_8);
                OutputStream out = socket.getOutputStream();
                out.write(
                        ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                                        + "\r\nContent-Length: "
                                        + body.length
                                        + "\r\n\r\n")
                                .getBytes(StandardCharsets.ISO_8859_1));
                out.write(body);
                out.flush();
                awaitMetric("ncs_queue_depth", depth -> depth > 0);
            }
            awaitMetric(DISCONNECTED, count -> count == before + 1);
            assertThat(metric(scrape(), "ncs_native_buffers_live")).isZero();
        } finally {
            release.countDown();
            first.get();
            second.get();
        }
        assertThat(total(scrape(), DESCRIBE_RUNS))
                .as("the queued describe never ran")
                .isEqualTo(describesBefore);
    }

    private void awaitMetric(String series, DoublePredicate condition) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        double value = Double.NaN;
        while (System.nanoTime() < end) {
            value = metric(scrape(), series);
            if (condition.test(value)) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError(
                series
                        + " is still "
                        + value
                        + " after 20 s; "
                        + scrape().lines()
                                .filter(line ->
                                        line.startsWith("ncs_kernel_seconds_count")
                                                || line.startsWith("ncs_rejected"))
                                .toList());
    }
}
