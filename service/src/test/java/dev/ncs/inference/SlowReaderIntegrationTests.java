package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;
import tools.jackson.databind.JsonNode;

/**
 * A client that does not take its response at the minimum rate has it abandoned: the connection
 * closed, the outputs' native memory freed, the abandonment counted, while other clients are
 * served. The grace and the rate are set so the cases play out in seconds: 2 s, then 32 MB/s on
 * average.
 */
@TestPropertySource(
        properties = {"ncs.limits.download-grace=2s", "ncs.limits.min-download-rate=32MB"})
class SlowReaderIntegrationTests extends IntegrationTestSupport {

    private static final int SIZE = 64 << 20;
    private static final byte[] DATA = new byte[SIZE];
    private static final String STALLED = "ncs_responses_abandoned_total{reason=\"stalled\"}";
    private static final String IDENTITY_RUNS =
            "ncs_kernel_seconds_count{kernel=\"identity\",outcome=\"success\"}";
    private static final String TOO_SLOW = "ncs_responses_abandoned_total{reason=\"too_slow\"}";

    static {
        new Random(21).nextBytes(DATA);
    }

    @Test
    void aClientThatReadsNothingIsDroppedAboutAGraceAfterItsBuffersFillAndItsOutputFreed()
            throws Exception {
        String before = scrape();
        double stalledBefore = total(before, STALLED);
        double ranBefore = total(before, IDENTITY_RUNS);
        try (Socket socket = identityRequest()) {
            long sent = System.nanoTime();
            awaitKernelRuns(ranBefore + 1); // the response is being written now
            assertServedWithinASecond();
            awaitLiveBytesZero();
            long freedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent);
            assertThat(freedMillis)
                    .as("output freed after the grace and a stalled write")
                    .isLessThan(8_000);
            assertThat(total(scrape(), STALLED)).isEqualTo(stalledBefore + 1);
            assertServedWithinASecond();
        }
    }

    @Test
    void aClientThatReadsATrickleIsDroppedAndItsOutputFreed() throws Exception {
        String before = scrape();
        double abandonedBefore = total(before, STALLED) + total(before, TOO_SLOW);
        try (Socket socket = identityRequest()) {
            long sent = System.nanoTime();
            InputStream in = socket.getInputStream();
            byte[] chunk = new byte[4096];
            long deadline = sent + TimeUnit.SECONDS.toNanos(15);
            boolean closed = false;
            while (!closed && liveBytes() > 0 && System.nanoTime() < deadline) {
                closed = readQuietly(in, chunk) < 0; // 4 KiB every 50 ms: 80 KB/s
                Thread.sleep(50);
            }
            awaitLiveBytesZero();
            long freedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent);
            assertThat(freedMillis)
                    .as("output freed once the trickle fell behind")
                    .isLessThan(8_000);
            String after = scrape();
            assertThat(total(after, STALLED) + total(after, TOO_SLOW))
                    .isEqualTo(abandonedBefore + 1);
            assertServedWithinASecond();
        }
    }

    @Test
    void aClientThatReadsSteadilyButBelowTheMinimumRateIsDroppedAfterTheGrace() throws Exception {
        double tooSlowBefore = total(scrape(), TOO_SLOW);
        try (Socket socket = identityRequest()) {
            long sent = System.nanoTime();
            InputStream in = socket.getInputStream();
            byte[] chunk = new byte[80 * 1024];
            long received = 0;
            long deadline = sent + TimeUnit.SECONDS.toNanos(15);
            int n = 0;
            while (n >= 0 && System.nanoTime() < deadline) {
                n = readQuietly(in, chunk); // 80 KiB every 10 ms: about 8 MB/s, a quarter of the
                // minimum
                received += Math.max(n, 0);
                Thread.sleep(10);
            }
            assertThat(n).as("the server closed the connection").isNegative();
            assertThat(received).as("the response was cut short").isLessThan(SIZE);
            awaitLiveBytesZero();
            assertThat(total(scrape(), TOO_SLOW)).isEqualTo(tooSlowBefore + 1);
        }
    }

    @Test
    void aLargeResponseReadAtFullSpeedArrivesWhole() throws Exception {
        try (Socket socket = identityRequest()) {
            socket.setSoTimeout(30_000);
            InputStream in = socket.getInputStream();
            String head = readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200");
            int headerLength =
                    Integer.parseInt(headerValue(head, "Inference-Header-Content-Length"));
            long contentLength = Long.parseLong(headerValue(head, "Content-Length"));
            assertThat(contentLength).isEqualTo(headerLength + (long) SIZE);
            JsonNode json = JSON.readTree(in.readNBytes(headerLength));
            assertThat(
                            json.path("outputs")
                                    .get(0)
                                    .path("parameters")
                                    .path("binary_data_size")
                                    .asLong())
                    .isEqualTo(SIZE);
            byte[] data = in.readNBytes(SIZE);
            assertThat(data.length).isEqualTo(SIZE);
            assertThat(Arrays.mismatch(data, DATA))
                    .as("first byte that differs from the input")
                    .isEqualTo(-1);
        }
    }

    /**
     * Sends identity of {@link #DATA} (64 MiB in, 64 MiB out, in binary) on a socket with a small
     * receive buffer, so that what the client does not read stays mostly on the server's side.
     */
    private Socket identityRequest() throws IOException {
        Socket socket = new Socket();
        socket.setReceiveBufferSize(64 * 1024);
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        byte[] header =
                ("{\"parameters\":{\"binary_data_output\":true},\"inputs\":[{\"name\":\"x\",\"datatype\":\"UINT8\","
                                + "\"shape\":["
                                + SIZE
                                + "],\"parameters\":{\"binary_data_size\":"
                                + SIZE
                                + "}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(
                ("POST /v2/models/identity/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nInference-Header-Content-Length: "
                                + header.length
                                + "\r\nContent-Length: "
                                + (header.length + SIZE)
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
        out.write(header);
        out.write(DATA);
        out.flush();
        return socket;
    }

    /**
     * Reads what has arrived, up to one buffer; -1 once the server closed or reset the connection.
     */
    private static int readQuietly(InputStream in, byte[] buffer) {
        try {
            return in.read(buffer);
        } catch (IOException reset) {
            return -1;
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("the connection closed in the response's head: " + head);
            }
            head.write(b);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static String headerValue(String head, String name) {
        return head.lines()
                .filter(line -> line.regionMatches(true, 0, name + ":", 0, name.length() + 1))
                .map(line -> line.substring(name.length() + 1).trim())
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " in " + head));
    }

    private void assertServedWithinASecond() throws Exception {
        long start = System.nanoTime();
        Reply reply =
                post(
                        "/v2/models/describe/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\","
                                + "\"shape\":[4],\"data\":[1,2,3,4]}]}");
        assertThat(reply.status()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(reply.json(), "mean"))).containsExactly(2.5);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(1_000);
    }

    private double liveBytes() throws Exception {
        return metric(scrape(), "ncs_native_memory_live_bytes");
    }

    private void awaitKernelRuns(double runs) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (total(scrape(), IDENTITY_RUNS) < runs) {
            assertThat(System.nanoTime()).as("identity ran within 10 s").isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    private void awaitLiveBytesZero() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (liveBytes() > 0) {
            assertThat(System.nanoTime())
                    .as("native memory back to 0 within 15 s")
                    .isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
