package dev.ncs.kernel;

import dev.ncs.execution.Workers;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeStats;
import dev.ncs.nativelib.NativeStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A request whose streamed inputs (binary tensors still in the body) have been received into native
 * memory, before it is admitted: a client that uploads slowly holds no worker slot and no queue
 * place, only the bytes it has sent. Close it when the request is done (it owns the inputs'
 * buffers).
 *
 * <p>Memory is charged as bytes arrive, not on the client's word. An input is allocated only when
 * its bytes begin (they come in order), as a deferred buffer ({@link
 * NativeMemory#allocateDeferred}) that is committed a step ahead of the bytes being read (a step
 * that grows with them, see {@link #COMMIT_STEP}). One exception keeps large uploads fast: while
 * the inputs being received on a client's word add up to no more than the buffer cache's size, an
 * input is allocated whole, which lets it reuse a cached block (fresh memory is slow to touch the
 * first time, 0.6 GB/s against 13 GB/s in this machine kind's VMs). That is the only memory a
 * declared size can hold, and it is bounded by what the cache could hold anyway.
 */
public final class Upload implements AutoCloseable {

    /**
     * How far ahead of the bytes read a deferred input is committed (one native call per step): as
     * far as has arrived, from 64 KiB up to 4 MiB, so what is charged is at most twice what arrived
     * plus 64 KiB.
     */
    static final long FIRST_COMMIT = 64L << 10;

    static final long COMMIT_STEP = 4L << 20;

    private final KernelRequest request;
    private final List<NativeBuffer> buffers;
    private final Workers workers;

    private Upload(KernelRequest request, List<NativeBuffer> buffers, Workers workers) {
        this.request = request;
        this.buffers = buffers;
        this.workers = workers;
    }

    /**
     * The request with every input in memory: the heap's as they were, the streamed ones in native
     * buffers.
     */
    public KernelRequest request() {
        return request;
    }

    /** Frees the received inputs' buffers (a run that still uses one holds its own reference). */
    @Override
    public void close() {
        if (!buffers.isEmpty()) {
            workers.control(() -> {
                buffers.forEach(NativeBuffer::close);
                return null;
            });
        }
    }

    /** Receives a request's streamed inputs; see {@link KernelService#receive}. */
    static final class Receiver {

        private final NativeMemory memory;
        private final Workers workers;
        private final long onWordLimit;
        private final AtomicLong onWord = new AtomicLong();

        /**
         * @param onWordLimit most bytes allocated whole for inputs still arriving (the buffer
         *     cache's size)
         */
        Receiver(NativeMemory memory, Workers workers, long onWordLimit) {
            this.memory = memory;
            this.workers = workers;
            this.onWordLimit = onWordLimit;
        }

        Upload receive(KernelRequest request) {
            if (request.inputs().stream().allMatch(input -> input.source().inMemory())) {
                return new Upload(request, List.of(), workers);
            }
            checkFits(request);
            List<KernelInput> inputs = new ArrayList<>(request.inputs().size());
            List<NativeBuffer> buffers = new ArrayList<>();
            Upload upload =
                    new Upload(
                            new KernelRequest(
                                    request.kernel(),
                                    request.version(),
                                    inputs,
                                    request.parameters(),
                                    request.timeout(),
                                    request.outputCheck()),
                            buffers,
                            workers);
            try {
                for (KernelInput input : request.inputs()) {
                    if (input.source().inMemory()) {
                        inputs.add(input);
                    } else {
                        inputs.add(
                                new KernelInput(
                                        input.name(),
                                        input.dataType(),
                                        input.shape(),
                                        new ResidentSource(
                                                receive(input, request.kernel(), buffers))));
                    }
                }
                return upload;
            } catch (RuntimeException | Error e) {
                upload.close();
                throw e;
            }
        }

        /**
         * Streamed inputs that could never fit the budget are refused before a byte of them is read
         * (413).
         */
        private void checkFits(KernelRequest request) {
            long needed = 0;
            for (KernelInput input : request.inputs()) {
                needed = Math.addExact(needed, input.source().byteSize());
            }
            long limit = workers.control(memory::stats).limitBytes();
            if (limit > 0 && needed > limit) {
                throw ExceedsMemoryBudgetException.inputs(needed, limit);
            }
        }

        /**
         * One input into a new buffer (added to {@code buffers} at once, so a failure frees it).
         */
        private NativeBuffer receive(KernelInput input, String kernel, List<NativeBuffer> buffers) {
            long size = input.source().byteSize();
            boolean whole = reserveOnWord(size);
            try {
                NativeBuffer buffer = workers.control(() -> allocate(input, size, whole, kernel));
                buffers.add(buffer);
                long[] committed = {whole ? size : 0};
                try (NativeBuffer.Access access = buffer.open()) {
                    input.source()
                            .writeTo(
                                    access.segment(),
                                    end -> {
                                        if (end > committed[0]) {
                                            long step =
                                                    Math.clamp(
                                                            committed[0],
                                                            FIRST_COMMIT,
                                                            COMMIT_STEP);
                                            committed[0] =
                                                    commit(
                                                            input,
                                                            buffer,
                                                            Math.min(
                                                                    size,
                                                                    Math.max(
                                                                            end,
                                                                            committed[0] + step)));
                                        }
                                    });
                }
                if (committed[0] < size) {
                    commit(input, buffer, size);
                }
                return buffer;
            } finally {
                if (whole) {
                    onWord.addAndGet(-size);
                }
            }
        }

        private boolean reserveOnWord(long size) {
            long now = onWord.get();
            while (now + size <= onWordLimit) {
                if (onWord.compareAndSet(now, now + size)) {
                    return true;
                }
                now = onWord.get();
            }
            return false;
        }

        private NativeBuffer allocate(KernelInput input, long size, boolean whole, String kernel) {
            try {
                return whole
                        ? memory.allocate(size, kernel)
                        : memory.allocateDeferred(size, kernel);
            } catch (NativeException e) {
                throw refusal(input, e, size);
            }
        }

        private long commit(KernelInput input, NativeBuffer buffer, long bytes) {
            workers.control(() -> {
                try {
                    memory.commit(buffer, bytes);
                    return null;
                } catch (NativeException e) {
                    throw refusal(input, e, bytes);
                }
            });
            return bytes;
        }

        private RuntimeException refusal(KernelInput input, NativeException e, long bytes) {
            if (e.status() != NativeStatus.OUT_OF_MEMORY) {
                return e;
            }
            NativeStats stats = memory.stats();
            return new MemoryBudgetExhaustedException(
                    "input '"
                            + input.name()
                            + "': "
                            + bytes
                            + " bytes of it do not fit in native memory now",
                    stats.limitBytes(),
                    stats.liveBytes());
        }
    }
}
