package dev.ncs.kernel;

import java.lang.foreign.MemorySegment;

/**
 * Where an input tensor's bytes come from: a codec's decoded JSON, or the request body itself.
 * {@link #writeTo} runs on the request's own thread, in the request's input order, and may block on
 * network reads; it never calls native code.
 */
public interface TensorSource {

    /** Exact number of bytes {@link #writeTo} writes (for BYTES, the length-prefixed encoding). */
    long byteSize();

    /**
     * Writes the tensor in the protocol's encoding into {@code target} (exactly {@link #byteSize()}
     * bytes). Throws {@link InvalidInputException} when the data turns out to be malformed.
     */
    void writeTo(MemorySegment target);
}
