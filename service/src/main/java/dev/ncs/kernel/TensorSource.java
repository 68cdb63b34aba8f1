package dev.ncs.kernel;

import java.lang.foreign.MemorySegment;
import java.util.function.LongConsumer;

/**
 * Where an input tensor's bytes come from: a codec's decoded JSON, or the request body itself.
 * {@link #writeTo} runs in the request's input order and never calls native code. A source that is
 * not {@link #inMemory()} may block on network reads: it is received on the request's own thread
 * before the request is admitted ({@link KernelService#receive}); one in memory is copied by the
 * native worker that runs the request (no thread hand-off for it).
 */
public interface TensorSource {

    /**
     * Whether the bytes are already in the heap, so that writing them never waits for the network.
     */
    boolean inMemory();

    /** Exact number of bytes {@link #writeTo} writes (for BYTES, the length-prefixed encoding). */
    long byteSize();

    /**
     * Writes the tensor in the protocol's encoding into {@code target} (exactly {@link #byteSize()}
     * bytes). Throws {@link InvalidInputException} when the data turns out to be malformed.
     */
    void writeTo(MemorySegment target);

    /**
     * Writes like {@link #writeTo(MemorySegment)}, telling {@code beforeWriting} the end offset of
     * the bytes about to be written before writing them (offsets only grow), so that memory can be
     * charged as the bytes arrive rather than on the size the client declared.
     */
    default void writeTo(MemorySegment target, LongConsumer beforeWriting) {
        beforeWriting.accept(target.byteSize());
        writeTo(target);
    }
}
