package dev.ncs.grpc;

import com.google.protobuf.ByteString;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;

/** An input of {@code raw_input_contents} already on the heap (a message parsed whole). */
record RawTensorSource(ByteString bytes, String name, DataType type, long count)
        implements TensorSource {

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
        RawTensors.check(name, type, count, target);
    }
}
