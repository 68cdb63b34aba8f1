package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;

/**
 * One output of a finished call. {@code data} is borrowed native memory holding the tensor in the
 * protocol's encoding (little-endian, row-major; BYTES as length-prefixed elements), open to the thread that read the
 * {@link KernelResult}'s outputs until it closes the result.
 */
public record KernelOutput(String name, DataType dataType, long[] shape, MemorySegment data) {

    public long elementCount() {
        long count = 1;
        for (long dim : shape) {
            count *= dim;
        }
        return count;
    }
}
