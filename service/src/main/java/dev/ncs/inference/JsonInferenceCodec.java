package dev.ncs.inference;

import dev.ncs.kernel.DeclaredTensors;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.KernelInput;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelRequest;
import dev.ncs.nativelib.DataType;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.springframework.stereotype.Component;
import tools.jackson.core.JacksonException;
import tools.jackson.core.json.JsonFactory;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads the protocol's JSON inference request and writes its JSON response (tensors as JSON {@code
 * data}). Every structural mistake becomes an {@link InvalidInputException} that names the field at
 * fault.
 */
@Component
class JsonInferenceCodec {

    /**
     * How Jackson's tree reader words a repeated key (FAIL_ON_READING_DUP_TREE_KEY); the key is the
     * group.
     */
    private static final Pattern DUPLICATE_KEY =
            Pattern.compile("Duplicate property \"(.*)\" for `ObjectNode`");

    private final JsonMapper json;
    private final LimitsProperties limits;

    JsonInferenceCodec(LimitsProperties limits) {
        this.limits = limits;
        // A key given twice in one object is ambiguous (other parsers keep the first, Jackson the
        // last): refused.
        // Checked as the tree is built, where it costs a look at what the insertion replaced.
        this.json =
                JsonMapper.builder(
                                JsonFactory.builder()
                                        .streamReadConstraints(new JsonReadLimits(limits))
                                        .build())
                        .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                        .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                        .build();
    }

    /**
     * An output the client asked for, and whether it wants it in the binary part of the response.
     */
    record RequestedOutput(String name, boolean binary) {}

    /** A decoded request: what to run, the id to echo, and the outputs to return, in order. */
    record Decoded(KernelRequest request, String id, List<RequestedOutput> outputs) {}

    /**
     * Reads the JSON part of the body (all of it, or the first {@code headerLength} bytes when the
     * binary extension's {@code Inference-Header-Content-Length} is given) and decodes it. Binary
     * inputs are not read here: their sources read them from the body later, in order.
     */
    /**
     * The JSON part of a body, read off the network: everything, or the first headerLength bytes.
     */
    record JsonPart(byte[] bytes, boolean binaryFollows) {}

    JsonPart readJson(RequestBody body, String headerLength) {
        if (headerLength == null) {
            return new JsonPart(body.readAllJson(), false);
        }
        long jsonLength = headerLength(headerLength, body.declaredLength());
        return new JsonPart(
                body.readJson(
                        (int) jsonLength, "the JSON header (Inference-Header-Content-Length)"),
                true);
    }

    /**
     * Parses and checks the JSON part. Binary inputs are not read here: their sources read them
     * from the body later, in order. JSON tensors are encoded here, so the tree is garbage when
     * this returns.
     */
    Decoded decode(KernelMetadata kernel, String version, JsonPart part, RequestBody body) {
        long jsonLength = part.binaryFollows() ? part.bytes().length : -1;
        byte[] bytes = part.bytes();
        JsonNode root;
        try {
            root = json.readTree(bytes);
        } catch (JsonReadLimits.Exceeded e) {
            throw e.limit();
        } catch (JacksonException e) {
            String where =
                    e.getLocation() == null
                            ? ""
                            : " (line "
                                    + e.getLocation().getLineNr()
                                    + ", column "
                                    + e.getLocation().getColumnNr()
                                    + ")";
            Matcher duplicate = DUPLICATE_KEY.matcher(e.getOriginalMessage());
            if (e instanceof MismatchedInputException && duplicate.lookingAt()) {
                throw new InvalidInputException(
                        "the request body's JSON has the key \""
                                + duplicate.group(1)
                                + "\" twice in one object"
                                + where
                                + ": give each key once (which one counts would be a guess)");
            }
            throw new InvalidInputException(
                    "the request body is not valid JSON"
                            + where
                            + ": "
                            + e.getOriginalMessage()
                                    .replaceAll(
                                            " ?\\(start marker at \\[Source: [^]]*][^)]*\\)", ""));
        }
        if (root == null || !root.isObject()) {
            throw new InvalidInputException(
                    "the request body must be a JSON object with an \"inputs\" array");
        }
        String id = null;
        if (root.has("id")) {
            if (!root.get("id").isString()) {
                throw new InvalidInputException("\"id\" must be a string");
            }
            id = root.get("id").stringValue();
        }
        JsonNode parameters = root.get("parameters");
        JsonNode binaryOutputFlag =
                parameters == null ? null : parameters.get("binary_data_output");
        if (binaryOutputFlag != null && !binaryOutputFlag.isBoolean()) {
            throw new InvalidInputException(
                    "parameter binary_data_output must be true or false, got " + binaryOutputFlag);
        }
        boolean binaryOutputs = binaryOutputFlag != null && binaryOutputFlag.booleanValue();
        Map<String, String> kernelParameters = kernelParameters(parameters);
        Duration timeout = timeout(parameters);
        JsonNode inputs = root.get("inputs");
        if (inputs == null || !inputs.isArray()) {
            throw new InvalidInputException(
                    "the request needs an \"inputs\" array of {\"name\", \"shape\", "
                            + "\"datatype\", \"data\"} objects");
        }
        List<KernelInput> decoded = inputs(inputs, body, jsonLength);
        return new Decoded(
                new KernelRequest(kernel.name(), version, decoded, kernelParameters, timeout),
                id,
                requestedOutputs(kernel, root.get("outputs"), binaryOutputs));
    }

    private List<KernelInput> inputs(JsonNode inputs, RequestBody body, long jsonLength) {
        if (inputs.size() > limits.maxInputs()) {
            throw LimitExceededException.shape(
                    "the number of inputs", inputs.size(), "max-inputs", limits.maxInputs());
        }
        int lastBinary = -1;
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).path("parameters").has("binary_data_size")) {
                lastBinary = i;
            }
        }
        if (lastBinary >= 0 && jsonLength < 0) {
            throw new InvalidInputException(
                    "an input has binary_data_size but the request has no "
                            + "Inference-Header-Content-Length header saying where the JSON ends");
        }
        List<KernelInput> decoded = new ArrayList<>();
        long binaryBytes = 0;
        long[] elements = {0};
        for (int i = 0; i < inputs.size(); i++) {
            KernelInput input = input(inputs.get(i), body, i == lastBinary, elements);
            decoded.add(input);
            if (input.source() instanceof BinaryTensorSource) {
                binaryBytes = saturatingAdd(binaryBytes, input.source().byteSize());
            }
        }
        if (jsonLength >= 0 && jsonLength + binaryBytes > body.limit()) {
            throw RequestBody.tooLarge(
                    (jsonLength + binaryBytes)
                            + " bytes (the JSON header and the binary_data_size "
                            + "values)",
                    body.limit());
        }
        if (jsonLength >= 0
                && body.declaredLength() >= 0
                && jsonLength + binaryBytes != body.declaredLength()) {
            throw new InvalidInputException(
                    "the JSON header ("
                            + jsonLength
                            + " bytes) and the binary_data_size values ("
                            + binaryBytes
                            + " bytes) add up to "
                            + (jsonLength + binaryBytes)
                            + " bytes, but the body is "
                            + body.declaredLength()
                            + " bytes");
        }
        if (jsonLength >= 0 && lastBinary < 0) {
            body.expectEnd();
        }
        return decoded;
    }

    /** Triton's {@code timeout} request parameter, in microseconds; null when absent. */
    private static Duration timeout(JsonNode parameters) {
        JsonNode value = parameters == null ? null : parameters.get("timeout");
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isIntegralNumber() || !value.canConvertToLong() || value.longValue() < 0) {
            throw new InvalidInputException(
                    "parameter timeout must be a non-negative integer number of microseconds, "
                            + "got "
                            + value);
        }
        long micros = value.longValue();
        return DeclaredTensors.timeoutFromMicros(micros);
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    private static long headerLength(String header, long bodyLength) {
        long length;
        try {
            length = Long.parseLong(header.trim());
        } catch (NumberFormatException e) {
            throw new InvalidInputException(
                    "Inference-Header-Content-Length must be a non-negative integer, got '"
                            + header
                            + "'");
        }
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException(
                    "Inference-Header-Content-Length must be between 0 and "
                            + (Integer.MAX_VALUE - 8)
                            + ", got "
                            + length);
        }
        if (bodyLength >= 0 && length > bodyLength) {
            throw new InvalidInputException(
                    "Inference-Header-Content-Length is "
                            + length
                            + " but the whole body is only "
                            + bodyLength
                            + " bytes");
        }
        return length;
    }

    private Map<String, String> kernelParameters(JsonNode parameters) {
        Map<String, String> result = new LinkedHashMap<>();
        if (parameters == null || parameters.isNull()) {
            return result;
        }
        if (!parameters.isObject()) {
            throw new InvalidInputException(
                    "\"parameters\" must be an object of strings, numbers and booleans");
        }
        for (Map.Entry<String, JsonNode> entry : parameters.properties()) {
            String key = entry.getKey();
            JsonNode value = entry.getValue();
            if (!(value.isString() || value.isNumber() || value.isBoolean())) {
                throw new InvalidInputException(
                        "parameter '"
                                + key
                                + "' must be a string, number or boolean, got "
                                + value.getNodeType());
            }
            if (!DeclaredTensors.isKernelParameter(key)) {
                continue;
            }
            result.put(key, value.isString() ? value.stringValue() : value.toString());
        }
        return result;
    }

    /**
     * One input; {@code elements} holds the elements of the inputs before it and gets this one's
     * added.
     */
    private KernelInput input(
            JsonNode input, RequestBody body, boolean lastBinary, long[] elements) {
        if (!input.isObject()) {
            throw new InvalidInputException(
                    "each element of \"inputs\" must be an object, got " + input.getNodeType());
        }
        JsonNode nameNode = input.get("name");
        if (nameNode == null || !nameNode.isString() || nameNode.stringValue().isEmpty()) {
            throw new InvalidInputException("every input needs a \"name\" string");
        }
        String name = nameNode.stringValue();
        limits.checkName("input name", name);
        JsonNode typeNode = input.get("datatype");
        if (typeNode == null || !typeNode.isString()) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "' needs a \"datatype\" string, one of "
                            + Arrays.toString(DataType.values()));
        }
        DataType type =
                DataType.byName(typeNode.stringValue())
                        .orElseThrow(() ->
                                new InvalidInputException(
                                        "input '"
                                                + name
                                                + "' has unknown datatype '"
                                                + typeNode.stringValue()
                                                + "'; the protocol's datatypes are "
                                                + Arrays.stream(DataType.values())
                                                        .map(DataType::name)
                                                        .collect(Collectors.joining(", "))));
        long[] shape = shape(name, input.get("shape"));
        long count = DeclaredTensors.elementCount(name, shape, type);
        elements[0] = saturatingAdd(elements[0], count);
        if (elements[0] > limits.maxElements()) {
            throw LimitExceededException.size(
                    "the number of tensor elements (the product of each input's shape, added "
                            + "up over the inputs up to '"
                            + name
                            + "')",
                    elements[0],
                    "max-elements",
                    limits.maxElements());
        }
        JsonNode data = input.get("data");
        JsonNode binarySize = input.path("parameters").get("binary_data_size");
        if (binarySize != null) {
            if (data != null) {
                throw new InvalidInputException(
                        "input '" + name + "' has both \"data\" and binary_data_size; send one");
            }
            return new KernelInput(
                    name,
                    type,
                    shape,
                    new BinaryTensorSource(
                            body,
                            name,
                            type,
                            binarySize(name, type, count, binarySize),
                            count,
                            lastBinary));
        }
        if (data == null || data.isNull()) {
            throw new InvalidInputException(
                    "input '" + name + "' has no \"data\" (and no binary_data_size)");
        }
        return new KernelInput(
                name,
                type,
                shape,
                new JsonTensorSource(name, type, data, shape, count, body::chargeDecoded));
    }

    private static long binarySize(String name, DataType type, long count, JsonNode sizeNode) {
        if (!sizeNode.isIntegralNumber()
                || !sizeNode.canConvertToLong()
                || sizeNode.longValue() < 0) {
            throw new InvalidInputException(
                    "binary_data_size of input '"
                            + name
                            + "' must be a non-negative integer, got "
                            + sizeNode);
        }
        long size = sizeNode.longValue();
        DeclaredTensors.checkByteSize("binary_data_size", name, type, count, size);
        return size;
    }

    private static long[] shape(String name, JsonNode shapeNode) {
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new InvalidInputException(
                    "input '" + name + "' needs a \"shape\" array of non-negative integers");
        }
        DeclaredTensors.checkRank(name, shapeNode.size());
        long[] shape = new long[shapeNode.size()];
        for (int d = 0; d < shape.length; d++) {
            JsonNode dim = shapeNode.get(d);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
                throw new InvalidInputException(
                        "dimension "
                                + d
                                + " of input '"
                                + name
                                + "' is "
                                + dim
                                + ", not an integer");
            }
            shape[d] = dim.longValue();
            DeclaredTensors.checkDimension(name, d, shape[d]);
        }
        return shape;
    }

    private List<RequestedOutput> requestedOutputs(
            KernelMetadata kernel, JsonNode outputs, boolean binary) {
        if (outputs == null || outputs.isNull()) {
            return kernel.outputs().stream()
                    .map(o -> new RequestedOutput(o.name(), binary))
                    .toList();
        }
        if (!outputs.isArray()) {
            throw new InvalidInputException("\"outputs\" must be an array of {\"name\"} objects");
        }
        if (outputs.size() > limits.maxOutputs()) {
            throw LimitExceededException.shape(
                    "the number of requested outputs",
                    outputs.size(),
                    "max-outputs",
                    limits.maxOutputs());
        }
        List<RequestedOutput> requested = new ArrayList<>();
        for (JsonNode output : outputs) {
            JsonNode name = output.get("name");
            if (name == null || !name.isString()) {
                throw new InvalidInputException("every requested output needs a \"name\" string");
            }
            limits.checkName("requested output name", name.stringValue());
            if (kernel.output(name.stringValue()).isEmpty()) {
                throw new InvalidInputException(
                        "kernel '"
                                + kernel.name()
                                + "' has no output '"
                                + name.stringValue()
                                + "'; its outputs are: "
                                + kernel.outputs().stream()
                                        .map(o -> o.name())
                                        .collect(Collectors.joining(", ")));
            }
            if (requested.stream().anyMatch(r -> r.name().equals(name.stringValue()))) {
                throw new InvalidInputException(
                        "output '" + name.stringValue() + "' is requested more than once");
            }
            JsonNode flag = output.path("parameters").get("binary_data");
            if (flag != null && !flag.isBoolean()) {
                throw new InvalidInputException(
                        "binary_data of output '"
                                + name.stringValue()
                                + "' must be true or false, got "
                                + flag);
            }
            requested.add(
                    new RequestedOutput(
                            name.stringValue(), flag == null ? binary : flag.booleanValue()));
        }
        return requested;
    }
}
