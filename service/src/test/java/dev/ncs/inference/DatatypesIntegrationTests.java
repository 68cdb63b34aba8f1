package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.net.http.HttpRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;

/**
 * Every datatype round-trips through the {@code identity} kernel in all four combinations of JSON
 * and binary input and output, against values and little-endian encodings written out by hand here.
 */
class DatatypesIntegrationTests extends IntegrationTestSupport {

    static Stream<Arguments> datatypes() {
        return Stream.of(
                Arguments.of("BOOL", "[true,false,true]", bytes(1, 0, 1)),
                Arguments.of("UINT8", "[0,255,7]", bytes(0, 255, 7)),
                Arguments.of("INT8", "[-128,127,0]", bytes(0x80, 0x7f, 0)),
                Arguments.of("UINT16", "[0,65535,258]", le(2, 0, 65535, 258)),
                Arguments.of("INT16", "[-32768,32767,-2]", le(2, -32768, 32767, -2)),
                Arguments.of("UINT32", "[0,4294967295,16909060]", le(4, 0, 4294967295L, 16909060)),
                Arguments.of(
                        "INT32",
                        "[-2147483648,2147483647,-3]",
                        le(4, Integer.MIN_VALUE, Integer.MAX_VALUE, -3)),
                Arguments.of(
                        "UINT64",
                        "[0,18446744073709551615,72623859790382856]",
                        le(8, 0, -1L, 72623859790382856L)),
                Arguments.of(
                        "INT64",
                        "[-9223372036854775808,9223372036854775807,-4]",
                        le(8, Long.MIN_VALUE, Long.MAX_VALUE, -4)),
                Arguments.of("FP16", "[1.5,-2.0,65504.0]", le(2, 0x3e00, 0xc000, 0x7bff)),
                Arguments.of("BF16", "[1.5,-2.0,3.0]", le(2, 0x3fc0, 0xc000, 0x4040)),
                Arguments.of(
                        "FP32",
                        "[1.5,-0.25,3.4028235E38]",
                        le(
                                4,
                                Float.floatToIntBits(1.5f),
                                Float.floatToIntBits(-0.25f),
                                Float.floatToIntBits(Float.MAX_VALUE))),
                Arguments.of(
                        "FP64",
                        "[1.0E300,-2.5,0.1]",
                        le(
                                8,
                                Double.doubleToLongBits(1e300),
                                Double.doubleToLongBits(-2.5),
                                Double.doubleToLongBits(0.1))),
                Arguments.of(
                        "BYTES",
                        "[\"hello\",\"\",\"ünï©ødé\"]",
                        BinaryRequests.bytesTensor("hello", "", "ünï©ødé")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("datatypes")
    void jsonInJsonOut(String type, String data, byte[] encoded) throws Exception {
        Reply reply =
                post(
                        "/v2/models/identity/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\""
                                + type
                                + "\",\"shape\":[3],\"data\":"
                                + data
                                + "}]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode y = Tensors.output(reply.json(), "y");
        assertThat(y.path("datatype").asString()).isEqualTo(type);
        assertThat(y.path("shape").toString()).isEqualTo("[3]");
        assertSameValues(y.path("data"), JSON.readTree(data));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("datatypes")
    void binaryInBinaryOut(String type, String data, byte[] encoded) throws Exception {
        BinaryReply reply = identity(type, encoded, true, null);

        assertThat(reply.status()).isEqualTo(200);
        JsonNode y = reply.json().path("outputs").get(0);
        assertThat(y.path("parameters").path("binary_data_size").asLong())
                .isEqualTo(encoded.length);
        assertThat(Arrays.copyOfRange(reply.body(), reply.headerLength(), reply.body().length))
                .isEqualTo(encoded);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("datatypes")
    void binaryInJsonOut(String type, String data, byte[] encoded) throws Exception {
        BinaryReply reply = identity(type, encoded, false, null);

        assertThat(reply.status()).isEqualTo(200);
        assertSameValues(reply.json().path("outputs").get(0).path("data"), JSON.readTree(data));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("datatypes")
    void jsonInBinaryOut(String type, String data, byte[] encoded) throws Exception {
        BinaryReply reply = identity(type, null, true, data);

        assertThat(reply.status()).isEqualTo(200);
        assertThat(Arrays.copyOfRange(reply.body(), reply.headerLength(), reply.body().length))
                .isEqualTo(encoded);
    }

    private BinaryReply identity(String type, byte[] encoded, boolean binaryOut, String jsonData)
            throws Exception {
        String input =
                "{\"name\":\"x\",\"datatype\":\""
                        + type
                        + "\",\"shape\":[3],"
                        + (encoded != null
                                ? "\"parameters\":{\"binary_data_size\":" + encoded.length + "}}"
                                : "\"data\":" + jsonData + "}");
        BinaryRequests.Body body =
                BinaryRequests.body(
                        "{\"inputs\":["
                                + input
                                + "],\"outputs\":[{\"name\":\"y\","
                                + "\"parameters\":{\"binary_data\":"
                                + binaryOut
                                + "}}]}",
                        encoded == null ? new byte[0] : encoded);
        return sendBytes(
                HttpRequest.newBuilder(api("/v2/models/identity/infer"))
                        .header(
                                "Inference-Header-Content-Length",
                                Integer.toString(body.headerLength()))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()))
                        .build());
    }

    /** Same elements: numbers compared by value (1.5 == 1.5e0), strings and booleans exactly. */
    private static void assertSameValues(JsonNode actual, JsonNode expected) {
        assertThat(actual.size()).isEqualTo(expected.size());
        for (int i = 0; i < expected.size(); i++) {
            JsonNode a = actual.get(i);
            JsonNode e = expected.get(i);
            if (e.isNumber()) {
                assertThat(a.decimalValue())
                        .as("element %d", i)
                        .isEqualByComparingTo(e.decimalValue());
            } else {
                assertThat(a).as("element %d", i).isEqualTo(e);
            }
        }
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    private static byte[] le(int width, long... values) {
        ByteBuffer b = ByteBuffer.allocate(width * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            switch (width) {
                case 2 -> b.putShort((short) v);
                case 4 -> b.putInt((int) v);
                default -> b.putLong(v);
            }
        }
        return b.array();
    }
}
