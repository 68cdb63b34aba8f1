package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.KernelInput;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelOutput;
import dev.ncs.kernel.KernelRequest;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.springframework.stereotype.Component;
import tools.jackson.core.JacksonException;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads the protocol's JSON inference request and writes its JSON response (tensors as JSON
 * {@code data}). Every structural mistake becomes an {@link InvalidInputException} that names the
 * field at fault.
 */
@Component
class JsonInferenceCodec {

    /** Request parameters Triton reserves; they are protocol options, never kernel parameters. */
    private static final Set<String> RESERVED = Set.of("sequence_id", "sequence_start", "sequence_end", "priority",
            "timeout", "headers", "binary_data_output");
    private static final int MAX_RANK = 8;

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final JsonMapper json;

    JsonInferenceCodec() {
        this.json = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    }

    /** A decoded request: what to run, the id to echo, and which outputs to return (null: all). */
    record Decoded(KernelRequest request, String id, List<String> outputs) {
    }

    Decoded decode(KernelMetadata kernel, String version, byte[] body) {
        JsonNode root;
        try {
            root = json.readTree(body);
        } catch (JacksonException e) {
            String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")";
            throw new InvalidInputException("the request body is not valid JSON" + where + ": "
                    + e.getOriginalMessage().replaceAll(" ?\\(start marker at \\[Source: [^]]*][^)]*\\)", ""));
        }
        if (root == null || !root.isObject()) {
            throw new InvalidInputException("the request body must be a JSON object with an \"inputs\" array");
        }
        String id = null;
        if (root.has("id")) {
            if (!root.get("id").isString()) {
                throw new InvalidInputException("\"id\" must be a string");
            }
            id = root.get("id").stringValue();
        }
        Map<String, String> parameters = kernelParameters(root.get("parameters"));
        JsonNode inputs = root.get("inputs");
        if (inputs == null || !inputs.isArray()) {
            throw new InvalidInputException("the request needs an \"inputs\" array of {\"name\", \"shape\", "
                    + "\"datatype\", \"data\"} objects");
        }
        List<KernelInput> decoded = new ArrayList<>();
        for (JsonNode input : inputs) {
            decoded.add(input(input));
        }
        return new Decoded(new KernelRequest(kernel.name(), version, decoded, parameters), id,
                requestedOutputs(kernel, root.get("outputs")));
    }

    InferResponse encode(KernelMetadata kernel, Decoded decoded, List<KernelOutput> outputs) {
        List<String> wanted = decoded.outputs() != null ? decoded.outputs()
                : outputs.stream().map(KernelOutput::name).toList();
        List<InferResponse.Output> encoded = new ArrayList<>();
        for (String name : wanted) {
            KernelOutput output = outputs.stream().filter(o -> o.name().equals(name)).findFirst().orElseThrow();
            encoded.add(new InferResponse.Output(output.name(), output.dataType().name(), output.shape(),
                    data(output)));
        }
        return new InferResponse(kernel.name(), KernelMetadata.VERSION, decoded.id(), encoded);
    }

    private Map<String, String> kernelParameters(JsonNode parameters) {
        Map<String, String> result = new LinkedHashMap<>();
        if (parameters == null || parameters.isNull()) {
            return result;
        }
        if (!parameters.isObject()) {
            throw new InvalidInputException("\"parameters\" must be an object of strings, numbers and booleans");
        }
        for (Map.Entry<String, JsonNode> entry : parameters.properties()) {
            String key = entry.getKey();
            JsonNode value = entry.getValue();
            if (!(value.isString() || value.isNumber() || value.isBoolean())) {
                throw new InvalidInputException("parameter '" + key + "' must be a string, number or boolean, got "
                        + value.getNodeType());
            }
            if (key.equals("binary_data_output") && value.asBoolean()) {
                throw binaryUnsupported();
            }
            if (RESERVED.contains(key) || key.startsWith("triton_")) {
                continue;
            }
            result.put(key, value.isString() ? value.stringValue() : value.toString());
        }
        return result;
    }

    private KernelInput input(JsonNode input) {
        if (!input.isObject()) {
            throw new InvalidInputException("each element of \"inputs\" must be an object, got " + input.getNodeType());
        }
        JsonNode nameNode = input.get("name");
        if (nameNode == null || !nameNode.isString() || nameNode.stringValue().isEmpty()) {
            throw new InvalidInputException("every input needs a \"name\" string");
        }
        String name = nameNode.stringValue();
        JsonNode typeNode = input.get("datatype");
        if (typeNode == null || !typeNode.isString()) {
            throw new InvalidInputException("input '" + name + "' needs a \"datatype\" string, one of "
                    + Arrays.toString(DataType.values()));
        }
        DataType type = DataType.byName(typeNode.stringValue()).orElseThrow(() -> new InvalidInputException(
                "input '" + name + "' has unknown datatype '" + typeNode.stringValue() + "'; the protocol's datatypes are "
                        + Arrays.stream(DataType.values()).map(DataType::name).collect(Collectors.joining(", "))));
        long[] shape = shape(name, input.get("shape"));
        JsonNode parameters = input.get("parameters");
        if (parameters != null && parameters.has("binary_data_size")) {
            throw binaryUnsupported();
        }
        JsonNode data = input.get("data");
        if (data == null || data.isNull()) {
            throw new InvalidInputException("input '" + name + "' has no \"data\"");
        }
        long count = elementCount(name, shape, type);
        return new KernelInput(name, type, shape, new JsonTensorSource(name, type, data, count));
    }

    private static long[] shape(String name, JsonNode shapeNode) {
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new InvalidInputException("input '" + name + "' needs a \"shape\" array of non-negative integers");
        }
        if (shapeNode.size() > MAX_RANK) {
            throw new InvalidInputException("input '" + name + "' has " + shapeNode.size()
                    + " dimensions; at most " + MAX_RANK + " are supported");
        }
        long[] shape = new long[shapeNode.size()];
        for (int d = 0; d < shape.length; d++) {
            JsonNode dim = shapeNode.get(d);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
                throw new InvalidInputException("dimension " + d + " of input '" + name + "' is " + dim
                        + ", not an integer");
            }
            shape[d] = dim.longValue();
            if (shape[d] < 0) {
                throw new InvalidInputException("dimension " + d + " of input '" + name + "' is " + shape[d]
                        + "; dimensions must be >= 0");
            }
        }
        return shape;
    }

    private static long elementCount(String name, long[] shape, DataType type) {
        try {
            long count = 1;
            for (long dim : shape) {
                count = Math.multiplyExact(count, dim);
            }
            Math.multiplyExact(count, Math.max(1, type.elementSize()));
            return count;
        } catch (ArithmeticException e) {
            throw new InvalidInputException("shape " + Arrays.toString(shape) + " of input '" + name
                    + "' has more elements than can be addressed (the product of the dims overflows 64 bits)");
        }
    }

    private static List<String> requestedOutputs(KernelMetadata kernel, JsonNode outputs) {
        if (outputs == null || outputs.isNull()) {
            return null;
        }
        if (!outputs.isArray()) {
            throw new InvalidInputException("\"outputs\" must be an array of {\"name\"} objects");
        }
        List<String> names = new ArrayList<>();
        for (JsonNode output : outputs) {
            JsonNode name = output.get("name");
            if (name == null || !name.isString()) {
                throw new InvalidInputException("every requested output needs a \"name\" string");
            }
            if (kernel.output(name.stringValue()).isEmpty()) {
                throw new InvalidInputException("kernel '" + kernel.name() + "' has no output '" + name.stringValue()
                        + "'; its outputs are: " + kernel.outputs().stream().map(o -> o.name())
                                .collect(Collectors.joining(", ")));
            }
            JsonNode parameters = output.get("parameters");
            if (parameters != null && parameters.path("binary_data").asBoolean(false)) {
                throw binaryUnsupported();
            }
            if (names.contains(name.stringValue())) {
                throw new InvalidInputException("output '" + name.stringValue() + "' is requested more than once");
            }
            names.add(name.stringValue());
        }
        return names;
    }

    private static UnsupportedEncodingException binaryUnsupported() {
        return new UnsupportedEncodingException("this server does not implement the binary tensor data extension yet: "
                + "send inputs as JSON \"data\" and request outputs with \"binary_data\": false");
    }

    /** Copies an output into a flat Java array that Jackson writes as a JSON array. */
    private static Object data(KernelOutput output) {
        MemorySegment s = output.data();
        long count = 1;
        for (long dim : output.shape()) {
            count *= dim;
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException("output '" + output.name() + "' has " + count
                    + " elements, too many for a JSON response");
        }
        int n = (int) count;
        return switch (output.dataType()) {
            case BOOL -> {
                boolean[] v = new boolean[n];
                for (int i = 0; i < n; i++) {
                    v[i] = s.get(ValueLayout.JAVA_BYTE, i) != 0;
                }
                yield v;
            }
            case INT8, UINT8 -> {
                int[] v = new int[n];
                boolean unsigned = output.dataType() == DataType.UINT8;
                for (int i = 0; i < n; i++) {
                    byte b = s.get(ValueLayout.JAVA_BYTE, i);
                    v[i] = unsigned ? Byte.toUnsignedInt(b) : b;
                }
                yield v;
            }
            case INT16, UINT16 -> {
                int[] v = new int[n];
                boolean unsigned = output.dataType() == DataType.UINT16;
                for (int i = 0; i < n; i++) {
                    short x = s.get(I16, i * 2L);
                    v[i] = unsigned ? Short.toUnsignedInt(x) : x;
                }
                yield v;
            }
            case INT32 -> s.asSlice(0, n * 4L).toArray(I32);
            case UINT32 -> {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) {
                    v[i] = Integer.toUnsignedLong(s.get(I32, i * 4L));
                }
                yield v;
            }
            case INT64 -> s.asSlice(0, n * 8L).toArray(I64);
            case UINT64 -> {
                BigInteger[] v = new BigInteger[n];
                for (int i = 0; i < n; i++) {
                    v[i] = new BigInteger(Long.toUnsignedString(s.get(I64, i * 8L)));
                }
                yield v;
            }
            case FP16 -> {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = Float.float16ToFloat(s.get(I16, i * 2L));
                }
                yield v;
            }
            case BF16 -> {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = Float.intBitsToFloat(s.get(I16, i * 2L) << 16);
                }
                yield v;
            }
            case FP32 -> s.asSlice(0, n * 4L).toArray(F32);
            case FP64 -> s.asSlice(0, n * 8L).toArray(F64);
            case BYTES -> throw new InvalidInputException("output '" + output.name()
                    + "' is BYTES, which this server cannot encode as JSON yet");
        };
    }
}
