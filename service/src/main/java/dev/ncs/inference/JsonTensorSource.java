package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.util.function.LongConsumer;
import tools.jackson.databind.JsonNode;

/**
 * A tensor given as JSON {@code data} (flat or nested, row-major). Construction checks every
 * element (type, range, count against the shape) so that errors are found before any native memory
 * is taken; {@link #writeTo} then writes the elements little-endian into native memory.
 */
final class JsonTensorSource implements TensorSource {

    private static final BigInteger UINT64_MAX =
            BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    private final String name;
    private final DataType type;
    private final long count;
    private final long bytesSize;
    private final byte[] encoded;

    /**
     * Checks {@code data} and encodes it at once into the protocol's binary form, so the JSON tree
     * (several times the size of its text) can be dropped as soon as the request is decoded. The
     * encoded bytes are told to {@code charge} before they are allocated (they can be four times
     * the text: "0," is an FP64).
     */
    JsonTensorSource(
            String name,
            DataType type,
            JsonNode data,
            long[] shape,
            long expectedCount,
            LongConsumer charge) {
        this.name = name;
        this.type = type;
        checkStructure(name, data, shape);
        long[] seen = {0, 0};
        visit(
                data,
                node -> {
                    checkElement(node, seen[0]);
                    seen[0]++;
                    if (type == DataType.BYTES) {
                        seen[1] += 4 + utf8(node).length;
                    }
                });
        this.count = seen[0];
        this.bytesSize = seen[1];
        if (count != expectedCount) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "' has "
                            + count
                            + " data elements but its shape needs "
                            + expectedCount
                            + " (the product of the dims)");
        }
        if (byteSize() > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException(
                    "input '" + name + "' is too large to send as JSON: send it in binary");
        }
        charge.accept(byteSize());
        this.encoded = new byte[(int) byteSize()];
        encode(data, MemorySegment.ofArray(encoded));
    }

    @Override
    public long byteSize() {
        return type == DataType.BYTES ? bytesSize : count * type.elementSize();
    }

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public void writeTo(MemorySegment target) {
        MemorySegment.copy(MemorySegment.ofArray(encoded), 0, target, 0, encoded.length);
    }

    private void encode(JsonNode data, MemorySegment target) {
        if (type == DataType.BYTES) {
            long[] offset = {0};
            visit(
                    data,
                    node -> {
                        byte[] bytes = utf8(node);
                        target.set(LittleEndian.I32, offset[0], bytes.length);
                        MemorySegment.copy(
                                MemorySegment.ofArray(bytes),
                                0,
                                target,
                                offset[0] + 4,
                                bytes.length);
                        offset[0] += 4 + bytes.length;
                    });
            return;
        }
        long[] index = {0};
        visit(
                data,
                node -> {
                    write(target, index[0], node);
                    index[0]++;
                });
    }

    /**
     * Data is either flat (an array of elements, row-major) or nested exactly as deep as the shape,
     * each level as long as its dimension. Ragged or half-nested data is refused rather than
     * guessed at.
     */
    private static void checkStructure(String name, JsonNode data, long[] shape) {
        if (!data.isArray()) {
            return;
        }
        boolean nested = !data.isEmpty() && data.get(0).isArray();
        if (nested) {
            checkNested(name, data, shape, 0);
            return;
        }
        for (JsonNode element : data) {
            if (element.isArray()) {
                throw new InvalidInputException(
                        "input '"
                                + name
                                + "': \"data\" mixes flat elements and nested arrays; "
                                + "send it flat, or nested exactly as the shape "
                                + java.util.Arrays.toString(shape));
            }
        }
    }

    private static void checkNested(String name, JsonNode node, long[] shape, int depth) {
        if (depth == shape.length) {
            if (node.isArray()) {
                throw new InvalidInputException(
                        "input '"
                                + name
                                + "': \"data\" is nested deeper than its shape "
                                + java.util.Arrays.toString(shape)
                                + " has dimensions");
            }
            return;
        }
        if (!node.isArray() || node.size() != shape[depth]) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "': nested \"data\" must match the shape "
                            + java.util.Arrays.toString(shape)
                            + ", but a level-"
                            + depth
                            + " array has "
                            + (node.isArray() ? node.size() + " elements" : "a single value")
                            + " instead of "
                            + shape[depth]);
        }
        for (JsonNode child : node) {
            checkNested(name, child, shape, depth + 1);
        }
    }

    private interface Visitor {
        void leaf(JsonNode node);
    }

    private static void visit(JsonNode node, Visitor visitor) {
        if (node.isArray()) {
            for (JsonNode child : node) {
                visit(child, visitor);
            }
        } else {
            visitor.leaf(node);
        }
    }

    private void checkElement(JsonNode node, long index) {
        switch (type) {
            case BOOL -> {
                if (!node.isBoolean()) {
                    throw bad(node, index, "true or false");
                }
            }
            case BYTES -> {
                if (!node.isString()) {
                    throw bad(node, index, "a string");
                }
            }
            case FP16, BF16, FP32, FP64 -> floatingValue(node, index);
            case UINT64 -> {
                if (!node.isIntegralNumber()
                        || node.bigIntegerValue().signum() < 0
                        || node.bigIntegerValue().compareTo(UINT64_MAX) > 0) {
                    throw bad(node, index, "an integer in [0, 2^64-1]");
                }
            }
            default -> integerValue(node, index);
        }
    }

    private void write(MemorySegment target, long index, JsonNode node) {
        switch (type) {
            case BOOL ->
                    target.set(ValueLayout.JAVA_BYTE, index, (byte) (node.booleanValue() ? 1 : 0));
            case INT8, UINT8 -> target.set(ValueLayout.JAVA_BYTE, index, (byte) node.longValue());
            case INT16, UINT16 -> target.set(LittleEndian.I16, index * 2, (short) node.longValue());
            case INT32, UINT32 -> target.set(LittleEndian.I32, index * 4, (int) node.longValue());
            case INT64 -> target.set(LittleEndian.I64, index * 8, node.longValue());
            case UINT64 ->
                    target.set(LittleEndian.I64, index * 8, node.bigIntegerValue().longValue());
            case FP16 ->
                    target.set(
                            LittleEndian.I16,
                            index * 2,
                            Float.floatToFloat16((float) floatingValue(node, index)));
            case BF16 ->
                    target.set(
                            LittleEndian.I16,
                            index * 2,
                            bfloat16((float) floatingValue(node, index)));
            case FP32 ->
                    target.set(LittleEndian.F32, index * 4, (float) floatingValue(node, index));
            case FP64 -> target.set(LittleEndian.F64, index * 8, floatingValue(node, index));
            default -> throw new IllegalStateException("no JSON encoding for " + type);
        }
    }

    private double floatingValue(JsonNode node, long index) {
        if (node.isNumber()) {
            return node.doubleValue();
        }
        if (node.isString()) {
            switch (node.stringValue()) {
                case "NaN", "nan":
                    return Double.NaN;
                case "Infinity", "+Infinity", "inf", "+inf":
                    return Double.POSITIVE_INFINITY;
                case "-Infinity", "-inf":
                    return Double.NEGATIVE_INFINITY;
                default:
                    break;
            }
        }
        throw bad(node, index, "a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
    }

    private void integerValue(JsonNode node, long index) {
        long[] range =
                switch (type) {
                    case INT8 -> new long[] {Byte.MIN_VALUE, Byte.MAX_VALUE};
                    case UINT8 -> new long[] {0, 0xFF};
                    case INT16 -> new long[] {Short.MIN_VALUE, Short.MAX_VALUE};
                    case UINT16 -> new long[] {0, 0xFFFF};
                    case INT32 -> new long[] {Integer.MIN_VALUE, Integer.MAX_VALUE};
                    case UINT32 -> new long[] {0, 0xFFFF_FFFFL};
                    default -> new long[] {Long.MIN_VALUE, Long.MAX_VALUE};
                };
        if (!node.isIntegralNumber()
                || !node.canConvertToLong()
                || node.longValue() < range[0]
                || node.longValue() > range[1]) {
            throw bad(node, index, "an integer in [" + range[0] + ", " + range[1] + "]");
        }
    }

    private static byte[] utf8(JsonNode node) {
        return node.stringValue().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    private static short bfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    private InvalidInputException bad(JsonNode node, long index, String expected) {
        String shown = node.toString();
        if (shown.length() > 40) {
            shown = shown.substring(0, 40) + "...";
        }
        return new InvalidInputException(
                "input '"
                        + name
                        + "': data element "
                        + index
                        + " is "
                        + shown
                        + ", but a "
                        + type
                        + " element must be "
                        + expected);
    }
}
