package dev.ncs.nativelib;

import java.util.Arrays;
import java.util.Optional;

/** The Open Inference Protocol's datatypes with libncs's numbering ({@code ncs_dtype}). */
public enum DataType {
    BOOL(1, 1),
    UINT8(2, 1),
    UINT16(3, 2),
    UINT32(4, 4),
    UINT64(5, 8),
    INT8(6, 1),
    INT16(7, 2),
    INT32(8, 4),
    INT64(9, 8),
    FP16(10, 2),
    FP32(11, 4),
    FP64(12, 8),
    BYTES(13, 0),
    BF16(14, 2);

    private final int code;
    private final int elementSize;

    DataType(int code, int elementSize) {
        this.code = code;
        this.elementSize = elementSize;
    }

    public int code() {
        return code;
    }

    /** Bytes per element; 0 for BYTES, whose elements have variable length. */
    public int elementSize() {
        return elementSize;
    }

    public boolean isFloatingPoint() {
        return this == FP16 || this == FP32 || this == FP64 || this == BF16;
    }

    /** The datatype with that protocol name ("FP64"), case-sensitive as the protocol is. */
    public static Optional<DataType> byName(String name) {
        return Arrays.stream(values()).filter(t -> t.name().equals(name)).findFirst();
    }

    public static DataType byCode(int code) {
        return Arrays.stream(values())
                .filter(t -> t.code == code)
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown ncs_dtype " + code));
    }
}
