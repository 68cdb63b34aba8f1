package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The protocol's BYTES encoding: each element a 4-byte little-endian length, then that many bytes,
 * row-major, no padding.
 */
public final class BytesEncoding {

    private BytesEncoding() {}

    /** Checks that {@code data} holds exactly {@code count} well-framed elements. */
    public static void validate(String name, MemorySegment data, long count) {
        long offset = 0;
        long size = data.byteSize();
        for (long i = 0; i < count; i++) {
            if (size - offset < 4) {
                throw new InvalidInputException(
                        "input '"
                                + name
                                + "': BYTES element "
                                + i
                                + " has no 4-byte length ("
                                + (size - offset)
                                + " bytes left); the shape needs "
                                + count
                                + " elements");
            }
            long length = Integer.toUnsignedLong(data.get(LittleEndian.I32, offset));
            offset += 4;
            if (length > size - offset) {
                throw new InvalidInputException(
                        "input '"
                                + name
                                + "': BYTES element "
                                + i
                                + " declares "
                                + length
                                + " bytes but only "
                                + (size - offset)
                                + " remain");
            }
            offset += length;
        }
        if (offset != size) {
            throw new InvalidInputException(
                    "input '"
                            + name
                            + "': "
                            + (size - offset)
                            + " bytes follow the last of its "
                            + count
                            + " BYTES elements; binary_data_size must equal the encoded size");
        }
    }

    /**
     * Decodes well-framed elements one by one as UTF-8 strings (invalid sequences become U+FFFD).
     */
    static void forEachString(MemorySegment data, long count, Consumer<String> action) {
        long offset = 0;
        for (long i = 0; i < count; i++) {
            int length = data.get(LittleEndian.I32, offset);
            action.accept(
                    new String(
                            data.asSlice(offset + 4, length).toArray(ValueLayout.JAVA_BYTE),
                            StandardCharsets.UTF_8));
            offset += 4 + length;
        }
    }
}
