package dev.ncs.grpc;

import com.google.protobuf.ByteString;
import dev.ncs.kernel.TensorSource;
import java.lang.foreign.MemorySegment;

/** An input sent in {@code raw_input_contents}: its bytes are already in the protocol's encoding. */
record RawTensorSource(ByteString bytes) implements TensorSource {

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public long byteSize() {
        return bytes.size();
    }

    @Override
    public void writeTo(MemorySegment target) {
        target.copyFrom(MemorySegment.ofBuffer(bytes.asReadOnlyByteBuffer()));
    }
}
