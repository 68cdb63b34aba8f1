package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.http.HttpRequest;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

/**
 * Every ncs.limits.* limit on a request's content, at its edge: a request just inside passes the
 * limit (and is answered as it would be without it), one just over is refused with a 4xx that names
 * the property, the limit and the value. The limits are set low here so the edges are cheap to
 * reach; the fixture checks that no refusal leaves native memory behind.
 */
@TestPropertySource(
        properties = {
            "ncs.limits.max-json-depth=11",
            "ncs.limits.max-string-length=1000",
            "ncs.limits.max-number-length=30",
            "ncs.limits.max-name-length=24",
            "ncs.limits.max-inputs=2",
            "ncs.limits.max-outputs=2",
            "ncs.limits.max-elements=50"
        })
class LimitsIntegrationTests extends IntegrationTestSupport {

    private static final String IDENTITY = "/v2/models/identity/infer";

    // ---- max-json-depth: the deepest valid request (8-d data nested as its shape) is 11 levels.

    @Test
    void jsonNestedAsDeepAsTheLimitPasses() throws Exception {
        Reply reply = post(IDENTITY, identity("FP64", "[1,1,1,1,1,1,1,1]", nested(8, "2.5")));

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(reply.json(), "y"))).containsExactly(2.5);
    }

    @Test
    void jsonNestedDeeperThanTheLimitIs400() throws Exception {
        Reply reply = post(IDENTITY, identity("FP64", "[1,1,1,1,1,1,1,1]", nested(9, "2.5")));

        assertRefused(reply, 400, "max-json-depth", "11", "at least 12");
    }

    @Test
    void deepGarbageIsRefusedByTheDepthLimitNotTheStack() throws Exception {
        Reply reply = post(IDENTITY, "[".repeat(200_000));

        assertRefused(reply, 400, "max-json-depth", "11", "at least 12");
    }

    // ---- max-string-length: ids, BYTES elements given as JSON, parameter values.

    @Test
    void bytesElementAsLongAsTheLimitPasses() throws Exception {
        String element = "é".repeat(500) + "x".repeat(500);
        Reply reply = post(IDENTITY, identity("BYTES", "[1]", "[\"" + element + "\"]"));

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(Tensors.output(reply.json(), "y").path("data").get(0).asString())
                .isEqualTo(element);
    }

    @Test
    void bytesElementLongerThanTheLimitIs413() throws Exception {
        Reply reply = post(IDENTITY, identity("BYTES", "[1]", "[\"" + "x".repeat(1001) + "\"]"));

        assertRefused(reply, 413, "max-string-length", "1000", "1001 characters");
    }

    @Test
    void idLongerThanTheLimitIs413AndOneAsLongPasses() throws Exception {
        String fits =
                "{\"id\":\""
                        + "i".repeat(1000)
                        + "\","
                        + identity("FP64", "[1]", "[1]").substring(1);
        Reply ok = post(IDENTITY, fits);
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
        assertThat(ok.json().path("id").asString()).hasSize(1000);

        Reply reply = post(IDENTITY, fits.replace("i".repeat(1000), "i".repeat(1001)));

        assertRefused(reply, 413, "max-string-length", "1000", "1001 characters");
    }

    @Test
    void parameterValueLongerThanTheLimitIs413AndOneAsLongPasses() throws Exception {
        String percentiles = "50," + "5,".repeat(498) + "1";
        assertThat(percentiles).hasSize(1000);
        String body =
                "{\"parameters\":{\"percentiles\":\""
                        + percentiles
                        + "\"},\"inputs\":["
                        + "{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3],\"data\":[1,2,3]}]}";
        Reply ok = post("/v2/models/describe/infer", body);
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(ok.json(), "percentiles")))
                .hasSize(500)
                .startsWith(2.0);

        Reply reply =
                post("/v2/models/describe/infer", body.replace(percentiles, percentiles + "0"));

        assertRefused(reply, 413, "max-string-length", "1000", "1001 characters");
    }

    // ---- max-number-length

    @Test
    void numberWithAsManyDigitsAsTheLimitPassesAndOneMoreIs400() throws Exception {
        String number = "-1." + "0".repeat(28) + "1";
        Reply ok = post(IDENTITY, identity("FP64", "[1]", "[" + number + "]"));
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(ok.json(), "y"))).containsExactly(-1.0);

        Reply reply = post(IDENTITY, identity("FP64", "[1]", "[" + number + "1]"));

        assertRefused(reply, 400, "max-number-length", "30", "31 digits");
    }

    @Test
    void integerWithMoreDigitsThanTheLimitIs400() throws Exception {
        Reply ok = post(IDENTITY, identity("FP64", "[1]", "[" + "9".repeat(30) + "]"));
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(ok.json(), "y"))).containsExactly(1e30);

        Reply reply = post(IDENTITY, identity("INT64", "[1]", "[" + "9".repeat(31) + "]"));

        assertRefused(reply, 400, "max-number-length", "30", "31 digits");
    }

    @Test
    void exponentDigitsCount() throws Exception {
        Reply reply = post(IDENTITY, identity("FP64", "[1]", "[1.5e" + "0".repeat(28) + "1]"));

        assertRefused(reply, 400, "max-number-length", "30", "31 digits");
    }

    // ---- max-name-length: the path, tensor names, JSON keys.

    @Test
    void modelNameInThePathIsCheckedBeforeItIsLookedUp() throws Exception {
        String name = "k".repeat(24);
        assertThat(post("/v2/models/" + name + "/infer", "{}").status()).isEqualTo(404);
        assertThat(get("/v2/models/" + name).status()).isEqualTo(404);

        assertRefused(
                post("/v2/models/" + name + "k/infer", "{}"),
                400,
                "max-name-length",
                "24",
                "25 characters");
        assertRefused(
                get("/v2/models/" + name + "k"), 400, "max-name-length", "24", "25 characters");
        assertRefused(
                get("/v2/models/" + name + "k/ready"),
                400,
                "max-name-length",
                "24",
                "25 characters");
        assertRefused(
                get("/v2/models/identity/versions/" + "7".repeat(25)),
                400,
                "max-name-length",
                "model version");
    }

    @Test
    void inputNameLongerThanTheLimitIs400() throws Exception {
        String body =
                "{\"inputs\":[{\"name\":\"%s\",\"datatype\":\"FP64\",\"shape\":[1],\"data\":[1]}]}";
        Reply under = post(IDENTITY, body.formatted("x".repeat(24)));
        assertThat(under.status()).isEqualTo(400);
        assertThat(under.error()).contains("has no input").doesNotContain("max-name-length");

        assertRefused(
                post(IDENTITY, body.formatted("x".repeat(25))),
                400,
                "max-name-length",
                "input name",
                "25 characters");
    }

    @Test
    void requestedOutputNameLongerThanTheLimitIs400() throws Exception {
        String body =
                identity("FP64", "[1]", "[1]")
                        .replace("]}]}", "]}],\"outputs\":[{\"name\":\"%s\"}]}");

        assertThat(post(IDENTITY, body.formatted("y")).status()).isEqualTo(200);
        assertRefused(
                post(IDENTITY, body.formatted("y".repeat(25))),
                400,
                "max-name-length",
                "output name",
                "25 characters");
    }

    @Test
    void parameterNameLongerThanTheLimitIs400() throws Exception {
        String body =
                "{\"parameters\":{\"%s\":true},\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                        + "\"data\":[1,2]}]}";
        Reply under = post("/v2/models/sort/infer", body.formatted("d".repeat(24)));
        assertThat(under.status()).isEqualTo(400);
        assertThat(under.error()).contains("has no parameter").doesNotContain("max-name-length");

        assertRefused(
                post("/v2/models/sort/infer", body.formatted("d".repeat(25))),
                400,
                "max-name-length",
                "25 characters");
    }

    // ---- max-inputs, max-outputs

    @Test
    void asManyInputsAsTheLimitPassAndOneMoreIs400() throws Exception {
        String a = "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[1,1],\"data\":[2]}";
        String b = "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[1,1],\"data\":[3]}";
        Reply ok = post("/v2/models/matmul/infer", Tensors.request(a, b));
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);

        assertRefused(
                post("/v2/models/matmul/infer", Tensors.request(a, b, b)),
                400,
                "max-inputs",
                "2",
                "is 3");
    }

    @Test
    void asManyOutputsAsTheLimitPassAndOneMoreIs400() throws Exception {
        String body =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[2],\"data\":[1,3]}],\"outputs\":[%s]}";
        Reply ok =
                post(
                        "/v2/models/describe/infer",
                        body.formatted("{\"name\":\"mean\"},{\"name\":\"max\"}"));
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
        assertThat(ok.json().path("outputs")).hasSize(2);

        assertRefused(
                post(
                        "/v2/models/describe/infer",
                        body.formatted(
                                "{\"name\":\"mean\"},{\"name\":\"max\"}," + "{\"name\":\"min\"}")),
                400,
                "max-outputs",
                "2",
                "is 3");
    }

    // ---- max-elements: all inputs together, JSON and binary.

    @Test
    void asManyElementsAsTheLimitPassAndOneMoreIs413() throws Exception {
        Reply ok = post(IDENTITY, identity("INT32", "[50]", ones(50)));
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);

        assertRefused(
                post(IDENTITY, identity("INT32", "[51]", ones(51))),
                413,
                "max-elements",
                "50",
                "is 51");
    }

    @Test
    void elementsAreCountedOverAllInputs() throws Exception {
        String a =
                "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[5,5],\"data\":" + ones(25) + "}";
        String b =
                "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[5,5],\"data\":" + ones(25) + "}";
        assertThat(post("/v2/models/matmul/infer", Tensors.request(a, b)).status()).isEqualTo(200);

        String wider =
                "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[5,6],\"data\":" + ones(30) + "}";
        assertRefused(
                post("/v2/models/matmul/infer", Tensors.request(a, wider)),
                413,
                "max-elements",
                "50",
                "is 55");
    }

    @Test
    void binaryInputsCountTooAndAreRefusedBeforeTheirBytesAreRead() throws Exception {
        String header =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BOOL\",\"shape\":[%d],"
                        + "\"parameters\":{\"binary_data_size\":%d}}]}";
        BinaryRequests.Body fits = BinaryRequests.body(header.formatted(50, 50), new byte[50]);
        assertThat(sendBinary(fits).status()).isEqualTo(200);

        BinaryRequests.Body over = BinaryRequests.body(header.formatted(51, 51), new byte[51]);
        Reply reply = sendBinary(over);

        assertRefused(reply, 413, "max-elements", "50", "is 51");
    }

    private Reply sendBinary(BinaryRequests.Body body) throws Exception {
        return send(
                HttpRequest.newBuilder(api(IDENTITY))
                        .header(
                                InferenceService.BINARY_HEADER,
                                Integer.toString(body.headerLength()))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()))
                        .build());
    }

    private void assertRefused(Reply reply, int status, String... inMessage) throws Exception {
        assertThat(reply.status()).as(reply.text()).isEqualTo(status);
        assertThat(reply.error()).contains("ncs.limits.").contains(inMessage);
        Reply ok = post(IDENTITY, identity("FP64", "[2]", "[1,2]"));
        assertThat(ok.status()).as("the service still serves: " + ok.text()).isEqualTo(200);
    }

    private static String identity(String datatype, String shape, String data) {
        return "{\"inputs\":[{\"name\":\"x\",\"datatype\":\""
                + datatype
                + "\",\"shape\":"
                + shape
                + ",\"data\":"
                + data
                + "}]}";
    }

    private static String nested(int levels, String value) {
        return "[".repeat(levels) + value + "]".repeat(levels);
    }

    private static String ones(int n) {
        return IntStream.range(0, n).mapToObj(i -> "1").collect(Collectors.joining(",", "[", "]"));
    }
}
