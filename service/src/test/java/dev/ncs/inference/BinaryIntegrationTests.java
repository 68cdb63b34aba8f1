package dev.ncs.inference;

import static dev.ncs.inference.BinaryRequests.body;
import static dev.ncs.inference.BinaryRequests.fp64;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.kernel.References;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/**
 * Triton's binary tensor data extension, compression, and every broken body the extension allows.
 */
class BinaryIntegrationTests extends IntegrationTestSupport {

    private static final String HEADER = "Inference-Header-Content-Length";

    @Test
    void binaryInputsAndABinaryOutputRequestedPerOutput() throws Exception {
        Random random = new Random(5);
        double[] a = random.doubles(6 * 4).toArray();
        double[] b = random.doubles(4 * 5).toArray();
        BinaryRequests.Body body =
                body(
                        "{\"inputs\":["
                                + "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[6,4],\"parameters\":{\"binary_data_size\":192}},"
                                + "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[4,5],\"parameters\":{\"binary_data_size\":160}}],"
                                + "\"outputs\":[{\"name\":\"c\",\"parameters\":{\"binary_data\":true}}]}",
                        fp64(a),
                        fp64(b));

        BinaryReply reply = post(body);

        assertThat(reply.status()).isEqualTo(200);
        JsonNode c = reply.json().path("outputs").get(0);
        assertThat(c.path("parameters").path("binary_data_size").asLong()).isEqualTo(240);
        assertThat(c.has("data")).isFalse();
        assertThat(reply.body().length).isEqualTo(reply.headerLength() + 240);
        double[] actual = fp64(reply.body(), reply.headerLength(), 30);
        double[] expected = References.matmul(a, b, 6, 4, 5);
        for (int i = 0; i < 30; i++) {
            assertThat(actual[i])
                    .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-12));
        }
    }

    @Test
    void jsonAndBinaryInputsMixAndOutputsDefaultToJson() throws Exception {
        BinaryRequests.Body body =
                body(
                        "{\"inputs\":["
                                + "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[2,3],\"data\":[1,2,3,4,5,6]},"
                                + "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[3,2],\"parameters\":{\"binary_data_size\":48}}]}",
                        fp64(7, 8, 9, 10, 11, 12));

        BinaryReply reply = post(body);

        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.headers().firstValue(HEADER)).isEmpty();
        assertThat(Tensors.doubles(reply.json().path("outputs").get(0)))
                .containsExactly(58, 64, 139, 154);
    }

    @Test
    void binaryDataOutputAppliesToAllOutputsUnlessAnOutputSaysOtherwise() throws Exception {
        BinaryRequests.Body body =
                body(
                        "{\"parameters\":{\"binary_data_output\":true},"
                                + "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[4],\"parameters\":{\"binary_data_size\":32}}],"
                                + "\"outputs\":[{\"name\":\"count\"},{\"name\":\"mean\",\"parameters\":{\"binary_data\":false}},"
                                + "{\"name\":\"max\"}]}",
                        fp64(1, 2, 3, 10));

        BinaryReply reply = sendBytes(request("/v2/models/describe/infer", body).build());

        assertThat(reply.status()).isEqualTo(200);
        JsonNode outputs = reply.json().path("outputs");
        assertThat(outputs.get(0).path("parameters").path("binary_data_size").asLong())
                .isEqualTo(8);
        assertThat(Tensors.doubles(outputs.get(1))).containsExactly(4.0);
        int offset = reply.headerLength();
        assertThat(BinaryRequests.int64(reply.body(), offset, 1)).containsExactly(4);
        assertThat(fp64(reply.body(), offset + 8, 1)).containsExactly(10.0);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '`',
            textBlock =
                    """
                    header length not a number | abc    | 0  | must be a non-negative integer
                    header length negative     | -5     | 0  | got -5
                    header length past body    | 100000 | 0  | but the whole body is only
                    sizes add up to less       | =      | 8  | add up to
                    sizes add up to more       | =      | -8 | add up to
                    """)
    void brokenFramingIs400(String what, String headerValue, int extraBytes, String message)
            throws Exception {
        BinaryRequests.Body good = matmulBody(48, 48);
        byte[] bytes = java.util.Arrays.copyOf(good.bytes(), good.bytes().length + extraBytes);
        HttpRequest request =
                HttpRequest.newBuilder(api("/v2/models/matmul/infer"))
                        .header(
                                HEADER,
                                headerValue.equals("=")
                                        ? Integer.toString(good.headerLength())
                                        : headerValue)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes))
                        .build();

        Reply reply = send(request);

        assertThat(reply.status()).as(what).isEqualTo(400);
        assertThat(reply.error()).as(what).contains(message);
    }

    @Test
    void binaryDataSizeNotMatchingTheShapeIs400() throws Exception {
        Reply reply = postExpectingError(matmulBody(40, 48));

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error())
                .contains("binary_data_size of input 'a' is 40 bytes, but 6 FP64 elements take 48");
    }

    @Test
    void aTruncatedChunkedBodyIs400() throws Exception {
        BinaryRequests.Body good = matmulBody(48, 48);
        byte[] truncated = java.util.Arrays.copyOf(good.bytes(), good.bytes().length - 20);

        Reply reply = send(chunked(truncated, good.headerLength()));

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("was truncated at byte").contains("input 'b'");
    }

    @Test
    void extraBytesAfterTheLastTensorInAChunkedBodyAre400() throws Exception {
        BinaryRequests.Body good = matmulBody(48, 48);
        byte[] longer = java.util.Arrays.copyOf(good.bytes(), good.bytes().length + 3);

        Reply reply = send(chunked(longer, good.headerLength()));

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("bytes after the last binary tensor");
    }

    @Test
    void binaryDataSizeWithoutTheHeaderIs400() throws Exception {
        BinaryRequests.Body good = matmulBody(48, 48);

        Reply reply =
                send(
                        HttpRequest.newBuilder(api("/v2/models/matmul/infer"))
                                .POST(
                                        HttpRequest.BodyPublishers.ofByteArray(
                                                java.util.Arrays.copyOf(
                                                        good.bytes(), good.headerLength())))
                                .build());

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("no Inference-Header-Content-Length");
    }

    @Test
    void dataAndBinaryDataSizeTogetherAre400() throws Exception {
        BinaryRequests.Body body =
                body(
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1],"
                                + "\"data\":[1],\"parameters\":{\"binary_data_size\":8}}]}",
                        fp64(1));

        Reply reply = postExpectingError(body, "/v2/models/describe/infer");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("both");
    }

    @Test
    void boolBytesOtherThanZeroOrOneAre400() throws Exception {
        BinaryRequests.Body body =
                body(
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BOOL\",\"shape\":[3],"
                                + "\"parameters\":{\"binary_data_size\":3}}]}",
                        new byte[] {1, 2, 0});

        Reply reply = postExpectingError(body, "/v2/models/identity/infer");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("BOOL element 1 is byte 2");
    }

    @Test
    void binaryFlagsMustBeBooleans() throws Exception {
        String x = "{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1],\"data\":[1]}";
        Reply perOutput =
                post(
                        "/v2/models/identity/infer",
                        "{\"inputs\":["
                                + x
                                + "],\"outputs\":[{\"name\":\"y\","
                                + "\"parameters\":{\"binary_data\":\"yes\"}}]}");
        Reply forAll =
                post(
                        "/v2/models/identity/infer",
                        "{\"parameters\":{\"binary_data_output\":1},\"inputs\":[" + x + "]}");

        assertThat(perOutput.status()).isEqualTo(400);
        assertThat(perOutput.error()).contains("binary_data of output 'y' must be true or false");
        assertThat(forAll.status()).isEqualTo(400);
        assertThat(forAll.error()).contains("binary_data_output must be true or false");
    }

    @Test
    void aBodyCutShortOfItsContentLengthGetsAJsonError() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            String head =
                    "POST /v2/models/describe/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                            + "Connection: close\r\n\r\n{\"inputs\":[";
            socket.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
            socket.shutdownOutput();
            String response =
                    new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

            assertThat(response).startsWith("HTTP/1.1 400");
            assertThat(response).contains("{\"error\":");
        }
    }

    @Test
    void gzipAndDeflateRequestBodiesAreAccepted() throws Exception {
        BinaryRequests.Body body = matmulBody(48, 48);
        ByteArrayOutputStream gzipped = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(gzipped)) {
            gzip.write(body.bytes());
        }
        BinaryReply viaGzip =
                sendBytes(
                        HttpRequest.newBuilder(api("/v2/models/matmul/infer"))
                                .header(HEADER, Integer.toString(body.headerLength()))
                                .header("Content-Encoding", "gzip")
                                .POST(HttpRequest.BodyPublishers.ofByteArray(gzipped.toByteArray()))
                                .build());
        assertThat(viaGzip.status())
                .as(new String(viaGzip.body(), StandardCharsets.UTF_8))
                .isEqualTo(200);

        ByteArrayOutputStream deflated = new ByteArrayOutputStream();
        try (DeflaterOutputStream deflate = new DeflaterOutputStream(deflated)) {
            deflate.write(
                    Tensors.request(
                                    Tensors.input(
                                            "x", "FP64", new long[] {3}, new double[] {1, 2, 6}))
                            .getBytes(StandardCharsets.UTF_8));
        }
        BinaryReply viaDeflate =
                sendBytes(
                        HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                                .header("Content-Encoding", "deflate")
                                .POST(
                                        HttpRequest.BodyPublishers.ofByteArray(
                                                deflated.toByteArray()))
                                .build());
        assertThat(viaDeflate.status()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(viaDeflate.json(), "mean"))).containsExactly(3.0);
    }

    @Test
    void corruptCompressionIs400AndUnknownEncodingsAre415() throws Exception {
        Reply corrupt =
                send(
                        HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                                .header("Content-Encoding", "gzip")
                                .POST(HttpRequest.BodyPublishers.ofString("not gzip at all"))
                                .build());
        assertThat(corrupt.status()).isEqualTo(400);
        assertThat(corrupt.error())
                .contains("gzip data is corrupt at compressed byte")
                .contains("magic bytes");

        Reply brotli =
                send(
                        HttpRequest.newBuilder(api("/v2/models/describe/infer"))
                                .header("Content-Encoding", "br")
                                .POST(HttpRequest.BodyPublishers.ofString("{}"))
                                .build());
        assertThat(brotli.status()).isEqualTo(415);
        assertThat(brotli.error()).contains("gzip, deflate");
    }

    @Test
    void responsesAreGzippedForClientsThatAcceptIt() throws Exception {
        double[] x = new Random(9).doubles(4096).toArray();
        BinaryRequests.Body body =
                body(
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[4096],"
                                + "\"parameters\":{\"binary_data_size\":32768}}],\"outputs\":[{\"name\":\"sorted\","
                                + "\"parameters\":{\"binary_data\":true}}]}",
                        fp64(x));

        BinaryReply reply =
                sendBytes(
                        request("/v2/models/sort/infer", body)
                                .header("Accept-Encoding", "gzip")
                                .build());

        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.headers().firstValue("Content-Encoding")).hasValue("gzip");
        byte[] plain = new GZIPInputStream(new ByteArrayInputStream(reply.body())).readAllBytes();
        int headerLength = reply.headerLength();
        double[] sorted = fp64(plain, headerLength, 4096);
        assertThat(sorted).containsExactly(References.sort(x, false));
    }

    private static BinaryRequests.Body matmulBody(int sizeA, int sizeB) {
        return body(
                "{\"inputs\":["
                        + "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[2,3],\"parameters\":{\"binary_data_size\":"
                        + sizeA
                        + "}},"
                        + "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[3,2],\"parameters\":{\"binary_data_size\":"
                        + sizeB
                        + "}}]}",
                fp64(1, 2, 3, 4, 5, 6),
                fp64(7, 8, 9, 10, 11, 12));
    }

    private HttpRequest.Builder request(String path, BinaryRequests.Body body) {
        return HttpRequest.newBuilder(api(path))
                .header(HEADER, Integer.toString(body.headerLength()))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()));
    }

    private BinaryReply post(BinaryRequests.Body body) throws Exception {
        return sendBytes(request("/v2/models/matmul/infer", body).build());
    }

    private Reply postExpectingError(BinaryRequests.Body body) throws Exception {
        return postExpectingError(body, "/v2/models/matmul/infer");
    }

    private Reply postExpectingError(BinaryRequests.Body body, String path) throws Exception {
        return send(request(path, body).build());
    }

    /**
     * A body sent without Content-Length (chunked), so the server only learns its end by reading.
     */
    private HttpRequest chunked(byte[] bytes, int headerLength) {
        return HttpRequest.newBuilder(api("/v2/models/matmul/infer"))
                .header(HEADER, Integer.toString(headerLength))
                .POST(
                        HttpRequest.BodyPublishers.ofInputStream(
                                () -> new ByteArrayInputStream(bytes)))
                .build();
    }
}
