package dev.ncs.nativelib;

import java.util.List;

/**
 * One run of one kernel, as the kernel layer drives it: bind inputs and parameters, {@link
 * #prepare}, run every part (concurrently, from any platform threads), {@link #finish}, take the
 * outputs wanted, close. {@link NativeCall} is the real one; the interface is the seam that lets
 * the request's state machine be tested with calls that fail or block on cue.
 */
public interface KernelCall extends AutoCloseable {

    /**
     * An output's datatype, shape and size in bytes, known after {@link #prepare}. For BYTES the
     * shape counts elements and the size is the serialized size the kernel declared (4-byte lengths
     * included).
     */
    record OutputInfo(DataType dataType, long[] shape, long byteSize) {}

    /**
     * Binds input {@code index}; the call takes its own reference to the buffer, held until close.
     */
    void setInput(int index, DataType dataType, long[] shape, NativeBuffer buffer);

    void setParam(String key, String value);

    /**
     * Validates, allocates outputs and workspace, and returns the number of parts (1..maxParts).
     */
    int prepare(int maxParts);

    /**
     * The native memory the call needs at once (inputs, outputs, workspace), known once prepare has
     * sized the outputs, also when it then failed for want of memory; 0 before.
     */
    long bytesNeeded();

    void runPart(int part);

    void finish();

    List<OutputInfo> outputs();

    /** Takes output {@code index}; the caller owns (and must close) the returned buffer. */
    NativeBuffer takeOutput(int index);

    /**
     * Sets the cancellation flag: from any platform thread, at any time, also after close (then
     * nothing).
     */
    void cancel();

    /** Destroys the call (once); refused while a part runs. */
    @Override
    void close();
}
