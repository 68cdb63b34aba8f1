package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import tools.jackson.databind.JsonNode;

/**
 * A tensor given as JSON {@code data} (flat or nested, row-major). Construction checks every element
 * (type, range, count against the shape) so that errors are found before any native memory is taken;
 * {@link #writeTo} then writes the elements little-endian into native memory.
 */
final class JsonTensorSource implements TensorSource {

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    private final String name;
    private final DataType type;
    private final JsonNode data;
    private final long count;

    JsonTensorSource(String name, DataType type, JsonNode data, long expectedCount) {
        this.name = name;
        this.type = type;
        this.data = data;
        if (type == DataType.BYTES) {
            throw new InvalidInputException("input '" + name + "': BYTES tensors are not supported by this server yet");
        }
        long[] seen = {0};
        visit(data, node -> {
            checkElement(node, seen[0]);
            seen[0]++;
        });
        this.count = seen[0];
        if (count != expectedCount) {
            throw new InvalidInputException("input '" + name + "' has " + count + " data elements but its shape needs "
                    + expectedCount + " (the product of the dims)");
        }
    }

    @Override
    public long byteSize() {
        return count * type.elementSize();
    }

    @Override
    public void writeTo(MemorySegment target) {
        long[] index = {0};
        visit(data, node -> {
            write(target, index[0], node);
            index[0]++;
        });
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
            case FP16, BF16, FP32, FP64 -> floatingValue(node, index);
            case UINT64 -> {
                if (!node.isIntegralNumber() || node.bigIntegerValue().signum() < 0
                        || node.bigIntegerValue().compareTo(UINT64_MAX) > 0) {
                    throw bad(node, index, "an integer in [0, 2^64-1]");
                }
            }
            default -> integerValue(node, index);
        }
    }

    private void write(MemorySegment target, long index, JsonNode node) {
        switch (type) {
            case BOOL -> target.set(ValueLayout.JAVA_BYTE, index, (byte) (node.booleanValue() ? 1 : 0));
            case INT8, UINT8 -> target.set(ValueLayout.JAVA_BYTE, index, (byte) node.longValue());
            case INT16, UINT16 -> target.set(I16, index * 2, (short) node.longValue());
            case INT32, UINT32 -> target.set(I32, index * 4, (int) node.longValue());
            case INT64 -> target.set(I64, index * 8, node.longValue());
            case UINT64 -> target.set(I64, index * 8, node.bigIntegerValue().longValue());
            case FP16 -> target.set(I16, index * 2, Float.floatToFloat16((float) floatingValue(node, index)));
            case BF16 -> target.set(I16, index * 2, bfloat16((float) floatingValue(node, index)));
            case FP32 -> target.set(F32, index * 4, (float) floatingValue(node, index));
            case FP64 -> target.set(F64, index * 8, floatingValue(node, index));
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
        long[] range = switch (type) {
            case INT8 -> new long[] {Byte.MIN_VALUE, Byte.MAX_VALUE};
            case UINT8 -> new long[] {0, 0xFF};
            case INT16 -> new long[] {Short.MIN_VALUE, Short.MAX_VALUE};
            case UINT16 -> new long[] {0, 0xFFFF};
            case INT32 -> new long[] {Integer.MIN_VALUE, Integer.MAX_VALUE};
            case UINT32 -> new long[] {0, 0xFFFF_FFFFL};
            default -> new long[] {Long.MIN_VALUE, Long.MAX_VALUE};
        };
        if (!node.isIntegralNumber() || !node.canConvertToLong() || node.longValue() < range[0]
                || node.longValue() > range[1]) {
            throw bad(node, index, "an integer in [" + range[0] + ", " + range[1] + "]");
        }
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
        return new InvalidInputException("input '" + name + "': data element " + index + " is " + shown + ", but a "
                + type + " element must be " + expected);
    }
}
