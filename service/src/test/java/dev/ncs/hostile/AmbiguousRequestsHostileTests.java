package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Requests whose meaning depends on who reads them, and bodies cut short: each is refused with 400
 * and a message that says what was wrong, many at once, while real requests are served and nothing
 * is kept.
 */
@ParameterizedClass
@EnumSource(Configuration.class)
@Timeout(60)
class AmbiguousRequestsHostileTests extends HostileCase {

    private static final String BINARY =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[2],"
                    + "\"parameters\":{\"binary_data_size\":16}}]}";

    AmbiguousRequestsHostileTests(Configuration configuration) {
        super(configuration);
    }

    private static byte[] post(String headers, String body) {
        return ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + headers
                        + "Content-Length: "
                        + body.getBytes(StandardCharsets.ISO_8859_1).length
                        + "\r\n\r\n"
                        + body)
                .getBytes(StandardCharsets.ISO_8859_1);
    }

    private void assertAllRefused(byte[] request, int connections, String message)
            throws Exception {
        try (Probe probe = probe();
                RawConnections attack = RawConnections.open(ncs.port, connections)) {
            attack.sendAll(request);
            assertThat(attack.await(RawConnections.Connection::answered, Duration.ofSeconds(10)))
                    .as("answered: %s", attack.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(attack.all())
                    .allSatisfy(connection -> {
                        assertThat(connection.status()).as("%s", connection).isEqualTo(400);
                        assertThat(connection.error()).as("%s", connection).contains(message);
                    });
            assertHeapHolds(connections);
        }
    }

    @Test
    void duplicateJsonKeys() throws Exception {
        assertAllRefused(
                post(
                        "",
                        "{\"inputs\":[{\"name\":\"x\",\"name\":\"y\",\"datatype\":\"FP64\",\"shape\":[1],"
                                + "\"data\":[1]}]}"),
                100,
                "name");
    }

    @Test
    void twoDifferentBinaryHeaderLengths() throws Exception {
        String body = BINARY + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assertAllRefused(
                post(
                        "Inference-Header-Content-Length: "
                                + BINARY.length()
                                + "\r\n"
                                + "Inference-Header-Content-Length: "
                                + (BINARY.length() - 1)
                                + "\r\n",
                        body),
                100,
                "Inference-Header-Content-Length");
    }

    /**
     * A binary body that ends inside its tensor: the request says where it was cut, its buffer is
     * freed.
     */
    @Test
    void binaryBodiesCutShort() throws Exception {
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nInference-Header-Content-Length: "
                                + BINARY.length()
                                + "\r\nContent-Length: "
                                + (BINARY.length() + 16)
                                + "\r\n\r\n"
                                + BINARY
                                + "\0\0\0\0")
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections attack = RawConnections.open(ncs.port, 100)) {
            attack.sendAll(head);
            for (RawConnections.Connection connection : attack.all()) {
                attack.shutdownOutput(connection);
            }
            assertThat(attack.await(RawConnections.Connection::answered, Duration.ofSeconds(10)))
                    .as("answered: %s", attack.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(attack.all())
                    .allSatisfy(connection -> {
                        assertThat(connection.status()).as("%s", connection).isEqualTo(400);
                        assertThat(connection.error()).as("%s", connection).contains("truncated");
                    });
            assertHeapHolds(100);
        }
    }
}
