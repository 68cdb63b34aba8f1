package dev.ncs.inference;

import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.ParameterSpec;
import dev.ncs.kernel.TensorSpec;
import dev.ncs.nativelib.DataType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.quicktheories.core.Gen;
import org.quicktheories.core.RandomnessSource;
import org.quicktheories.generators.Generate;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Generators of hostile and half-valid inference requests, built from the kernels' own metadata so
 * that many requests get far into the service (past parsing, into validation and the kernels)
 * before something is wrong with them. Every random choice is drawn from QuickTheories' randomness
 * source, so a failing request shrinks: choices shrink towards "no mutation" and small sizes.
 */
final class FuzzRequests {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final BigInteger UINT64_MAX =
            BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final List<Long> BIG_DIMS =
            List.of(1L << 20, 1L << 31, 1L << 40, 1L << 62, Long.MAX_VALUE, -1L);
    private static final List<String> STRING_VALUES =
            List.of(
                    "",
                    "same",
                    "full",
                    "valid",
                    "fill",
                    "symm",
                    "5,50,95",
                    "0,100",
                    "100.0001",
                    "-1",
                    "nan",
                    "1,,2",
                    "50,",
                    "true",
                    "1e308",
                    "\u0000",
                    "é\uD83D\uDE00",
                    " 5 , 95 ");

    /**
     * One request to send, the 5xx statuses it may legitimately get, and whether it may go
     * unanswered.
     */
    record Try(
            String kind,
            RawHttp.Exchange exchange,
            Set<Integer> alsoAllowed,
            boolean mayGoUnanswered) {

        @Override
        public String toString() {
            StringBuilder s =
                    new StringBuilder(kind)
                            .append(": ")
                            .append(exchange.method())
                            .append(' ')
                            .append(shorten(exchange.path(), 200));
            exchange.headers()
                    .forEach(h ->
                            s.append("\n  ").append(h.getKey()).append(": ").append(h.getValue()));
            s.append("\n  (Content-Length ")
                    .append(
                            exchange.contentLength() == null
                                    ? "honest"
                                    : exchange.contentLength() == -1
                                            ? "none, chunked"
                                            : exchange.contentLength() == -2
                                                    ? "none"
                                                    : exchange.contentLength().toString())
                    .append(
                            exchange.sendBytes() >= 0
                                    ? ", " + exchange.sendBytes() + " bytes sent then half-closed"
                                    : "")
                    .append(", ")
                    .append(exchange.body().length)
                    .append(" body bytes)\n  ")
                    .append(printable(exchange.body(), 1200));
            if (!alsoAllowed.isEmpty()) {
                s.append("\n  also allowed: ").append(alsoAllowed);
            }
            return s.toString();
        }
    }

    private final List<KernelMetadata> kernels;

    FuzzRequests(List<KernelMetadata> kernels) {
        this.kernels = List.copyOf(kernels);
    }

    // ---- the four families of tries

    /**
     * Requests with the protocol's structure and random kernels, names, shapes, datatypes, data,
     * parameters.
     */
    Gen<Try> jsonRequests() {
        return in -> {
            Draw d = new Draw(in);
            Request r = request(d, true);
            return new Try(
                    "json",
                    post(r.path, List.of(), r.json.toString().getBytes(StandardCharsets.UTF_8)),
                    r.deadlineAllowed ? Set.of(504) : Set.of(),
                    false);
        };
    }

    /**
     * Bytes that are not a request: random bytes and text, valid requests mutated, deep nesting.
     */
    Gen<Try> garbage() {
        return in -> {
            Draw d = new Draw(in);
            String path = "/v2/models/" + d.pick(kernels).name() + "/infer";
            byte[] body =
                    switch (d.range(0, 5)) {
                        case 0 -> d.bytes(d.range(0, 3000));
                        case 1 ->
                                d.text(d.range(0, 400), "{}[]\",:0123456789.-eE truefalsn\\u\n")
                                        .getBytes(StandardCharsets.UTF_8);
                        case 2 -> deepNesting(d);
                        case 3 ->
                                d.mutate(
                                        request(d, false)
                                                .json
                                                .toString()
                                                .getBytes(StandardCharsets.UTF_8));
                        case 4 -> hugeToken(d);
                        default ->
                                withInvalidUtf8(
                                        d,
                                        request(d, false)
                                                .json
                                                .toString()
                                                .getBytes(StandardCharsets.UTF_8));
                    };
            return new Try("garbage", post(path, List.of(), body), Set.of(), false);
        };
    }

    /**
     * Binary-extension bodies with lying header lengths and binary_data_size values, cut,
     * corrupted, padded.
     */
    Gen<Try> corruptBinaryRequests() {
        return in -> {
            Draw d = new Draw(in);
            Request r = request(d, false);
            Binary b = toBinary(d, r);
            String headerLength = null;
            Long contentLength = null;
            int hangUpAfter = -1;
            StringBuilder what = new StringBuilder("binary");
            int mutations = d.range(0, 3);
            for (int m = 0; m < mutations; m++) {
                switch (d.range(0, 7)) {
                    case 0 -> {
                        b = lieAboutSizes(d, b);
                        what.append(", binary_data_size lies");
                    }
                    case 1 -> {
                        headerLength =
                                d.pick(
                                        List.of(
                                                Integer.toString(b.headerLength + d.range(-20, 20)),
                                                "",
                                                "abc",
                                                "-1",
                                                "1e2",
                                                "99999999999",
                                                " " + b.headerLength,
                                                Integer.toString(b.body.length + 1)));
                        what.append(", Inference-Header-Content-Length '")
                                .append(headerLength)
                                .append("'");
                    }
                    case 2 -> {
                        b = new Binary(cut(b.body, d.range(0, b.body.length)), b.headerLength);
                        what.append(", body cut to ").append(b.body.length).append(" bytes");
                    }
                    case 3 -> {
                        hangUpAfter = d.range(0, b.body.length);
                        what.append(", client hangs up after ")
                                .append(hangUpAfter)
                                .append(" bytes");
                    }
                    case 4 -> {
                        contentLength =
                                d.pick(
                                        List.of(
                                                (long) b.body.length + d.range(1, 100),
                                                1L << 40,
                                                0L));
                        what.append(", Content-Length ").append(contentLength);
                    }
                    case 5 -> {
                        b = new Binary(flipBytes(d, b.body, b.headerLength), b.headerLength);
                        what.append(", binary bytes flipped");
                    }
                    case 6 -> {
                        b = new Binary(concat(b.body, d.bytes(d.range(1, 64))), b.headerLength);
                        what.append(", bytes appended");
                    }
                    default -> {
                        contentLength = -1L;
                        what.append(", chunked");
                    }
                }
            }
            List<Map.Entry<String, String>> headers = new ArrayList<>();
            if (!d.chance(5)) {
                headers.add(
                        Map.entry(
                                InferenceService.BINARY_HEADER,
                                headerLength != null
                                        ? headerLength
                                        : Integer.toString(b.headerLength)));
            }
            if (contentLength != null && contentLength > b.body.length && hangUpAfter < 0) {
                hangUpAfter = b.body.length;
            }
            boolean hungUp =
                    hangUpAfter >= 0
                            && hangUpAfter
                                    < (contentLength != null && contentLength >= 0
                                            ? contentLength
                                            : b.body.length);
            return new Try(
                    what.toString(),
                    new RawHttp.Exchange(
                            "POST", r.path, headers, b.body, contentLength, hangUpAfter),
                    r.deadlineAllowed ? Set.of(504) : Set.of(),
                    hungUp);
        };
    }

    /**
     * Valid and half-valid requests under wrong or odd headers: content types, encodings, accept,
     * lengths. A transfer coding the server does not know may get 501, as RFC 9112 (section 6.1)
     * asks of a server.
     */
    Gen<Try> oddHeaders() {
        return in -> {
            Draw d = new Draw(in);
            Request r = request(d, false);
            byte[] body;
            List<Map.Entry<String, String>> headers = new ArrayList<>();
            if (d.chance(50)) {
                Binary b = toBinary(d, r);
                body = b.body;
                headers.add(
                        Map.entry(
                                InferenceService.BINARY_HEADER, Integer.toString(b.headerLength)));
            } else {
                body = r.json.toString().getBytes(StandardCharsets.UTF_8);
            }
            Set<Integer> alsoAllowed = new TreeSet<>(r.deadlineAllowed ? Set.of(504) : Set.of());
            Long contentLength = null;
            int count = d.range(1, 3);
            for (int h = 0; h < count; h++) {
                switch (d.range(0, 7)) {
                    case 0 ->
                            headers.add(
                                    Map.entry(
                                            "Content-Type",
                                            d.pick(
                                                    List.of(
                                                            "application/json",
                                                            "application/json; charset=utf-16",
                                                            "text/plain; charset=nonsense",
                                                            "application/xml",
                                                            "multipart/form-data; boundary=xyz",
                                                            "multipart/form-data",
                                                            "application/x-www-form-urlencoded",
                                                            "application/octet-stream",
                                                            "a/b/c",
                                                            "",
                                                            ";;;",
                                                            "*/*"))));
                    case 1 -> {
                        String encoding =
                                d.pick(
                                        List.of(
                                                "gzip",
                                                "deflate",
                                                "x-gzip",
                                                "GZIP",
                                                "identity",
                                                "br",
                                                "compress",
                                                "gzip, identity",
                                                "",
                                                "zstd"));
                        headers.add(Map.entry("Content-Encoding", encoding));
                        body = encode(d, body, encoding);
                    }
                    case 2 ->
                            headers.add(
                                    Map.entry(
                                            "Accept",
                                            d.pick(
                                                    List.of(
                                                            "application/xml",
                                                            "text/html",
                                                            "application/octet-stream",
                                                            "image/png",
                                                            "*/*;q=0",
                                                            "nonsense",
                                                            ""))));
                    case 3 ->
                            headers.add(
                                    Map.entry(
                                            "Accept-Encoding",
                                            d.pick(
                                                    List.of(
                                                            "gzip",
                                                            "br",
                                                            "deflate",
                                                            "*",
                                                            "gzip;q=0",
                                                            "nonsense",
                                                            "identity;q=0"))));
                    case 4 ->
                            headers.add(
                                    Map.entry(
                                            InferenceService.BINARY_HEADER,
                                            d.pick(
                                                    List.of(
                                                            "0",
                                                            "5",
                                                            "-3",
                                                            "x",
                                                            "",
                                                            Integer.toString(body.length),
                                                            "2147483647",
                                                            "18446744073709551616"))));
                    case 5 ->
                            headers.add(
                                    Map.entry(
                                            d.pick(
                                                    List.of(
                                                            "Expect",
                                                            "Content-Range",
                                                            "Authorization",
                                                            "X-Forwarded-Proto",
                                                            "Range",
                                                            "Content-Language")),
                                            d.pick(
                                                    List.of(
                                                            "100-continue",
                                                            "bytes 0-1/2",
                                                            "Bearer nothing",
                                                            "https",
                                                            "bytes=0-0",
                                                            "\u00ff"))));
                    case 6 -> {
                        if (d.chance(30)) {
                            headers.add(
                                    Map.entry(
                                            "Transfer-Encoding",
                                            d.pick(
                                                    List.of(
                                                            "gzip",
                                                            "identity",
                                                            "compress",
                                                            "100-continue",
                                                            "chunked, gzip"))));
                            contentLength = -2L;
                            alsoAllowed.add(501);
                        }
                    }
                    default -> contentLength = -1L;
                }
            }
            return new Try(
                    "odd headers",
                    new RawHttp.Exchange("POST", r.path, headers, body, contentLength, -1),
                    alsoAllowed,
                    false);
        };
    }

    // ---- requests with the protocol's structure

    /**
     * A request: the JSON document (inputs still with JSON data), where to send it, and whether 504
     * may come.
     */
    private record Request(
            String path, ObjectNode json, List<Tensor> tensors, boolean deadlineAllowed) {}

    /**
     * One input as generated: its JSON node (data may be absent for binary), and its elements' raw
     * values.
     */
    private record Tensor(ObjectNode node, DataType type, long count, List<Object> values) {}

    private Request request(Draw d, boolean randomNames) {
        KernelMetadata kernel = d.pick(kernels);
        String name =
                randomNames && d.chance(8)
                        ? d.pick(
                                List.of(
                                        d.text(d.range(0, 20), "abcXYZ_-.~09"),
                                        d.pick(kernels).name() + "x",
                                        "..",
                                        "%2e%2e",
                                        "%00",
                                        "%F0%9F%98%80",
                                        "a%2Fb",
                                        kernel.name().toUpperCase()))
                        : kernel.name();
        String version =
                randomNames && d.chance(10)
                        ? d.pick(List.of("1", "2", "0", "-1", "01", "latest"))
                        : null;
        String path =
                "/v2/models/" + name + (version == null ? "" : "/versions/" + version) + "/infer";
        ObjectNode root = NODES.objectNode();
        if (d.chance(30)) {
            root.put("id", d.chance(90) ? d.text(d.range(0, 12), "abc-123_ é") : "7");
        }
        boolean deadline = false;
        ObjectNode parameters = parameters(d, kernel);
        if (randomNames && d.chance(12)) {
            JsonNode timeout =
                    d.pick(
                            List.of(
                                    NODES.numberNode(d.range(0, 2000)),
                                    NODES.numberNode(0),
                                    NODES.numberNode(-1),
                                    NODES.stringNode("100"),
                                    NODES.numberNode(1.5),
                                    NODES.numberNode(new BigInteger("99999999999999999999")),
                                    NODES.numberNode(Long.MAX_VALUE)));
            parameters.set("timeout", timeout);
            deadline = true;
        }
        if (!parameters.isEmpty() || d.chance(5)) {
            root.set("parameters", parameters);
        }
        List<Long> dimPool =
                List.of((long) d.range(0, 4), (long) d.range(1, 6), (long) d.range(1, 3));
        List<Tensor> tensors = new ArrayList<>();
        ArrayNode inputs = root.putArray("inputs");
        for (TensorSpec spec : kernel.inputs()) {
            if (d.chance(95)) {
                Tensor t = tensor(d, spec, dimPool, randomNames);
                tensors.add(t);
                inputs.add(t.node);
            }
        }
        if (d.chance(4)) {
            TensorSpec extra =
                    new TensorSpec(
                            d.chance(50) ? "zz" : kernel.inputs().getFirst().name(),
                            "",
                            List.of(DataType.FP64),
                            null);
            Tensor t = tensor(d, extra, dimPool, randomNames);
            tensors.add(t);
            inputs.add(t.node);
        }
        if (d.chance(20)) {
            ArrayNode outputs = root.putArray("outputs");
            for (TensorSpec out : kernel.outputs()) {
                if (d.chance(60)) {
                    ObjectNode o = outputs.addObject().put("name", out.name());
                    if (d.chance(40)) {
                        o.putObject("parameters")
                                .set(
                                        "binary_data",
                                        d.pick(
                                                List.of(
                                                        NODES.booleanNode(true),
                                                        NODES.booleanNode(false),
                                                        NODES.stringNode("yes"))));
                    }
                }
            }
            if (d.chance(10)) {
                outputs.addObject()
                        .put("name", d.chance(50) ? "nope" : kernel.outputs().getFirst().name());
            }
        }
        return new Request(path, root, tensors, deadline);
    }

    private ObjectNode parameters(Draw d, KernelMetadata kernel) {
        ObjectNode parameters = NODES.objectNode();
        for (ParameterSpec p : kernel.parameters()) {
            if (d.chance(50)) {
                parameters.set(p.name(), parameterValue(d, p.type()));
            }
        }
        if (d.chance(8)) {
            parameters.set(
                    d.pick(List.of("binary_data_output", "alpha", "triton_x", "priority", "")),
                    parameterValue(d, d.pick(List.of("bool", "int", "string"))));
        }
        if (d.chance(3)) {
            parameters.set("nested", NODES.arrayNode().add(1));
        }
        return parameters;
    }

    private static JsonNode parameterValue(Draw d, String type) {
        if (d.chance(15)) {
            return d.pick(
                    List.of(
                            NODES.stringNode(d.pick(STRING_VALUES)),
                            NODES.numberNode(d.range(-3, 3)),
                            NODES.booleanNode(true),
                            NODES.nullNode(),
                            NODES.numberNode(1e308)));
        }
        return switch (type) {
            case "bool" ->
                    d.pick(
                            List.of(
                                    NODES.booleanNode(true),
                                    NODES.booleanNode(false),
                                    NODES.stringNode("true"),
                                    NODES.numberNode(1),
                                    NODES.numberNode(2),
                                    NODES.stringNode("yes")));
            case "int" ->
                    d.pick(
                            List.of(
                                    NODES.numberNode(d.range(0, 20)),
                                    NODES.numberNode(d.range(-5, -1)),
                                    NODES.numberNode(1_000_000_000_000L),
                                    NODES.numberNode(Long.MAX_VALUE),
                                    NODES.stringNode("7"),
                                    NODES.numberNode(1.5),
                                    NODES.numberNode(d.range(1, 100_000))));
            case "double" ->
                    d.pick(
                            List.of(
                                    NODES.numberNode(d.range(-10, 10) / 4.0),
                                    NODES.numberNode(-0.0),
                                    NODES.stringNode("NaN"),
                                    NODES.numberNode(1e300),
                                    NODES.stringNode("x"),
                                    NODES.numberNode(Double.MIN_VALUE)));
            default ->
                    NODES.stringNode(
                            d.chance(80)
                                    ? d.pick(STRING_VALUES)
                                    : d.text(d.range(0, 40), "0123456789,. -ae"));
        };
    }

    private Tensor tensor(Draw d, TensorSpec spec, List<Long> dimPool, boolean randomNames) {
        ObjectNode node = NODES.objectNode();
        node.put(
                "name",
                randomNames && d.chance(5)
                        ? d.pick(List.of("", "X", spec.name() + " ", "\u0000"))
                        : spec.name());
        DataType type =
                d.chance(80) ? d.pick(spec.datatypes()) : d.pick(Arrays.asList(DataType.values()));
        if (randomNames && d.chance(4)) {
            node.put("datatype", d.pick(List.of("FLOAT64", "fp64", "", "TYPE_FP32")));
        } else {
            node.put("datatype", type.name());
        }
        int rank = spec.shape() != null && d.chance(85) ? spec.shape().size() : d.range(0, 4);
        long[] shape = new long[rank];
        for (int i = 0; i < rank; i++) {
            Long fixed =
                    spec.shape() != null && i < spec.shape().size() && spec.shape().get(i) >= 0
                            ? spec.shape().get(i)
                            : null;
            shape[i] =
                    d.chance(3)
                            ? d.pick(BIG_DIMS)
                            : fixed != null && d.chance(90) ? fixed : d.pick(dimPool);
        }
        ArrayNode shapeNode = node.putArray("shape");
        for (long dim : shape) {
            shapeNode.add(dim);
        }
        if (d.chance(2)) {
            shapeNode.add(
                    d.pick(
                            List.of(
                                    NODES.numberNode(1.5),
                                    NODES.stringNode("2"),
                                    NODES.nullNode())));
        }
        long count = 1;
        for (long dim : shape) {
            count = dim < 0 || count < 0 ? -1 : saturatingMultiply(count, dim);
        }
        long generated =
                count < 0 || count > 300
                        ? d.range(0, 3)
                        : count + (d.chance(5) ? d.range(-1, 1) : 0);
        List<Object> values = new ArrayList<>();
        for (long i = 0; i < generated; i++) {
            values.add(d.chance(2) ? wrongElement(d) : element(d, type));
        }
        JsonNode data =
                shape.length >= 2 && count > 0 && generated == count && d.chance(30)
                        ? nested(values, shape, 0, new int[] {0})
                        : flat(values);
        if (d.chance(3)) {
            ((ArrayNode) data).add(NODES.arrayNode().add(1));
        }
        if (!d.chance(2)) {
            node.set("data", data);
        }
        return new Tensor(node, type, Math.max(count, 0), values);
    }

    private static Object element(Draw d, DataType type) {
        return switch (type) {
            case BOOL -> d.chance(50);
            case UINT8 -> (long) d.range(0, 255);
            case INT8 -> (long) d.range(-128, 127);
            case UINT16 -> (long) d.range(0, 65535);
            case INT16 -> (long) d.range(-32768, 32767);
            case UINT32 -> d.pick(List.of((long) d.range(0, 1000), 0xFFFF_FFFFL));
            case INT32 ->
                    d.pick(
                            List.of(
                                    (long) d.range(-1000, 1000),
                                    (long) Integer.MIN_VALUE,
                                    (long) Integer.MAX_VALUE));
            case INT64 ->
                    d.pick(List.of((long) d.range(-1000, 1000), Long.MIN_VALUE, Long.MAX_VALUE));
            case UINT64 -> d.pick(List.of(BigInteger.valueOf(d.range(0, 1000)), UINT64_MAX));
            case BYTES -> d.text(d.range(0, 12), "ab\u00e9\u0000\uD83D\uDE00\"\\\n");
            default ->
                    d.pick(
                            List.of(
                                    d.range(-1000, 1000) / 8.0,
                                    Double.NaN,
                                    Double.POSITIVE_INFINITY,
                                    Double.NEGATIVE_INFINITY,
                                    -0.0,
                                    1e308,
                                    4.9e-324,
                                    70000.0));
        };
    }

    /** An element no datatype accepts as it is, or one that is out of range for most. */
    private static Object wrongElement(Draw d) {
        return d.pick(
                List.of(
                        NODES.nullNode(),
                        NODES.objectNode(),
                        NODES.stringNode("NaNx"),
                        NODES.numberNode(1.5),
                        NODES.numberNode(new BigInteger("340282366920938463463374607431768211456")),
                        NODES.numberNode(-1),
                        NODES.booleanNode(true),
                        NODES.stringNode("")));
    }

    private static ArrayNode flat(List<Object> values) {
        ArrayNode array = NODES.arrayNode();
        values.forEach(v -> array.add(node(v)));
        return array;
    }

    private static ArrayNode nested(List<Object> values, long[] shape, int depth, int[] next) {
        ArrayNode array = NODES.arrayNode();
        for (long i = 0; i < shape[depth]; i++) {
            if (depth == shape.length - 1) {
                array.add(node(values.get(next[0]++)));
            } else {
                array.add(nested(values, shape, depth + 1, next));
            }
        }
        return array;
    }

    private static JsonNode node(Object value) {
        return switch (value) {
            case JsonNode n -> n;
            case Boolean b -> NODES.booleanNode(b);
            case Long l -> NODES.numberNode(l);
            case BigInteger b -> NODES.numberNode(b);
            case String s -> NODES.stringNode(s);
            case Double v when Double.isNaN(v) -> NODES.stringNode("NaN");
            case Double v when Double.isInfinite(v) ->
                    NODES.stringNode(v > 0 ? "Infinity" : "-inf");
            case Double v -> NODES.numberNode(v);
            default -> throw new IllegalArgumentException(String.valueOf(value));
        };
    }

    // ---- the binary extension

    private record Binary(byte[] body, int headerLength) {}

    /**
     * Moves some of the request's inputs into the binary part, encoded from their generated values.
     */
    private static Binary toBinary(Draw d, Request r) {
        ObjectNode root = r.json.deepCopy();
        ArrayNode inputs = (ArrayNode) root.get("inputs");
        ByteArrayOutputStream blobs = new ByteArrayOutputStream();
        for (int i = 0; i < r.tensors.size(); i++) {
            Tensor t = r.tensors.get(i);
            if (!d.chance(75)) {
                continue;
            }
            byte[] blob = encode(d, t);
            ObjectNode input = (ObjectNode) inputs.get(i);
            input.remove("data");
            input.putObject("parameters").put("binary_data_size", blob.length);
            blobs.writeBytes(blob);
        }
        if (d.chance(30)) {
            root.withObjectProperty("parameters").put("binary_data_output", true);
        }
        byte[] header = root.toString().getBytes(StandardCharsets.UTF_8);
        return new Binary(concat(header, blobs.toByteArray()), header.length);
    }

    /** The same body with binary_data_size values that do not match the blobs that follow. */
    private static Binary lieAboutSizes(Draw d, Binary b) {
        ObjectNode root;
        try {
            root = (ObjectNode) JSON.readTree(Arrays.copyOf(b.body, b.headerLength));
        } catch (JacksonException headerAlreadyCutOrOverwritten) {
            return b;
        }
        for (JsonNode input : root.path("inputs")) {
            JsonNode size = input.path("parameters").get("binary_data_size");
            if (size != null && d.chance(70)) {
                ((ObjectNode) input.get("parameters"))
                        .set(
                                "binary_data_size",
                                d.pick(
                                        List.of(
                                                NODES.numberNode(size.asLong() + d.range(-9, 9)),
                                                NODES.numberNode(-8),
                                                NODES.numberNode(1L << 40),
                                                NODES.stringNode("8"),
                                                NODES.numberNode(4.0),
                                                NODES.numberNode(Long.MAX_VALUE))));
            }
        }
        byte[] header = root.toString().getBytes(StandardCharsets.UTF_8);
        return new Binary(
                concat(header, Arrays.copyOfRange(b.body, b.headerLength, b.body.length)),
                header.length);
    }

    private static byte[] encode(Draw d, Tensor t) {
        ByteBuffer out =
                ByteBuffer.allocate((int) Math.min(1 << 20, 16 + t.values.size() * 64L))
                        .order(ByteOrder.LITTLE_ENDIAN);
        for (Object v : t.values) {
            switch (t.type) {
                case BOOL ->
                        out.put((byte) (v instanceof Boolean b && b ? 1 : d.chance(3) ? 2 : 0));
                case UINT8, INT8 -> out.put((byte) longOf(v));
                case UINT16, INT16 -> out.putShort((short) longOf(v));
                case UINT32, INT32 -> out.putInt((int) longOf(v));
                case UINT64, INT64 -> out.putLong(longOf(v));
                case FP16 -> out.putShort(Float.floatToFloat16((float) doubleOf(v)));
                case BF16 ->
                        out.putShort((short) (Float.floatToRawIntBits((float) doubleOf(v)) >>> 16));
                case FP32 -> out.putFloat((float) doubleOf(v));
                case FP64 -> out.putDouble(doubleOf(v));
                case BYTES -> {
                    byte[] utf8 = String.valueOf(v).getBytes(StandardCharsets.UTF_8);
                    out.putInt(d.chance(3) ? utf8.length + d.range(1, 4) : utf8.length).put(utf8);
                }
            }
        }
        return Arrays.copyOf(out.array(), out.position());
    }

    private static long longOf(Object v) {
        return switch (v) {
            case Long l -> l;
            case BigInteger b -> b.longValue();
            case Double x -> x.longValue();
            case Boolean b -> b ? 1 : 0;
            default -> 0;
        };
    }

    private static double doubleOf(Object v) {
        return switch (v) {
            case Double x -> x;
            case Long l -> l;
            case BigInteger b -> b.doubleValue();
            default -> 0;
        };
    }

    // ---- bodies that are not requests

    private static byte[] deepNesting(Draw d) {
        int depth = d.pick(List.of(d.range(1, 40), 500, 5000, 200_000));
        String open = d.pick(List.of("[", "{\"a\":", "{\"inputs\":["));
        String inner = d.pick(List.of("1", "", "]"));
        return (open.repeat(depth) + inner).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] hugeToken(Draw d) {
        int n = d.pick(List.of(d.range(1, 100), 2000, 2_000_000));
        String token =
                switch (d.range(0, 3)) {
                    case 0 -> "\"" + "x".repeat(n) + "\"";
                    case 1 -> "1" + "0".repeat(n);
                    case 2 -> "0." + "1".repeat(n) + "e-" + "9".repeat(Math.min(n, 50));
                    default -> "{\"" + "k".repeat(n) + "\":1}";
                };
        return ("{\"id\":" + token + ",\"inputs\":[]}").getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] withInvalidUtf8(Draw d, byte[] json) {
        byte[] copy = json.clone();
        int count = d.range(1, 4);
        for (int i = 0; i < count && copy.length > 0; i++) {
            copy[d.range(0, copy.length - 1)] =
                    (byte) d.pick(List.of(0xC0, 0xFF, 0x80, 0xED, 0xF8, 0x00)).intValue();
        }
        return copy;
    }

    private static byte[] encode(Draw d, byte[] body, String encoding) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            switch (encoding.toLowerCase(java.util.Locale.ROOT)) {
                case "gzip", "x-gzip" -> {
                    if (d.chance(70)) {
                        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
                            gz.write(body);
                        }
                    } else {
                        return body;
                    }
                }
                case "deflate" -> {
                    if (d.chance(70)) {
                        try (DeflaterOutputStream z = new DeflaterOutputStream(out)) {
                            z.write(body);
                        }
                    } else {
                        return body;
                    }
                }
                default -> {
                    return body;
                }
            }
            byte[] encoded = out.toByteArray();
            return d.chance(20)
                    ? cut(encoded, d.range(0, encoded.length))
                    : d.chance(10) ? flipBytes(d, encoded, 0) : encoded;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- plumbing

    private static RawHttp.Exchange post(
            String path, List<Map.Entry<String, String>> headers, byte[] body) {
        return new RawHttp.Exchange("POST", path, headers, body, null, -1);
    }

    private static byte[] cut(byte[] body, int length) {
        return Arrays.copyOf(body, Math.min(length, body.length));
    }

    private static byte[] flipBytes(Draw d, byte[] body, int from) {
        byte[] copy = body.clone();
        if (copy.length <= from) {
            return copy;
        }
        int count = d.range(1, 3);
        for (int i = 0; i < count; i++) {
            int at = d.range(from, copy.length - 1);
            copy[at] = (byte) (copy[at] ^ d.pick(List.of(0x01, 0x80, 0xFF, 0x7F)));
        }
        return copy;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static long saturatingMultiply(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        return high != 0 || a * b < 0 ? Long.MAX_VALUE : a * b;
    }

    private static String shorten(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...(" + s.length() + " characters)";
    }

    private static String printable(byte[] bytes, int max) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(bytes.length, max); i++) {
            int b = bytes[i] & 0xFF;
            s.append(
                    b >= 0x20 && b < 0x7F ? String.valueOf((char) b) : String.format("\\x%02x", b));
        }
        return bytes.length > max ? s + "...(" + bytes.length + " bytes)" : s.toString();
    }

    /**
     * Draws from the randomness source; chances shrink towards "no", ranges towards their low end.
     */
    private static final class Draw {
        private final RandomnessSource in;

        Draw(RandomnessSource in) {
            this.in = in;
        }

        int range(int lo, int hi) {
            return hi <= lo ? lo : Generate.range(lo, hi).generate(in);
        }

        boolean chance(int percent) {
            return range(0, 99) >= 100 - percent;
        }

        <T> T pick(List<T> items) {
            return items.get(range(0, items.size() - 1));
        }

        byte[] bytes(int n) {
            byte[] bytes = new byte[n];
            for (int i = 0; i < n; i++) {
                bytes[i] = (byte) range(0, 255);
            }
            return bytes;
        }

        String text(int n, String alphabet) {
            int[] codePoints = alphabet.codePoints().toArray();
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < n; i++) {
                s.appendCodePoint(codePoints[range(0, codePoints.length - 1)]);
            }
            return s.toString();
        }

        /** A few edits: deletions, insertions of JSON punctuation, duplications, a cut. */
        byte[] mutate(byte[] json) {
            byte[] out = json;
            int edits = range(1, 4);
            for (int e = 0; e < edits && out.length > 0; e++) {
                int at = range(0, out.length - 1);
                out =
                        switch (range(0, 3)) {
                            case 0 ->
                                    concat(
                                            Arrays.copyOf(out, at),
                                            Arrays.copyOfRange(
                                                    out,
                                                    Math.min(out.length, at + range(1, 8)),
                                                    out.length));
                            case 1 ->
                                    concat(
                                            concat(
                                                    Arrays.copyOf(out, at),
                                                    text(range(1, 3), "{}[]\",:-0.e\\")
                                                            .getBytes(StandardCharsets.UTF_8)),
                                            Arrays.copyOfRange(out, at, out.length));
                            case 2 ->
                                    concat(
                                            Arrays.copyOf(out, at + 1),
                                            Arrays.copyOfRange(out, range(0, at), out.length));
                            default -> Arrays.copyOf(out, at);
                        };
            }
            return out;
        }
    }
}
