package dev.ncs.inference;

import dev.ncs.kernel.DeclaredTensors;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;
import java.util.function.LongConsumer;

/**
 * An input carried in the binary part of the body: read straight from the body into native memory.
 */
final class BinaryTensorSource implements TensorSource {

    private final RequestBody body;
    private final String name;
    private final DataType type;
    private final long size;
    private final long count;
    private final boolean last;

    /**
     * @param last whether this is the body's last binary tensor, after which nothing may follow
     */
    BinaryTensorSource(
            RequestBody body, String name, DataType type, long size, long count, boolean last) {
        this.body = body;
        this.name = name;
        this.type = type;
        this.size = size;
        this.count = count;
        this.last = last;
    }

    @Override
    public boolean inMemory() {
        return false;
    }

    @Override
    public long byteSize() {
        return size;
    }

    @Override
    public void writeTo(MemorySegment target) {
        writeTo(target, end -> {});
    }

    @Override
    public void writeTo(MemorySegment target, LongConsumer beforeWriting) {
        body.readInto(
                target, "input '" + name + "' (binary_data_size " + size + ")", beforeWriting);
        if (type == DataType.BYTES) {
            BytesEncoding.validate(name, target, count);
        }
        if (type == DataType.BOOL) {
            DeclaredTensors.checkBooleans(name, target);
        }
        if (last) {
            body.expectEnd();
        }
    }
}
