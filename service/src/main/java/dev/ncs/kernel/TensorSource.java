package dev.ncs.kernel;

import java.lang.foreign.MemorySegment;

/**
 * Where an input tensor's bytes come from: a codec's decoded JSON, or the request body itself.
 * {@link #writeTo} runs in the request's input order and never calls native code. A source that is
 * not {@link #inMemory()} may block on network reads and is written on the request's own thread; one
 * in memory is copied by the native worker that runs the request (no thread hand-off for it).
 */
public interface TensorSource {

    /** Whether the bytes are already in the heap, so that writing them never waits for the network. */
    boolean inMemory();

    /** Exact number of bytes {@link #writeTo} writes (for BYTES, the length-prefixed encoding). */
    long byteSize();

    /**
     * Writes the tensor in the protocol's encoding into {@code target} (exactly {@link #byteSize()}
     * bytes). Throws {@link InvalidInputException} when the data turns out to be malformed.
     */
    void writeTo(MemorySegment target);
}
