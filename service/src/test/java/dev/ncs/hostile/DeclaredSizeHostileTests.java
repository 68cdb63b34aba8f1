package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Allocation on a client's word: requests that declare large sizes ({@code
 * Inference-Header-Content-Length}, {@code binary_data_size}, a chunked body with no length) and
 * send almost nothing. A declared size costs nothing until its bytes arrive; the client is then
 * dropped as too slow (408), or refused at once when the declared size is over a limit (413).
 */
@ParameterizedClass
@EnumSource(Configuration.class)
@Timeout(120)
class DeclaredSizeHostileTests extends HostileCase {

    private static final long JSON_HEADER = 64L * 1024 * 1024;
    private static final long ONE_GB = 1_000_000_000L;

    DeclaredSizeHostileTests(Configuration configuration) {
        super(configuration);
    }

    /**
     * The answer to an upload below ncs.limits.min-upload-rate: 408 with a message about the
     * upload.
     */
    static void droppedAsTooSlow(RawConnections.Connection connection) {
        assertThat(connection.status()).as("%s", connection).isEqualTo(408);
        assertThat(connection.error()).as("%s", connection).containsIgnoringCase("upload");
    }

    @Test
    void aHundredJsonHeadersDeclaredAs64MBWithTenBytesSent() throws Exception {
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                + "Inference-Header-Content-Length: "
                                + JSON_HEADER
                                + "\r\nContent-Length: "
                                + JSON_HEADER
                                + "\r\n\r\n"
                                + "{\"inputs\":")
                        .getBytes(StandardCharsets.ISO_8859_1);
        // 64 MB is over the JSON limit of a 1 GiB heap (1/32 of it) and within the default heap's
        // 64 MB
        boolean overLimit = ncs.heapMax() / 32 < JSON_HEADER;
        try (Probe probe = probe();
                RawConnections declared = RawConnections.open(ncs.port, 100)) {
            declared.sendAll(head);
            Thread.sleep(1000);
            assertHeapHolds(100);
            assertThat(
                            declared.await(
                                    RawConnections.Connection::answered,
                                    SlowUploadHostileTests.DROPPED_WITHIN))
                    .as("answered: %s", declared.failing(RawConnections.Connection::answered))
                    .isTrue();
            if (overLimit) {
                assertThat(declared.all())
                        .allSatisfy(c -> {
                            assertThat(c.status()).as("%s", c).isEqualTo(413);
                            assertThat(c.error()).as("%s", c).contains("JSON");
                        });
            } else {
                assertThat(declared.all()).allSatisfy(DeclaredSizeHostileTests::droppedAsTooSlow);
            }
        }
    }

    @Test
    void fourBinaryInputsDeclaredAs1GBWithAFewBytesSentReserveNothing() throws Exception {
        String json =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                        + ONE_GB / 8
                        + "],"
                        + "\"parameters\":{\"binary_data_size\":"
                        + ONE_GB
                        + "}}]}";
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                + "Inference-Header-Content-Length: "
                                + json.length()
                                + "\r\nContent-Length: "
                                + (json.length() + ONE_GB)
                                + "\r\n\r\n"
                                + json
                                + "abcd")
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections declared = RawConnections.open(ncs.port, 4)) {
            declared.sendAll(head);
            Thread.sleep(1000);
            assertThat(NcsProcess.total(ncs.scrape(), "ncs_native_memory_live_bytes"))
                    .as("native bytes reserved for 4 declared gigabytes of which 16 bytes arrived")
                    .isLessThan(MIB);
            assertHeapHolds(4);
            // the budget is intact: a real 512 MiB upload is served beside them
            assertThat(describeZeros(512 * MIB)).isEqualTo(200);
            assertThat(
                            declared.await(
                                    RawConnections.Connection::answered,
                                    SlowUploadHostileTests.DROPPED_WITHIN))
                    .as("answered: %s", declared.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(declared.all()).allSatisfy(DeclaredSizeHostileTests::droppedAsTooSlow);
        }
    }

    @Test
    void chunkedBodiesWithNoLengthThatSendALittleAndStop() throws Exception {
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"inputs\":[{\"nam\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections chunked = RawConnections.open(ncs.port, 20)) {
            chunked.sendAll(head);
            Thread.sleep(1000);
            assertHeapHolds(20);
            assertThat(
                            chunked.await(
                                    RawConnections.Connection::answered,
                                    SlowUploadHostileTests.DROPPED_WITHIN))
                    .as("answered: %s", chunked.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(chunked.all()).allSatisfy(DeclaredSizeHostileTests::droppedAsTooSlow);
        }
    }

    /**
     * The status of {@code describe} of {@code bytes} bytes of FP64 zeros sent in binary, streamed.
     */
    private int describeZeros(long bytes) throws IOException {
        String json =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                        + bytes / 8
                        + "],"
                        + "\"parameters\":{\"binary_data_size\":"
                        + bytes
                        + "}}]}";
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", ncs.port), 5000);
            socket.setSoTimeout((int) Duration.ofSeconds(30).toMillis());
            OutputStream out = socket.getOutputStream();
            out.write(
                    ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                    + "Inference-Header-Content-Length: "
                                    + json.length()
                                    + "\r\nContent-Length: "
                                    + (json.length() + bytes)
                                    + "\r\n\r\n"
                                    + json)
                            .getBytes(StandardCharsets.ISO_8859_1));
            byte[] zeros = new byte[1 << 20];
            for (long sent = 0; sent < bytes; sent += zeros.length) {
                out.write(zeros, 0, (int) Math.min(zeros.length, bytes - sent));
            }
            InputStream in = socket.getInputStream();
            byte[] status = in.readNBytes(12);
            return Integer.parseInt(new String(status, 9, 3, StandardCharsets.ISO_8859_1));
        }
    }
}
