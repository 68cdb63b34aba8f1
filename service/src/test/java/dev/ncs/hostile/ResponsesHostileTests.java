package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Answers that a few bytes ask for and nobody takes. A tiny request may ask for a response far
 * larger than itself (a histogram's bins as JSON); a client may ask for a large binary answer and
 * never read it. Neither may build a response whole on the heap, nor hold the outputs' native
 * memory for long.
 */
@ParameterizedClass
@EnumSource(Configuration.class)
@Timeout(120)
class ResponsesHostileTests extends HostileCase {

    ResponsesHostileTests(Configuration configuration) {
        super(configuration);
    }

    /**
     * Four requests of a few hundred bytes asking for 20 million histogram counts as JSON (up to
     * 420 MB of text each, against a 64 MB limit): each is refused with 413 before the kernel runs,
     * and the heap never holds their text.
     */
    @Test
    void tinyRequestsAskingForHugeJsonAnswersAreRefusedBeforeTheKernelRuns() throws Exception {
        byte[] body =
                ("{\"parameters\":{\"bins\":20000000,\"lo\":0,\"hi\":1},\"inputs\":[{\"name\":\"x\","
                                + "\"datatype\":\"FP64\",\"shape\":[3],\"data\":[0.1,0.5,0.9]}]}")
                        .getBytes(StandardCharsets.UTF_8);
        byte[] request =
                ("POST /v2/models/histogram/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                + "\r\nContent-Length: "
                                + body.length
                                + "\r\n\r\n"
                                + new String(body, StandardCharsets.UTF_8))
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections attack = RawConnections.open(ncs.port, 4)) {
            attack.sendAll(request);
            assertThat(attack.await(RawConnections.Connection::answered, Duration.ofSeconds(20)))
                    .as("answered: %s", attack.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(attack.all())
                    .allSatisfy(connection -> {
                        assertThat(connection.status()).as("%s", connection).isEqualTo(413);
                        assertThat(connection.error())
                                .as("%s", connection)
                                .contains("ncs.limits.max-json-response-size")
                                .contains("binary_data");
                    });
            assertHeapHolds(4);
        }
    }

    /**
     * Three clients ask for 32 MiB binary answers and read none of them: each response is abandoned
     * within the download grace once the socket buffers are full, its outputs' native memory freed
     * (checked after the case), and counted; real requests are served throughout.
     */
    @Test
    void clientsThatNeverReadTheirAnswersAreDropped() throws Exception {
        int bytes = 32 << 20;
        byte[] header =
                ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"UINT8\",\"shape\":["
                                + bytes
                                + "],"
                                + "\"parameters\":{\"binary_data_size\":"
                                + bytes
                                + "}}],\"outputs\":[{\"name\":\"y\","
                                + "\"parameters\":{\"binary_data\":true}}]}")
                        .getBytes(StandardCharsets.UTF_8);
        double abandonedBefore = NcsProcess.total(ncs.scrape(), "ncs_responses_abandoned_total");
        List<Socket> readers = new ArrayList<>();
        try (Probe probe = probe()) {
            for (int i = 0; i < 3; i++) {
                Socket socket = new Socket(InetAddress.getLoopbackAddress(), ncs.port);
                socket.setReceiveBufferSize(16 * 1024);
                readers.add(socket);
                OutputStream out = socket.getOutputStream();
                out.write(
                        ("POST /v2/models/identity/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        + "Inference-Header-Content-Length: "
                                        + header.length
                                        + "\r\nContent-Length: "
                                        + (header.length + bytes)
                                        + "\r\n\r\n")
                                .getBytes(StandardCharsets.ISO_8859_1));
                out.write(header);
                out.write(new byte[bytes]);
                out.flush();
            }
            long end = System.nanoTime() + Duration.ofSeconds(40).toNanos();
            double abandoned;
            do {
                Thread.sleep(250);
                abandoned =
                        NcsProcess.total(ncs.scrape(), "ncs_responses_abandoned_total")
                                - abandonedBefore;
            } while (abandoned < 3 && System.nanoTime() < end);
            assertThat(abandoned)
                    .as("responses abandoned by clients that read nothing")
                    .isEqualTo(3);
            assertHeapHolds(3);
        } finally {
            for (Socket socket : readers) {
                socket.close();
            }
        }
    }
}
