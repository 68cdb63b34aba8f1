package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * Requests at the edges of HTTP and of the protocol, over raw sockets where no real client would
 * send them: each is answered with the status and a message that says what was wrong, and the
 * service goes on.
 */
class ProtocolEdgesIntegrationTests extends IntegrationTestSupport {

    private static final String SORT = "/v2/models/sort/infer";
    private static final String SORT_BODY =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                    + "\"data\":[2,1]}]}";
    private static final String BINARY_HEADER =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                    + "\"parameters\":{\"binary_data_size\":8}}]}";

    // ---- Expect: 100-continue: the body is invited only when it is wanted.

    @Test
    void anOversizedBodyWithExpectContinueGets413WithoutBeingInvited() throws Exception {
        String reply =
                headersOnly(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                + "Content-Length: 2000000000\r\n\r\n");

        assertThat(reply).startsWith("HTTP/1.1 413 ");
        assertThat(error(reply))
                .contains("2000000000 bytes")
                .contains("ncs.limits.max-request-size");
    }

    @Test
    void aBodyForAnUnknownModelIsNotInvited() throws Exception {
        String reply =
                headersOnly(
                        "POST /v2/models/nope/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                + "Content-Length: 100\r\n\r\n");

        assertThat(reply).startsWith("HTTP/1.1 404 ");
        assertThat(error(reply)).contains("unknown kernel 'nope'").contains("available kernels");
    }

    @Test
    void aWantedBodyIsInvitedWith100Continue() throws Exception {
        try (Socket socket = socket()) {
            OutputStream out = socket.getOutputStream();
            out.write(
                    ("POST "
                                    + SORT
                                    + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
                                    + "Content-Length: "
                                    + SORT_BODY.length()
                                    + "\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            assertThat(RawHttp.readHead(socket.getInputStream())).startsWith("HTTP/1.1 100 ");
            out.write(SORT_BODY.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String reply =
                    new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(reply).startsWith("HTTP/1.1 200 ").contains("\"data\":[1,2]");
        }
    }

    // ---- Truncated bodies say so, and where.

    @Test
    void aBodyShorterThanItsContentLengthIsTruncated() throws Exception {
        RawHttp.Response reply =
                raw(SORT, List.of(), SORT_BODY.getBytes(StandardCharsets.US_ASCII), 1000L, 10);

        assertThat(reply.status()).isEqualTo(400);
        assertThat(error(reply))
                .contains("truncated")
                .contains("after 10 of the 1000 bytes its Content-Length declares")
                .contains("the JSON body");
    }

    @Test
    void aChunkedBodyCutInTheMiddleOfAChunkIsTruncated() throws Exception {
        String reply =
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                + "Transfer-Encoding: chunked\r\n\r\n100\r\n"
                                + SORT_BODY.substring(0, 10),
                        true);

        assertThat(reply).startsWith("HTTP/1.1 400 ");
        assertThat(error(reply))
                .contains("truncated")
                .contains("after 10 bytes, before its last chunk");
    }

    @Test
    void brokenChunkedFramingSaysSo() throws Exception {
        String reply =
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"
                                + SORT_BODY
                                + "\r\n0\r\n\r\n",
                        true);

        assertThat(reply).startsWith("HTTP/1.1 400 ");
        assertThat(error(reply))
                .contains("chunked framing is malformed after 0 bytes")
                .contains("Invalid chunk header");
    }

    @Test
    void aJsonHeaderCutShortIsTruncatedInTheHeader() throws Exception {
        byte[] body = BinaryRequests.body(BINARY_HEADER, new byte[8]).bytes();
        RawHttp.Response reply =
                raw(
                        SORT,
                        List.of(
                                Map.entry(
                                        InferenceService.BINARY_HEADER,
                                        Integer.toString(BINARY_HEADER.length()))),
                        body,
                        null,
                        30);

        assertThat(reply.status()).isEqualTo(400);
        assertThat(error(reply))
                .contains("truncated")
                .contains("after 30 of the " + body.length + " bytes")
                .contains("the JSON header (Inference-Header-Content-Length)");
    }

    @Test
    void aBinaryTensorCutShortIsTruncatedInThatTensor() throws Exception {
        byte[] body = BinaryRequests.body(BINARY_HEADER, new byte[8]).bytes();
        RawHttp.Response reply =
                raw(
                        SORT,
                        List.of(
                                Map.entry(
                                        InferenceService.BINARY_HEADER,
                                        Integer.toString(BINARY_HEADER.length()))),
                        body,
                        null,
                        body.length - 6);

        assertThat(reply.status()).isEqualTo(400);
        assertThat(error(reply))
                .contains("truncated")
                .contains("after " + (body.length - 6) + " of the " + body.length)
                .contains("input 'x'");
    }

    @Test
    void aGzipStreamCutShortIsTruncatedAtItsCompressedByte() throws Exception {
        byte[] gzip = gzip(SORT_BODY.getBytes(StandardCharsets.US_ASCII));
        byte[] cut = java.util.Arrays.copyOf(gzip, 20);

        RawHttp.Response reply =
                raw(SORT, List.of(Map.entry("Content-Encoding", "gzip")), cut, null, -1);

        assertThat(reply.status()).isEqualTo(400);
        assertThat(error(reply))
                .contains("truncated")
                .contains("its gzip data ends after 20 compressed bytes");
    }

    // ---- Every status says what to do.

    @Test
    void statusesTomcatAnswersItselfSayWhatToChange() throws Exception {
        assertError(
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: later\r\n"
                                + "Content-Length: 2\r\n\r\n{}",
                        true),
                417,
                "Expect: 100-continue");
        assertError(
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                + "Transfer-Encoding: gzip\r\n\r\n",
                        true),
                501,
                "Content-Encoding: gzip");
        assertError(
                exchange("GET /v2 HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n", true),
                505,
                "HTTP/1.1");
        assertError(
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n"
                                + "Content-Length: 3\r\n\r\n{}",
                        true),
                400,
                "two Content-Length headers");
        assertThat(get("/v2").status()).isEqualTo(200);
    }

    @Test
    void statusesSpringAnswersSayWhatToChange() throws Exception {
        assertError(
                exchange("DELETE /v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true),
                405,
                "/v2 does not take DELETE; use GET");
        assertError(
                exchange(
                        "GET /v2 HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
                        true),
                406,
                "Accept: application/json");
        assertError(
                exchange("GET /v3/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true),
                404,
                "there is no endpoint GET /v3/models: the API is under /v2");
    }

    @Test
    void theErrorPageIsNotAnEndpoint() throws Exception {
        Reply get = get("/error");
        Reply post = post("/error", "{}");

        assertThat(get.status()).isEqualTo(404);
        assertThat(get.error()).contains("there is no endpoint GET /error");
        assertThat(post.status()).isEqualTo(404);
        assertThat(post.error()).contains("there is no endpoint POST /error");
    }

    // ---- Ambiguous requests are refused.

    @Test
    void aKeyRepeatedInAnyObjectIs400() throws Exception {
        Reply nested =
                post(SORT, SORT_BODY.replace("\"data\":[2,1]", "\"data\":[5,5],\"data\":[2,1]"));
        Reply top = post(SORT, SORT_BODY.replace("]}]}", "]}],\"inputs\":[]}"));
        Reply parameters =
                post(
                        SORT,
                        "{\"parameters\":{\"descending\":true,\"descending\":false},"
                                + SORT_BODY.substring(1));

        assertThat(nested.status()).isEqualTo(400);
        assertThat(nested.error())
                .contains("has the key \"data\" twice in one object")
                .contains("give each key once");
        assertThat(top.status()).isEqualTo(400);
        assertThat(top.error()).contains("the key \"inputs\" twice");
        assertThat(parameters.status()).isEqualTo(400);
        assertThat(parameters.error()).contains("the key \"descending\" twice");
    }

    @Test
    void repeatedInferenceHeaderContentLengthsAre400EvenWhenEqual() throws Exception {
        byte[] body = BinaryRequests.body(BINARY_HEADER, int32(2, 1)).bytes();
        String length = Integer.toString(BINARY_HEADER.length());

        RawHttp.Response different =
                raw(
                        SORT,
                        List.of(
                                Map.entry(InferenceService.BINARY_HEADER, length),
                                Map.entry(InferenceService.BINARY_HEADER, "5")),
                        body,
                        null,
                        -1);
        RawHttp.Response same =
                raw(
                        SORT,
                        List.of(
                                Map.entry(InferenceService.BINARY_HEADER, length),
                                Map.entry(InferenceService.BINARY_HEADER, length)),
                        body,
                        null,
                        -1);
        RawHttp.Response once =
                raw(
                        SORT,
                        List.of(Map.entry(InferenceService.BINARY_HEADER, length)),
                        body,
                        null,
                        -1);

        assertThat(different.status()).isEqualTo(400);
        assertThat(error(different))
                .contains("2 Inference-Header-Content-Length headers (" + length + ", 5)")
                .contains("send exactly one");
        assertThat(same.status()).isEqualTo(400);
        assertThat(once.status()).as(once.text()).isEqualTo(200);
    }

    /**
     * RFC 9112 §6.3: with both, Transfer-Encoding frames the body and the connection must close
     * after the answer. Tomcat does exactly that (and removes Content-Length before the service
     * could see it), so nothing sent after the chunked body can be taken for another request.
     */
    @Test
    void contentLengthWithTransferEncodingIsFramedByTheChunksAndEndsTheConnection()
            throws Exception {
        String chunked =
                Integer.toHexString(SORT_BODY.length()) + "\r\n" + SORT_BODY + "\r\n0\r\n\r\n";
        String smuggled = "GET /v2/models/matmul HTTP/1.1\r\nHost: x\r\n\r\n";
        String reply =
                exchange(
                        "POST "
                                + SORT
                                + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                + "Transfer-Encoding: chunked\r\n\r\n"
                                + chunked
                                + smuggled,
                        false);

        assertThat(reply)
                .startsWith("HTTP/1.1 200 ")
                .contains("\"data\":[1,2]")
                .containsIgnoringCase("Connection: close");
        assertThat(reply)
                .as("the bytes after the chunked body were not served")
                .doesNotContain("\"matmul\"");
    }

    @Test
    void bytesAfterAGzipStreamAre400ButSeveralMembersAreOneBody() throws Exception {
        byte[] one = gzip(SORT_BODY.getBytes(StandardCharsets.US_ASCII));
        byte[] trailing = concat(one, "junk".getBytes(StandardCharsets.US_ASCII));
        byte[] members =
                concat(
                        gzip(SORT_BODY.substring(0, 20).getBytes(StandardCharsets.US_ASCII)),
                        gzip(SORT_BODY.substring(20).getBytes(StandardCharsets.US_ASCII)));

        RawHttp.Response refused =
                raw(SORT, List.of(Map.entry("Content-Encoding", "gzip")), trailing, null, -1);
        RawHttp.Response accepted =
                raw(SORT, List.of(Map.entry("Content-Encoding", "gzip")), members, null, -1);

        assertThat(refused.status()).isEqualTo(400);
        assertThat(error(refused))
                .contains(
                        "bytes after the end of its gzip data (at compressed byte "
                                + one.length
                                + ")");
        assertThat(accepted.status()).as(accepted.text()).isEqualTo(200);
        assertThat(accepted.text()).contains("\"data\":[1,2]");
    }

    @Test
    void bytesAfterADeflateStreamAre400() throws Exception {
        ByteArrayOutputStream deflated = new ByteArrayOutputStream();
        try (DeflaterOutputStream out = new DeflaterOutputStream(deflated)) {
            out.write(SORT_BODY.getBytes(StandardCharsets.US_ASCII));
        }
        byte[] trailing = concat(deflated.toByteArray(), new byte[] {0});

        RawHttp.Response refused =
                raw(SORT, List.of(Map.entry("Content-Encoding", "deflate")), trailing, null, -1);

        assertThat(refused.status()).isEqualTo(400);
        assertThat(error(refused))
                .contains(
                        "bytes after the end of its deflate data (at compressed byte "
                                + deflated.size()
                                + ")");
    }

    // ---- histogram's range, as numpy checks it.

    @Test
    void histogramRefusesANonFiniteRangeAsNumpyDoes() throws Exception {
        String x =
                "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[3],\"data\":[0.5,1,2]}]}";
        Reply nan =
                post(
                        "/v2/models/histogram/infer",
                        "{\"parameters\":{\"lo\":\"NaN\",\"hi\":1}," + x);
        Reply infinite =
                post(
                        "/v2/models/histogram/infer",
                        "{\"parameters\":{\"lo\":0,\"hi\":\"Infinity\"}," + x);
        Reply onlyNan = post("/v2/models/histogram/infer", "{\"parameters\":{\"lo\":\"NaN\"}," + x);
        Reply reversed =
                post("/v2/models/histogram/infer", "{\"parameters\":{\"lo\":2,\"hi\":1}," + x);
        Reply none = post("/v2/models/histogram/infer", "{\"parameters\":{\"bins\":3}," + x);

        assertThat(nan.status()).isEqualTo(400);
        assertThat(nan.error()).contains("supplied range of [nan, 1] is not finite");
        assertThat(infinite.status()).isEqualTo(400);
        assertThat(infinite.error()).contains("supplied range of [0, inf] is not finite");
        assertThat(onlyNan.status()).isEqualTo(400);
        assertThat(onlyNan.error()).contains("'lo' is given but 'hi' is not");
        assertThat(reversed.status()).isEqualTo(400);
        assertThat(reversed.error()).contains("'lo' (2) is greater than 'hi' (1)");
        assertThat(none.status()).as(none.text()).isEqualTo(200);
        assertThat(Tensors.doubles(Tensors.output(none.json(), "edges")))
                .containsExactly(0.5, 1.0, 1.5, 2.0);
    }

    // ---- helpers

    private RawHttp.Response raw(
            String path,
            List<Map.Entry<String, String>> headers,
            byte[] body,
            Long contentLength,
            int sendBytes)
            throws IOException {
        return RawHttp.send(
                port,
                new RawHttp.Exchange("POST", path, headers, body, contentLength, sendBytes),
                10_000);
    }

    private Socket socket() throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(10_000);
        return socket;
    }

    /**
     * Sends the request line and headers only, and reads what comes back before any body is sent.
     */
    private String headersOnly(String head) throws IOException {
        try (Socket socket = socket()) {
            socket.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            return readAvailable(socket.getInputStream());
        }
    }

    /** Sends {@code request} as it is, half-closes if asked, and reads the whole answer. */
    private String exchange(String request, boolean halfClose) throws IOException {
        try (Socket socket = socket()) {
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            if (halfClose) {
                socket.shutdownOutput();
            }
            return readAvailable(socket.getInputStream());
        }
    }

    /**
     * Reads until the server closes the connection or, for one that stays open, stops sending for a
     * while.
     */
    private static String readAvailable(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        try {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                all.write(buffer, 0, n);
            }
        } catch (SocketTimeoutException | java.net.SocketException e) {
            // what arrived is the answer (an open connection waits for more; a reset follows a
            // refusal)
        }
        return all.toString(StandardCharsets.ISO_8859_1);
    }

    private static void assertError(String reply, int status, String message) {
        assertThat(reply).as(reply).startsWith("HTTP/1.1 " + status + " ");
        assertThat(reply).containsIgnoringCase("Content-Type: application/json");
        assertThat(error(reply)).contains(message);
    }

    /** The error message of a raw reply (chunked or not). */
    private static String error(String reply) {
        String body = reply.substring(reply.indexOf("\r\n\r\n") + 4);
        int start = body.indexOf('{');
        JsonNode json = JSON.readTree(body.substring(start, body.lastIndexOf('}') + 1));
        return json.path("error").asString();
    }

    private static String error(RawHttp.Response reply) {
        return JSON.readTree(reply.body()).path("error").asString();
    }

    private static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(out)) {
            gzip.write(data);
        }
        return out.toByteArray();
    }

    private static byte[] int32(int... values) {
        java.nio.ByteBuffer b =
                java.nio.ByteBuffer.allocate(4 * values.length)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putInt(v);
        }
        return b.array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
