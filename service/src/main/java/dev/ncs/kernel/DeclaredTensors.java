package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.NativeCall;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;

/**
 * The checks every protocol's codec applies to what a client declares about its tensors and
 * parameters (shapes, sizes, the {@code timeout}) and to the bytes it sends (BOOL), so that HTTP
 * and gRPC refuse the same requests with the same words. Each refusal is an {@link
 * InvalidInputException} (400, INVALID_ARGUMENT).
 */
public final class DeclaredTensors {

    /**
     * Request parameters the protocol defines for itself: never passed to a kernel (nor are those
     * starting with {@code triton_}).
     */
    public static final Set<String> RESERVED_PARAMETERS =
            Set.of(
                    "sequence_id",
                    "sequence_start",
                    "sequence_end",
                    "priority",
                    "timeout",
                    "headers",
                    "binary_data_output");

    private DeclaredTensors() {}

    /** Whether a request parameter goes to the kernel (not one the protocol reserves). */
    public static boolean isKernelParameter(String key) {
        return !RESERVED_PARAMETERS.contains(key) && !key.startsWith("triton_");
    }

    /** Refuses more dimensions than the native layer supports. */
    public static void checkRank(String input, int rank) {
        if (rank > NativeCall.MAX_RANK) {
            throw new InvalidInputException(
                    "input '"
                            + input
                            + "' has "
                            + rank
                            + " dimensions; at most "
                            + NativeCall.MAX_RANK
                            + " are supported");
        }
    }

    /** Refuses a negative dimension {@code d} of an input's shape. */
    public static void checkDimension(String input, int d, long dim) {
        if (dim < 0) {
            throw new InvalidInputException(
                    "dimension "
                            + d
                            + " of input '"
                            + input
                            + "' is "
                            + dim
                            + "; dimensions must be >= 0");
        }
    }

    /**
     * The number of elements of a shape, refused when it (or its byte size) cannot be addressed in
     * 64 bits.
     */
    public static long elementCount(String input, long[] shape, DataType type) {
        try {
            long count = 1;
            for (long dim : shape) {
                count = Math.multiplyExact(count, dim);
            }
            Math.multiplyExact(count, Math.max(1, type.elementSize()));
            return count;
        } catch (ArithmeticException e) {
            throw new InvalidInputException(
                    "shape "
                            + Arrays.toString(shape)
                            + " of input '"
                            + input
                            + "' has more elements than can be addressed (the product of the dims"
                            + " overflows 64 bits)");
        }
    }

    /**
     * Checks the byte size a client gave for an input's data ({@code field}: the protocol's name
     * for it) against its element count: exact for fixed-size types; for BYTES at least 4 bytes per
     * element (the framing itself is checked as the bytes arrive).
     */
    public static void checkByteSize(
            String field, String input, DataType type, long count, long size) {
        if (type == DataType.BYTES && size / 4 < count) {
            throw new InvalidInputException(
                    field
                            + " of input '"
                            + input
                            + "' is "
                            + size
                            + " bytes, too small for "
                            + count
                            + " BYTES elements of at least 4 bytes each");
        }
        if (type != DataType.BYTES && size != count * type.elementSize()) {
            throw new InvalidInputException(
                    field
                            + " of input '"
                            + input
                            + "' is "
                            + size
                            + " bytes, but "
                            + count
                            + " "
                            + type
                            + " elements take "
                            + count * type.elementSize()
                            + " bytes");
        }
    }

    /** Triton's {@code timeout} (microseconds, already checked non-negative), saturated. */
    public static Duration timeoutFromMicros(long micros) {
        return Duration.ofNanos(micros > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : micros * 1000);
    }

    /**
     * The protocol's BOOL is one byte, 0 or 1: anything else in an input's bytes is refused, not
     * passed on as "true".
     */
    public static void checkBooleans(String input, MemorySegment data) {
        for (long i = 0; i < data.byteSize(); i++) {
            byte b = data.get(ValueLayout.JAVA_BYTE, i);
            if (b != 0 && b != 1) {
                throw new InvalidInputException(
                        "input '"
                                + input
                                + "': BOOL element "
                                + i
                                + " is byte "
                                + b
                                + "; BOOL elements must be 0 or 1");
            }
        }
    }
}
