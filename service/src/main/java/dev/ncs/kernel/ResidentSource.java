package dev.ncs.kernel;

import dev.ncs.nativelib.NativeBuffer;
import java.lang.foreign.MemorySegment;

/**
 * An input already received into native memory ({@link Upload}): the kernel reads its buffer as it
 * is, never a copy. The upload owns the buffer; a run takes its own reference for as long as it
 * uses it.
 */
record ResidentSource(NativeBuffer buffer) implements TensorSource {

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public long byteSize() {
        return buffer.size();
    }

    @Override
    public void writeTo(MemorySegment target) {
        throw new IllegalStateException("a received input is bound as it is, not copied");
    }
}
