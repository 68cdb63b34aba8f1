package dev.ncs.grpc;

import com.google.protobuf.ByteString;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import inference.GrpcService.InferTensorContents;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * An input sent in the typed {@code contents} fields, one field per datatype family (INT8..INT32 in
 * {@code int_contents}, UINT8..UINT32 in {@code uint_contents}, ...), written in the protocol's
 * encoding: little-endian, row-major; BYTES as 4-byte length and bytes. Values out of the
 * datatype's range are refused, not wrapped.
 */
final class TypedTensorSource implements TensorSource {

    private static final ValueLayout.OfShort I16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final DataType type;
    private final InferTensorContents contents;
    private final long byteSize;

    private TypedTensorSource(
            String name, DataType type, InferTensorContents contents, long byteSize) {
        this.name = name;
        this.type = type;
        this.contents = contents;
        this.byteSize = byteSize;
    }

    /**
     * The source for input {@code name}, checked: its datatype's field holds {@code count} values,
     * no other field any.
     */
    static TypedTensorSource of(
            String name, DataType type, InferTensorContents contents, long count) {
        String field = field(type);
        if (field == null) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "' is "
                            + type
                            + ", which contents has no field for: "
                            + "send it in raw_input_contents");
        }
        int given = values(type, contents);
        String other = otherField(type, contents);
        if (other != null) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "' is "
                            + type
                            + ": its values belong in contents."
                            + field
                            + ", but contents has "
                            + other);
        }
        if (given != count) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "' has "
                            + given
                            + " values in contents."
                            + field
                            + " but its shape needs "
                            + count);
        }
        long size = count * type.elementSize();
        if (type == DataType.BYTES) {
            size = 0;
            for (ByteString element : contents.getBytesContentsList()) {
                size += 4L + element.size();
            }
        }
        return new TypedTensorSource(name, type, contents, size);
    }

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public void writeTo(MemorySegment target) {
        switch (type) {
            case BOOL -> {
                List<Boolean> values = contents.getBoolContentsList();
                for (int i = 0; i < values.size(); i++) {
                    target.set(ValueLayout.JAVA_BYTE, i, (byte) (values.get(i) ? 1 : 0));
                }
            }
            case INT8, INT16, INT32 -> {
                List<Integer> values = contents.getIntContentsList();
                for (int i = 0; i < values.size(); i++) {
                    writeInt(target, i, values.get(i), false);
                }
            }
            case UINT8, UINT16, UINT32 -> {
                List<Integer> values = contents.getUintContentsList();
                for (int i = 0; i < values.size(); i++) {
                    writeInt(target, i, values.get(i), true);
                }
            }
            case INT64 -> {
                List<Long> values = contents.getInt64ContentsList();
                for (int i = 0; i < values.size(); i++) {
                    target.set(I64, 8L * i, values.get(i));
                }
            }
            case UINT64 -> {
                List<Long> values = contents.getUint64ContentsList();
                for (int i = 0; i < values.size(); i++) {
                    target.set(I64, 8L * i, values.get(i));
                }
            }
            case FP32 -> {
                List<Float> values = contents.getFp32ContentsList();
                for (int i = 0; i < values.size(); i++) {
                    target.set(F32, 4L * i, values.get(i));
                }
            }
            case FP64 -> {
                List<Double> values = contents.getFp64ContentsList();
                for (int i = 0; i < values.size(); i++) {
                    target.set(F64, 8L * i, values.get(i));
                }
            }
            case BYTES -> {
                long offset = 0;
                for (ByteString element : contents.getBytesContentsList()) {
                    target.set(I32, offset, element.size());
                    MemorySegment.copy(
                            MemorySegment.ofBuffer(element.asReadOnlyByteBuffer()),
                            0,
                            target,
                            offset + 4,
                            element.size());
                    offset += 4L + element.size();
                }
            }
            default -> throw new IllegalStateException("no contents field for " + type);
        }
    }

    /**
     * An INT8..INT32 or UINT8..UINT32 value (unsigned ones arrive as the bits of a uint32),
     * range-checked.
     */
    private void writeInt(MemorySegment target, int index, int bits, boolean unsigned) {
        long value = unsigned ? Integer.toUnsignedLong(bits) : bits;
        int size = type.elementSize();
        long min = unsigned ? 0 : -(1L << (8 * size - 1));
        long max = unsigned ? (1L << (8 * size)) - 1 : (1L << (8 * size - 1)) - 1;
        if (value < min || value > max) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "': value "
                            + value
                            + " at index "
                            + index
                            + " is out of range for "
                            + type
                            + " ["
                            + min
                            + ", "
                            + max
                            + "]");
        }
        switch (size) {
            case 1 -> target.set(ValueLayout.JAVA_BYTE, index, (byte) value);
            case 2 -> target.set(I16, 2L * index, (short) value);
            default -> target.set(I32, 4L * index, (int) value);
        }
    }

    /**
     * The contents field that carries {@code type}, or null for the datatypes that only travel raw.
     */
    private static String field(DataType type) {
        return switch (type) {
            case BOOL -> "bool_contents";
            case INT8, INT16, INT32 -> "int_contents";
            case INT64 -> "int64_contents";
            case UINT8, UINT16, UINT32 -> "uint_contents";
            case UINT64 -> "uint64_contents";
            case FP32 -> "fp32_contents";
            case FP64 -> "fp64_contents";
            case BYTES -> "bytes_contents";
            case FP16, BF16 -> null;
        };
    }

    private static int values(DataType type, InferTensorContents contents) {
        return switch (type) {
            case BOOL -> contents.getBoolContentsCount();
            case INT8, INT16, INT32 -> contents.getIntContentsCount();
            case INT64 -> contents.getInt64ContentsCount();
            case UINT8, UINT16, UINT32 -> contents.getUintContentsCount();
            case UINT64 -> contents.getUint64ContentsCount();
            case FP32 -> contents.getFp32ContentsCount();
            case FP64 -> contents.getFp64ContentsCount();
            case BYTES -> contents.getBytesContentsCount();
            case FP16, BF16 -> 0;
        };
    }

    /** The name of a field other than {@code type}'s that holds values, or null. */
    private static String otherField(DataType type, InferTensorContents contents) {
        String own = field(type);
        int[] counts = {
            contents.getBoolContentsCount(),
            contents.getIntContentsCount(),
            contents.getInt64ContentsCount(),
            contents.getUintContentsCount(),
            contents.getUint64ContentsCount(),
            contents.getFp32ContentsCount(),
            contents.getFp64ContentsCount(),
            contents.getBytesContentsCount()
        };
        String[] names = {
            "bool_contents",
            "int_contents",
            "int64_contents",
            "uint_contents",
            "uint64_contents",
            "fp32_contents",
            "fp64_contents",
            "bytes_contents"
        };
        for (int i = 0; i < names.length; i++) {
            if (counts[i] > 0 && !names[i].equals(own)) {
                return names[i];
            }
        }
        return null;
    }
}
