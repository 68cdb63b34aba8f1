package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

/**
 * Uploads cost what has arrived, not what was declared, and hold no worker while they arrive: a
 * binary input declared large costs native memory only as its bytes come; clients trickling bodies
 * do not keep real requests from the workers; a body slower than the minimum rate gets 408 and its
 * connection closed, its memory freed. Here the buffer cache (and so the bytes an upload may hold
 * on its word) is 8 MiB.
 */
@TestPropertySource(
        properties = {
            "ncs.workers.threads=2",
            "ncs.workers.queue-capacity=0",
            "ncs.limits.min-upload-rate=64KB",
            "ncs.limits.upload-rate-window=1s",
            "ncs.native.buffer-cache.size=8MB",
            "ncs.limits.max-json-size=600KB",
            "ncs.limits.max-json-in-flight=1000KB"
        })
class UploadIntegrationTests extends IntegrationTestSupport {

    private static final String DESCRIBE =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3],"
                    + "\"data\":[3,1,2]}]}";

    /**
     * Opens an identity request declaring {@code declared} bytes of binary FP64 input, and sends
     * the header.
     */
    private Socket startUpload(long declared) throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(15_000);
        byte[] header =
                ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                                + declared / 8
                                + "],"
                                + "\"parameters\":{\"binary_data_size\":"
                                + declared
                                + "}}],\"outputs\":[{\"name\":\"y\","
                                + "\"parameters\":{\"binary_data\":true}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(
                ("POST /v2/models/identity/infer HTTP/1.1\r\nHost: localhost\r\nInference-Header-Content-Length: "
                                + header.length
                                + "\r\nContent-Length: "
                                + (header.length + declared)
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
        out.write(header);
        out.flush();
        return socket;
    }

    private double liveBytes() throws Exception {
        return metric(scrape(), "ncs_native_memory_live_bytes");
    }

    @Test
    void aDeclaredSizeCostsNothingUntilItsBytesArriveAndATrickleIsDropped() throws Exception {
        long declared = 512L << 20;
        try (Socket socket = startUpload(declared)) {
            OutputStream out = socket.getOutputStream();
            out.write(new byte[100]);
            out.flush();
            long start = System.nanoTime();
            // A byte every 200 ms: far below 64 KB/s. While it trickles, it holds what it sent plus
            // one commit step.
            String answer = null;
            double most = 0;
            while (answer == null && System.nanoTime() - start < 10_000_000_000L) {
                most = Math.max(most, liveBytes());
                try {
                    out.write(0);
                    out.flush();
                } catch (IOException closed) {
                    break; // the server answered and closed
                }
                Thread.sleep(200);
                if (socket.getInputStream().available() > 0) {
                    answer = read(socket.getInputStream());
                }
            }
            if (answer == null) {
                answer = read(socket.getInputStream());
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertThat(most)
                    .as("live bytes while 512 MiB are declared and ~100 bytes sent")
                    .isLessThanOrEqualTo(128 << 10);
            assertThat(answer)
                    .startsWith("HTTP/1.1 408")
                    .contains("arrived too slowly")
                    .contains("ncs.limits.min-upload-rate")
                    .containsIgnoringCase("connection: close");
            assertThat(millis)
                    .as("dropped after the one-second window, not at the read timeout")
                    .isLessThan(5_000);
            assertThat(socket.getInputStream().read()).as("the connection is closed").isEqualTo(-1);
        }
    }

    @Test
    void tricklingUploadsHoldNoWorker() throws Exception {
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 6; i++) { // three times the workers plus queue (two)
                Socket socket = startUpload(1 << 20);
                socket.getOutputStream().write(new byte[10]);
                socket.getOutputStream().flush();
                slow.add(socket);
            }
            for (int i = 0; i < 5; i++) {
                long start = System.nanoTime();
                Reply reply = post("/v2/models/describe/infer", DESCRIBE);
                assertThat(reply.status()).as(reply.text()).isEqualTo(200);
                assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1_000);
            }
        } finally {
            for (Socket socket : slow) {
                socket.close();
            }
        }
    }

    @Test
    void aLargeUploadBeyondTheCacheIsChargedAsItArrivesAndComesBackWhole() throws Exception {
        int n = 5_000_000; // 40 MB of FP64: more than the 8 MiB an upload may hold on its word
        ByteBuffer values = ByteBuffer.allocate(n * 8).order(ByteOrder.LITTLE_ENDIAN);
        Random random = new Random(13);
        for (int i = 0; i < n; i++) {
            values.putDouble(random.nextGaussian());
        }
        byte[] sent = values.array();
        try (Socket socket = startUpload(sent.length)) {
            OutputStream out = socket.getOutputStream();
            out.write(sent, 0, sent.length / 2);
            out.flush();
            Thread.sleep(300);
            double halfway = liveBytes();
            assertThat(halfway)
                    .as("live bytes with half of 40 MB sent")
                    .isLessThan(sent.length / 2 + (9 << 20));
            out.write(sent, sent.length / 2, sent.length - sent.length / 2);
            out.flush();
            InputStream in = socket.getInputStream();
            String head = RawHttp.readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200");
            int jsonLength = Integer.parseInt(header(head, "Inference-Header-Content-Length"));
            in.readNBytes(jsonLength);
            byte[] back = in.readNBytes(sent.length);
            assertThat(back).isEqualTo(sent);
        }
    }

    /**
     * JSON bodies being read hold heap as their bytes arrive, all of them together at most
     * ncs.limits.max-json-in-flight (here 1 MB): a body that would pass it gets 503 with
     * Retry-After, small requests still pass, and once the large ones are gone the room is back.
     */
    @Test
    void jsonBodiesInFlightAreBounded() throws Exception {
        List<Socket> large = new ArrayList<>();
        try {
            for (int i = 0;
                    i < 2;
                    i++) { // each grows to 512 KiB, 448 KiB of it charged: 896 KiB of 1000 KB
                Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
                socket.setSoTimeout(10_000);
                OutputStream out = socket.getOutputStream();
                out.write(
                        ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500000\r\n\r\n")
                                .getBytes(StandardCharsets.ISO_8859_1));
                out.write(new byte[400_000]);
                out.flush();
                large.add(socket);
            }
            Thread.sleep(300);
            try (Socket third = new Socket(InetAddress.getLoopbackAddress(), port)) {
                third.setSoTimeout(10_000);
                OutputStream out = third.getOutputStream();
                out.write(
                        ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500000\r\n\r\n")
                                .getBytes(StandardCharsets.ISO_8859_1));
                out.write(new byte[200_000]);
                out.flush();
                String answer = RawHttp.readHead(third.getInputStream());
                assertThat(answer).startsWith("HTTP/1.1 503").contains("Retry-After: 1");
                assertThat(answer).containsIgnoringCase("Connection: close");
                StringBuilder message = new StringBuilder(); // chunked: the first chunk holds it
                while (message.indexOf("}") < 0) {
                    message.append((char) third.getInputStream().read());
                }
                assertThat(message).contains("ncs.limits.max-json-in-flight");
            }
            Reply small = post("/v2/models/describe/infer", DESCRIBE);
            assertThat(small.status()).as(small.text()).isEqualTo(200);
        } finally {
            for (Socket socket : large) {
                socket.close();
            }
        }
        Thread.sleep(300);
        Reply again =
                post(
                        "/v2/models/describe/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\","
                                + "\"shape\":[40000],\"data\":["
                                + "1.5,".repeat(39_999)
                                + "2]}]}");
        assertThat(again.status()).as(again.text()).isEqualTo(200);
    }

    private static String read(InputStream in) throws IOException {
        return new String(in.readNBytes(4096), StandardCharsets.ISO_8859_1);
    }

    private static String header(String head, String name) {
        for (String line : head.split("\r\n")) {
            if (line.regionMatches(true, 0, name + ":", 0, name.length() + 1)) {
                return line.substring(name.length() + 1).trim();
            }
        }
        throw new AssertionError("no " + name + " in " + head);
    }
}
