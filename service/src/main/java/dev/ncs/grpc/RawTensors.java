package dev.ncs.grpc;

import dev.ncs.inference.BytesEncoding;
import dev.ncs.kernel.DeclaredTensors;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;

/** The checks of a raw tensor's bytes once they are in memory, as for HTTP's binary tensors. */
final class RawTensors {

    private RawTensors() {}

    /**
     * Refuses BYTES that are not {@code count} well-framed elements, and BOOL bytes other than 0
     * and 1.
     */
    static void check(String name, DataType type, long count, MemorySegment data) {
        if (type == DataType.BYTES) {
            BytesEncoding.validate(name, data, count);
        } else if (type == DataType.BOOL) {
            DeclaredTensors.checkBooleans(name, data);
        }
    }
}
