package dev.ncs.kernel;

import dev.ncs.execution.Workers;
import dev.ncs.nativelib.KernelCall;
import dev.ncs.nativelib.NativeBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A finished call's outputs, still in native memory. The thread that first asks for {@link
 * #outputs()} opens their memory to itself and must be the one that closes the result; closing
 * releases the buffers on a platform thread.
 */
final class NativeOutputs implements KernelResult {

    private final KernelMetadata kernel;
    private final List<KernelCall.OutputInfo> infos;
    private final List<NativeBuffer> buffers;
    private final Workers workers;
    private List<NativeBuffer.Access> accesses;
    private List<KernelOutput> outputs;
    private boolean closed;

    NativeOutputs(
            KernelMetadata kernel,
            List<KernelCall.OutputInfo> infos,
            List<NativeBuffer> buffers,
            Workers workers) {
        this.kernel = kernel;
        this.infos = infos;
        this.buffers = buffers;
        this.workers = workers;
    }

    @Override
    public List<KernelOutput> outputs() {
        if (closed) {
            throw new IllegalStateException(
                    "the outputs of '" + kernel.name() + "' were already released");
        }
        if (outputs == null) {
            List<NativeBuffer.Access> opened = new ArrayList<>(buffers.size());
            accesses = opened; // closed by close(), however far this got
            List<KernelOutput> list = new ArrayList<>(buffers.size());
            for (int i = 0; i < buffers.size(); i++) {
                NativeBuffer.Access access = buffers.get(i).open();
                opened.add(access);
                KernelCall.OutputInfo info = infos.get(i);
                list.add(
                        new KernelOutput(
                                kernel.outputs().get(i).name(),
                                info.dataType(),
                                info.shape(),
                                access.segment()));
            }
            outputs = List.copyOf(list);
        }
        return outputs;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (accesses != null) {
            accesses.forEach(
                    NativeBuffer.Access
                            ::close); // on another thread this throws, and nothing is closed
        }
        closed = true;
        workers.control(() -> {
            buffers.forEach(NativeBuffer::close);
            return null;
        });
    }
}
