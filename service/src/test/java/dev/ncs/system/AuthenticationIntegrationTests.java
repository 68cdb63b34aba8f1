package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.http.HttpRequest;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

/** With ncs.security.tokens set, /v2/** needs a bearer token; health stays open for probes. */
@TestPropertySource(properties = "ncs.security.tokens=first-secret,second-secret")
class AuthenticationIntegrationTests extends IntegrationTestSupport {

    private static final String SORT = "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
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
    void everyConfiguredTokenIsAccepted() throws Exception {
        assertThat(send(request("/v2/models/sort/infer", "Bearer first-secret")).status()).isEqualTo(200);
        assertThat(send(request("/v2/models/sort/infer", "Bearer second-secret")).status()).isEqualTo(200);
    }

    @Test
    void healthStaysOpenForProbes() throws Exception {
        assertThat(get("/v2/health/live").status()).isEqualTo(200);
        assertThat(get("/v2/health/ready").status()).isEqualTo(200);
    }

    private HttpRequest request(String path, String authorization) {
        return HttpRequest.newBuilder(api(path)).header("Authorization", authorization)
                .POST(HttpRequest.BodyPublishers.ofString(SORT)).build();
    }
}
