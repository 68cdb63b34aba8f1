package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.http.HttpRequest;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;
import tools.jackson.databind.JsonNode;

/** The Open Inference Protocol's endpoints and the request details real clients rely on. */
@TestPropertySource(
        properties = {"ncs.limits.max-request-size=4KB", "ncs.limits.max-json-size=2KB"})
class ProtocolIntegrationTests extends IntegrationTestSupport {

    private static final String MATMUL =
            "{\"id\":\"req-17\",\"inputs\":["
                    + "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[2,3],\"data\":[[1,2,3],[4,5,6]]},"
                    + "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[3,2],\"data\":[7,8,9,10,11,12]}]}";

    @Test
    void healthEndpointsAnswer200() throws Exception {
        assertThat(get("/v2/health/live").status()).isEqualTo(200);
        assertThat(get("/v2/health/ready").status()).isEqualTo(200);
    }

    @Test
    void serverMetadataNamesTheServer() throws Exception {
        Reply reply = get("/v2");

        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.json().path("name").asString()).isEqualTo("ncs");
        assertThat(reply.json().path("version").asString()).matches("\\d+\\.\\d+\\.\\d+");
        assertThat(reply.json().path("extensions").isArray()).isTrue();
    }

    @Test
    void modelMetadataDescribesInputsAndOutputsTruthfully() throws Exception {
        for (String path : new String[] {"/v2/models/matmul", "/v2/models/matmul/versions/1"}) {
            JsonNode matmul = get(path).json();
            assertThat(matmul.path("name").asString()).isEqualTo("matmul");
            assertThat(matmul.path("versions").get(0).asString()).isEqualTo("1");
            JsonNode a = matmul.path("inputs").get(0);
            assertThat(a.path("name").asString()).isEqualTo("a");
            assertThat(a.path("shape").toString()).isEqualTo("[-1,-1]");
            assertThat(a.path("datatypes").toString()).contains("FP64").contains("FP32");
            assertThat(matmul.path("outputs").get(0).path("name").asString()).isEqualTo("c");
        }
        JsonNode describe = get("/v2/models/describe").json();
        assertThat(describe.path("inputs").get(0).path("any_rank").asBoolean()).isTrue();
        assertThat(describe.path("outputs").findValuesAsString("name"))
                .containsSubsequence("count", "mean", "std", "min", "max");
        JsonNode sort = get("/v2/models/sort").json();
        assertThat(sort.path("inputs").get(0).path("datatypes").toString())
                .contains("FP64", "FP32", "INT32", "INT64");
        assertThat(sort.path("parameters").get(0).path("name").asString()).isEqualTo("descending");
        assertThat(get("/v2/models/nope").status()).isEqualTo(404);
    }

    @Test
    void modelReadyIs200ForKnownKernelsAnd404Otherwise() throws Exception {
        assertThat(get("/v2/models/sort/ready").status()).isEqualTo(200);
        assertThat(get("/v2/models/sort/versions/1/ready").status()).isEqualTo(200);
        assertThat(get("/v2/models/nope/ready").status()).isEqualTo(404);
    }

    @Test
    void repositoryIndexListsEveryKernelAsReady() throws Exception {
        Reply viaGet = get("/v2/repository/index");
        Reply viaPost = post("/v2/repository/index", "{\"ready\":true}");

        assertThat(viaGet.json().findValuesAsString("name"))
                .contains("describe", "identity", "matmul", "sort")
                .isSorted();
        assertThat(viaGet.json().findValuesAsString("state")).containsOnly("READY");
        assertThat(viaPost.json()).isEqualTo(viaGet.json());
    }

    @Test
    void inferAcceptsNoContentTypeNestedDataAndEchoesTheId() throws Exception {
        Reply reply = post("/v2/models/matmul/infer", MATMUL);

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(reply.json().path("id").asString()).isEqualTo("req-17");
        assertThat(reply.json().path("model_name").asString()).isEqualTo("matmul");
        JsonNode c = reply.json().path("outputs").get(0);
        assertThat(c.path("shape").toString()).isEqualTo("[2,2]");
        assertThat(Tensors.doubles(c)).containsExactly(58, 64, 139, 154);
    }

    @Test
    void versionedInferPathWorks() throws Exception {
        assertThat(post("/v2/models/matmul/versions/1/infer", MATMUL).status()).isEqualTo(200);
    }

    @Test
    void requestedOutputsAreReturnedInTheOrderAsked() throws Exception {
        Reply reply =
                post(
                        "/v2/models/describe/infer",
                        "{\"outputs\":[{\"name\":\"max\"},{\"name\":\"count\","
                                + "\"parameters\":{\"binary_data\":false}}],\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
                                + "\"shape\":[4],\"data\":[1,2,3,4]}]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(reply.json().path("outputs").findValuesAsString("name"))
                .containsExactly("max", "count");
    }

    @Test
    void bodiesOverTheLimitGet413() throws Exception {
        String big =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3000],\"data\":["
                        + "1,".repeat(2999)
                        + "1]}]}";
        Reply reply = post("/v2/models/describe/infer", big);

        assertThat(reply.status()).isEqualTo(413);
        assertThat(reply.error()).contains("max-request-size");
    }

    @Test
    void binaryBodiesOverTheLimitGet413BeforeTheyAreRead() throws Exception {
        BinaryRequests.Body body =
                BinaryRequests.body(
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\","
                                + "\"shape\":[1000],\"parameters\":{\"binary_data_size\":8000}}]}",
                        new byte[8000]);

        Reply reply =
                send(
                        HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                                .header(
                                        "Inference-Header-Content-Length",
                                        Integer.toString(body.headerLength()))
                                .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()))
                                .build());

        assertThat(reply.status()).isEqualTo(413);
        assertThat(reply.error())
                .contains("max-request-size")
                .contains(Integer.toString(body.bytes().length));
    }

    @Test
    void jsonOverItsOwnLimitGets413WithAHintToUseBinary() throws Exception {
        String json =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1200],\"data\":["
                        + "1,".repeat(1199)
                        + "1]}]}";
        Reply reply = post("/v2/models/describe/infer", json);

        assertThat(reply.status()).isEqualTo(413);
        assertThat(reply.error()).contains("max-json-size").contains("binary");
    }

    @Test
    void chunkedBodiesOverTheLimitGet413Too() throws Exception {
        String big =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3000],\"data\":["
                        + "1,".repeat(2999)
                        + "1]}]}";
        HttpRequest request =
                HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                        .POST(
                                HttpRequest.BodyPublishers.ofInputStream(
                                        () -> new java.io.ByteArrayInputStream(big.getBytes())))
                        .build();

        assertThat(send(request).status()).isEqualTo(413);
    }
}
