package dev.ncs.kernel;

import java.lang.foreign.MemorySegment;

/** Where an input tensor's bytes come from (a codec's decoded data). */
public interface TensorSource {

    /** Exact number of bytes {@link #writeTo} writes. */
    long byteSize();

    /** Writes the tensor, little-endian and row-major, into {@code target} (exactly {@link #byteSize()} bytes). */
    void writeTo(MemorySegment target);
}
