package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

/** With ncs.security.tokens set, /v2/** needs a bearer token; health stays open for probes. */
@TestPropertySource(properties = "ncs.security.tokens=first-secret,second-secret")
class AuthenticationIntegrationTests extends IntegrationTestSupport {

    private static final String SORT =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                    + "\"data\":[2,1]}]}";

    @Test
    void requestsWithoutAValidTokenGet401() throws Exception {
        Reply none = post("/v2/models/sort/infer", SORT);
        Reply wrong = send(request("/v2/models/sort/infer", "Bearer first-secretX"));
        Reply notBearer = send(request("/v2/models/sort/infer", "Basic Zmlyc3Qtc2VjcmV0"));

        assertThat(none.status()).isEqualTo(401);
        assertThat(none.error()).contains("Authorization: Bearer");
        assertThat(wrong.status()).isEqualTo(401);
        assertThat(wrong.error()).doesNotContain("first-secret");
        assertThat(notBearer.status()).isEqualTo(401);
        assertThat(get("/v2/models/sort").status()).isEqualTo(401);
    }

    @Test
    void aBodyWithoutAValidTokenIsNotInvited() throws Exception {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write(
                            ("POST /v2/models/sort/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                            + "Content-Length: "
                                            + SORT.length()
                                            + "\r\n\r\n")
                                    .getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            String reply =
                    new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);

            assertThat(reply)
                    .as("answered at once, without 100 Continue")
                    .startsWith("HTTP/1.1 401 ");
            assertThat(reply).contains("Authorization: Bearer <token>");
        }
    }

    @Test
    void everyConfiguredTokenIsAccepted() throws Exception {
        assertThat(send(request("/v2/models/sort/infer", "Bearer first-secret")).status())
                .isEqualTo(200);
        assertThat(send(request("/v2/models/sort/infer", "Bearer second-secret")).status())
                .isEqualTo(200);
    }

    @Test
    void healthStaysOpenForProbes() throws Exception {
        assertThat(get("/v2/health/live").status()).isEqualTo(200);
        assertThat(get("/v2/health/ready").status()).isEqualTo(200);
    }

    private HttpRequest request(String path, String authorization) {
        return HttpRequest.newBuilder(api(path))
                .header("Authorization", authorization)
                .POST(HttpRequest.BodyPublishers.ofString(SORT))
                .build();
    }
}
