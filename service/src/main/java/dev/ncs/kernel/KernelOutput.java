package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;

/**
 * One output of a finished call. {@code data} holds the tensor in the protocol's encoding
 * (little-endian, row-major; BYTES as length-prefixed elements), packed: read it with unaligned
 * layouts. It is borrowed native memory, open to the thread that read the {@link KernelResult}'s
 * outputs until it closes the result, or for small outputs a copy on the heap.
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
