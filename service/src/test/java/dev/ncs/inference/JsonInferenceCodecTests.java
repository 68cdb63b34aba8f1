package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.KernelInput;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.TensorSpec;
import dev.ncs.nativelib.DataType;
import java.io.ByteArrayInputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.core.env.MapPropertySource;

/**
 * The JSON request codec without HTTP: what a body decodes to (checked byte by byte against values
 * written here), and the refusal, with its reason, of every structural mistake.
 */
class JsonInferenceCodecTests {

    private static final KernelMetadata KERNEL =
            new KernelMetadata(
                    "scale",
                    "y = alpha * x",
                    "builtin",
                    true,
                    List.of(
                            new TensorSpec(
                                    "x", "any", List.of(DataType.FP64, DataType.FP32), null)),
                    List.of(
                            new TensorSpec("y", "scaled", List.of(DataType.FP64), null),
                            new TensorSpec("n", "count", List.of(DataType.INT64), List.of(1L))),
                    List.of());

    /**
     * The configured limits, with max-inputs at 3 and max-elements at 100 so tests can reach them.
     */
    private final LimitsProperties limits =
            new Binder(
                            ConfigurationPropertySources.from(
                                    new MapPropertySource(
                                            "test",
                                            Map.of(
                                                    "ncs.limits.max-inputs",
                                                    "3",
                                                    "ncs.limits.max-outputs",
                                                    "2",
                                                    "ncs.limits.max-elements",
                                                    "100"))))
                    .bindOrCreate("ncs.limits", LimitsProperties.class);

    private final JsonInferenceCodec codec = new JsonInferenceCodec(limits);

    @Test
    void aRequestDecodesToItsTensorsParametersTimeoutAndOutputs() {
        JsonInferenceCodec.Decoded decoded =
                decode(
                        """
                        {"id": "r1",
                         "parameters": {"alpha": 2.5, "exact": true, "mode": "fast", "sequence_id": 3, "triton_trace": 1,
                                        "timeout": 1500},
                         "inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [[1, -2], [0.5, 1e300]]}],
                         "outputs": [{"name": "n", "parameters": {"binary_data": true}}, {"name": "y"}]}\
                        """);

        assertThat(decoded.id()).isEqualTo("r1");
        assertThat(decoded.request().kernel()).isEqualTo("scale");
        assertThat(decoded.request().parameters())
                .as("reserved and triton_ parameters are not the kernel's")
                .containsExactly(
                        Map.entry("alpha", "2.5"),
                        Map.entry("exact", "true"),
                        Map.entry("mode", "fast"));
        assertThat(decoded.request().timeout()).isEqualTo(Duration.ofNanos(1_500_000));
        KernelInput x = decoded.request().inputs().getFirst();
        assertThat(x.name()).isEqualTo("x");
        assertThat(x.dataType()).isEqualTo(DataType.FP64);
        assertThat(x.shape()).containsExactly(2, 2);
        assertThat(x.source().inMemory()).isTrue();
        ByteBuffer bytes = bytes(x);
        assertThat(bytes.capacity()).isEqualTo(32);
        assertThat(
                        new double[] {
                            bytes.getDouble(0),
                            bytes.getDouble(8),
                            bytes.getDouble(16),
                            bytes.getDouble(24)
                        })
                .containsExactly(1, -2, 0.5, 1e300);
        assertThat(decoded.outputs())
                .containsExactly(
                        new JsonInferenceCodec.RequestedOutput("n", true),
                        new JsonInferenceCodec.RequestedOutput("y", false));
    }

    @Test
    void nonFiniteValuesArriveAsLiteralsOrStrings() {
        KernelInput x =
                decode(
                                """
                                {"inputs": [{"name": "x", "datatype": "FP32", "shape": [5],
                                             "data": [NaN, Infinity, -Infinity, "inf", "-Infinity"]}]}\
                                """)
                        .request()
                        .inputs()
                        .getFirst();

        ByteBuffer bytes = bytes(x);
        assertThat(bytes.getFloat(0)).isNaN();
        assertThat(
                        new float[] {
                            bytes.getFloat(4),
                            bytes.getFloat(8),
                            bytes.getFloat(12),
                            bytes.getFloat(16)
                        })
                .containsExactly(
                        Float.POSITIVE_INFINITY,
                        Float.NEGATIVE_INFINITY,
                        Float.POSITIVE_INFINITY,
                        Float.NEGATIVE_INFINITY);
    }

    @Test
    void emptyAndScalarTensorsHaveZeroAndOneElement() {
        List<KernelInput> inputs =
                decode(
                                """
                                {"inputs": [{"name": "empty", "datatype": "INT32", "shape": [0, 3], "data": []},
                                            {"name": "scalar", "datatype": "INT8", "shape": [], "data": [-128]},
                                            {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["", "hé"]}]}\
                                """)
                        .request()
                        .inputs();

        assertThat(inputs.get(0).source().byteSize()).isZero();
        assertThat(bytes(inputs.get(1)).get(0)).isEqualTo((byte) -128);
        assertThat(bytes(inputs.get(2)).array())
                .containsExactly(0, 0, 0, 0, 3, 0, 0, 0, 'h', 0xc3, 0xa9);
    }

    @Test
    void withoutOutputsEveryOutputIsReturnedAsTheRequestAsks() {
        String inputs =
                "\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP64\", \"shape\": [1], \"data\": [1]}]";

        assertThat(decode("{" + inputs + "}").outputs())
                .containsExactly(
                        new JsonInferenceCodec.RequestedOutput("y", false),
                        new JsonInferenceCodec.RequestedOutput("n", false));
        assertThat(
                        decode("{" + inputs + ", \"parameters\": {\"binary_data_output\": true}}")
                                .outputs())
                .containsExactly(
                        new JsonInferenceCodec.RequestedOutput("y", true),
                        new JsonInferenceCodec.RequestedOutput("n", true));
        assertThat(decode("{" + inputs + "}").request().timeout())
                .as("no timeout parameter")
                .isNull();
    }

    @Test
    void malformedJsonIsRefusedWithWhereItBroke() {
        assertThatThrownBy(() -> decode("{\"inputs\": ["))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageStartingWith("the request body is not valid JSON (line 1, column");
        assertThatThrownBy(() -> decode(""))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("the request body must be a JSON object with an \"inputs\" array");
        assertThatThrownBy(() -> decode("[1, 2]"))
                .hasMessage("the request body must be a JSON object with an \"inputs\" array");
        assertThatThrownBy(() -> decode("{\"inputs\": [], \"id\": \"a\", \"id\": \"b\"}"))
                .hasMessageStartingWith(
                        "the request body's JSON has the key \"id\" twice in one object (line 1");
    }

    @Test
    void eachStructuralMistakeNamesTheFieldAtFault() {
        assertRefused("{\"id\": 7, \"inputs\": []}", "\"id\" must be a string");
        assertRefused("{\"inputs\": {}}", "the request needs an \"inputs\" array");
        assertRefused(
                "{\"inputs\": [{\"datatype\": \"FP64\", \"shape\": [1], \"data\": [1]}]}",
                "every input needs a \"name\" string");
        assertRefused(
                input("\"datatype\": \"FP128\", \"shape\": [1], \"data\": [1]"),
                "input 'x' has unknown datatype 'FP128'; the protocol's datatypes are BOOL, ");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [2, -1], \"data\": []"),
                "dimension 1 of input 'x' is -1; dimensions must be >= 0");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [1.5], \"data\": [1]"),
                "dimension 0 of input 'x' is 1.5, not an integer");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [4294967296, 4294967296], \"data\": []"),
                "has more elements than can be addressed");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [3], \"data\": [1, 2]"),
                "input 'x' has 2 data elements but its shape needs 3");
        assertRefused(
                input("\"datatype\": \"INT8\", \"shape\": [1], \"data\": [128]"),
                "input 'x': data element 0 is 128, but a INT8 element must be an integer in [-128, 127]");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [2, 2], \"data\": [[1, 2], [3]]"),
                "nested \"data\" must match the shape [2, 2], but a level-1 array has 1 elements instead of 2");
        assertRefused(
                input("\"datatype\": \"FP64\", \"shape\": [1]"),
                "input 'x' has no \"data\" (and no binary_data_size)");
        assertRefused(
                input(
                        "\"datatype\": \"FP64\", \"shape\": [1], \"parameters\": {\"binary_data_size\": 8}"),
                "an input has binary_data_size but the request has no Inference-Header-Content-Length header");
        assertRefused(
                "{\"parameters\": {\"timeout\": -1}, \"inputs\": []}",
                "parameter timeout must be a non-negative integer number of microseconds, got -1");
        assertRefused(
                "{\"parameters\": {\"binary_data_output\": \"yes\"}, \"inputs\": []}",
                "parameter binary_data_output must be true or false, got \"yes\"");
        assertRefused(
                "{\"parameters\": {\"alpha\": [1]}, \"inputs\": []}",
                "parameter 'alpha' must be a string, number or boolean, got ARRAY");
        assertRefused(
                "{\"inputs\": [], \"outputs\": [{\"name\": \"z\"}]}",
                "kernel 'scale' has no output 'z'; its outputs are: y, n");
        assertRefused(
                "{\"inputs\": [], \"outputs\": [{\"name\": \"y\"}, {\"name\": \"y\"}]}",
                "output 'y' is requested more than once");
    }

    @Test
    void countsAndSizesPastTheConfiguredLimitsAreRefusedWithTheProperty() {
        String one = "{\"name\": \"x\", \"datatype\": \"FP64\", \"shape\": [1], \"data\": [1]}";

        assertThatThrownBy(() ->
                        decode("{\"inputs\": [" + String.join(",", one, one, one, one) + "]}"))
                .isInstanceOf(LimitExceededException.class)
                .hasMessage("the number of inputs is 4; the limit (ncs.limits.max-inputs) is 3")
                .satisfies(e -> assertThat(((LimitExceededException) e).ofSize()).isFalse());
        assertThatThrownBy(() ->
                        decode(input("\"datatype\": \"FP64\", \"shape\": [101], \"data\": []")))
                .isInstanceOf(LimitExceededException.class)
                .hasMessageContaining("is 101; the limit (ncs.limits.max-elements) is 100")
                .satisfies(e -> assertThat(((LimitExceededException) e).ofSize()).isTrue());
        assertThatThrownBy(() ->
                        decode(
                                "{\"inputs\": [], \"outputs\": [{\"name\": \"y\"}, {\"name\": \"n\"}, "
                                        + "{\"name\": \"y\"}]}"))
                .hasMessageContaining("(ncs.limits.max-outputs) is 2");
    }

    @Test
    void aBinaryRequestsHeaderLengthAndTensorSizesMustAddUpToTheBody() {
        String header =
                "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP64\", \"shape\": [2], "
                        + "\"parameters\": {\"binary_data_size\": 16}}]}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer values =
                ByteBuffer.allocate(16)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putDouble(-0.0)
                        .putDouble(7.25);
        byte[] body = concat(json, values.array());

        RequestBody whole = body(body, body.length);
        JsonInferenceCodec.JsonPart part = codec.readJson(whole, Integer.toString(json.length));
        KernelInput x = codec.decode(KERNEL, null, part, whole).request().inputs().getFirst();
        assertThat(part.binaryFollows()).isTrue();
        assertThat(x.source().inMemory()).isFalse();
        assertThat(bytes(x).array()).isEqualTo(values.array());

        RequestBody shorter = body(body, body.length + 1);
        assertThatThrownBy(() ->
                        codec.decode(
                                KERNEL,
                                null,
                                codec.readJson(shorter, Integer.toString(json.length)),
                                shorter))
                .hasMessage(
                        "the JSON header ("
                                + json.length
                                + " bytes) and the binary_data_size values "
                                + "(16 bytes) add up to "
                                + (json.length + 16)
                                + " bytes, but the body is "
                                + (body.length + 1)
                                + " bytes");
        assertThatThrownBy(() -> codec.readJson(body(body, body.length), "12x"))
                .hasMessage(
                        "Inference-Header-Content-Length must be a non-negative integer, got '12x'");
        assertThatThrownBy(() ->
                        codec.readJson(body(body, body.length), Integer.toString(body.length + 1)))
                .hasMessage(
                        "Inference-Header-Content-Length is "
                                + (body.length + 1)
                                + " but the whole body is only "
                                + body.length
                                + " bytes");
        byte[] wrongSize = header.replace("16}", "8}").getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() ->
                        codec.decode(
                                KERNEL,
                                null,
                                new JsonInferenceCodec.JsonPart(wrongSize, true),
                                body(wrongSize, -1)))
                .hasMessage(
                        "binary_data_size of input 'x' is 8 bytes, but 2 FP64 elements take "
                                + "16 bytes");
    }

    private JsonInferenceCodec.Decoded decode(String json) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        RequestBody body = body(bytes, bytes.length);
        return codec.decode(KERNEL, null, codec.readJson(body, null), body);
    }

    private void assertRefused(String json, String message) {
        assertThatThrownBy(() -> decode(json))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining(message);
    }

    private static String input(String fields) {
        return "{\"inputs\": [{\"name\": \"x\", " + fields + "}]}";
    }

    private static RequestBody body(byte[] bytes, long contentLength) {
        return RequestBody.open(
                new ByteArrayInputStream(bytes), null, contentLength, 1L << 30, 1L << 20);
    }

    /** The tensor's bytes as its source writes them, read back little-endian. */
    private static ByteBuffer bytes(KernelInput input) {
        byte[] out = new byte[(int) input.source().byteSize()];
        input.source().writeTo(MemorySegment.ofArray(out));
        return ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
