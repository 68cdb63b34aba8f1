package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.util.List;

/**
 * A protocol's veto on what a call will produce, given once the call is prepared (every output's
 * datatype, shape and size are known) and before any part of it runs. A protocol that cannot
 * deliver an output as the client asked for it (too large to encode) refuses here, so no kernel
 * time and no response are spent on it; the call and its inputs are freed as after any failure.
 */
@FunctionalInterface
public interface OutputCheck {

    /** Accepts everything. */
    OutputCheck NONE = outputs -> {};

    /**
     * One output of the prepared call.
     *
     * @param byteSize its size in native memory; for BYTES the serialized size the kernel declared,
     *     each element's 4-byte length included
     */
    record PreparedOutput(String name, DataType dataType, long[] shape, long byteSize) {

        public long elementCount() {
            long count = 1;
            for (long dim : shape) {
                count *= dim;
            }
            return count;
        }
    }

    /** Throws {@link OutputRefusedException} to refuse the request; returns to let it run. */
    void check(List<PreparedOutput> outputs);
}
