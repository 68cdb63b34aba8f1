package dev.ncs.kernel;

import dev.ncs.execution.Workers;
import dev.ncs.nativelib.KernelCall;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeStats;
import dev.ncs.nativelib.NativeStatus;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * One request's trip through the kernel layer, driven from the request's own thread.
 *
 * <ol>
 *   <li>Inputs that streamed from the network arrive already in native memory ({@link Upload}): the
 *       run takes its own reference to each; inputs in the heap (decoded JSON) are left for the
 *       worker.
 *   <li>The request is <em>queued</em>: one task goes to the workers. When a worker takes it up it
 *       is <em>started</em> (or, if a deadline or a hang-up came first, <em>withdrawn</em>: exactly
 *       one of the two wins, {@link #state}). The task allocates and fills in-memory inputs,
 *       creates the call, binds inputs and parameters, prepares it (once more in one part if,
 *       split, it needs more than the whole budget: each part packs its own scratch) and lets the
 *       request's {@link OutputCheck} veto its outputs; a call of one part runs, is collected and
 *       cleaned up in the same task, so a small request costs one hand-off to a worker.
 *   <li>A call of several parts returns to the request's thread, which submits them and waits for
 *       all of them (failed or not: the call and its buffers are freed only when none runs); the
 *       part that ends last collects the outputs and cleans up.
 * </ol>
 *
 * <p>A deadline or a hang-up stops the request wherever it is: a queued request is withdrawn and
 * never runs; a running call has its cancel flag set ({@link #stop}); the request's thread answers
 * once no native work of it runs. Every path frees the call and the inputs exactly once, on a
 * platform thread.
 *
 * <p>Native work runs on {@link Workers} and calls come from a factory: the two seams that let
 * tests drive every race by hand. Fields are handed between threads through futures, which order
 * the accesses; the ones another thread reads while the request runs are volatile.
 */
final class RequestRun {

    private static final int QUEUED = 0;
    private static final int STARTED = 1;
    private static final int WITHDRAWN = 2;

    /** Outputs up to this size in all are copied to the heap (see {@link #collect}). */
    static final long HEAP_OUTPUTS_BYTES = 64 * 1024;

    /** What the first task returns when it was withdrawn before a worker took it up. */
    private static final Object NOT_RUN = new Object();

    private final KernelMetadata kernel;
    private final KernelRequest request;
    private final int[] slots;
    private final Workers.Ticket ticket;
    private final Cancellation cancellation;
    private final Duration timeout;
    private final Workers workers;
    private final NativeMemory memory;
    private final Function<String, KernelCall> calls;
    private final KernelMeters meters;

    /** Whether a worker took the request up or it was withdrawn while queued; exactly one wins. */
    private final AtomicInteger state = new AtomicInteger(QUEUED);

    private volatile Future<Object> firstTask;
    private volatile KernelCall call;
    private volatile boolean stopRequested;

    /** Set by a part that failed, so the last part to end does not finish the call. */
    private volatile boolean partFailed;

    /**
     * When the kernel's outputs were taken (before the call and inputs are freed), for its timer.
     */
    private volatile long finishedAt;

    private volatile long startedAt;
    private List<NativeBuffer> inputs = List.of();

    /** Set by the worker task that freed the call and the inputs, before its future completes. */
    private volatile boolean cleanedUp;

    private long deadline = Long.MAX_VALUE;

    RequestRun(
            KernelMetadata kernel,
            KernelRequest request,
            int[] slots,
            Workers.Ticket ticket,
            Cancellation cancellation,
            Duration timeout,
            Workers workers,
            NativeMemory memory,
            Function<String, KernelCall> calls,
            KernelMeters meters) {
        this.kernel = kernel;
        this.request = request;
        this.slots = slots;
        this.ticket = ticket;
        this.cancellation = cancellation;
        this.timeout = timeout;
        this.workers = workers;
        this.memory = memory;
        this.calls = calls;
        this.meters = meters;
    }

    /**
     * Runs the request; the caller owns the result and must close it. On failure nothing stays
     * allocated.
     */
    KernelResult execute() {
        Outcome outcome = Outcome.ERROR;
        try {
            if (!request.inputs().stream().allMatch(input -> input.source().inMemory())) {
                throw new IllegalArgumentException(
                        "a request's streamed inputs are received before it runs");
            }
            if (!timeout.isZero()) {
                deadline = System.nanoTime() + timeout.toNanos();
            }
            ticket.queued();
            cancellation.onCancel(this::abandon);
            Object first = awaitFirst();
            KernelResult result =
                    first instanceof KernelResult done ? done : runParts((Integer) first);
            outcome = Outcome.SUCCESS;
            return result;
        } catch (NativeException e) {
            if (e.status() == NativeStatus.CANCELLED && cancellation.reason() != null) {
                outcome = Outcome.CLIENT_DISCONNECTED;
                meters.disconnectRejections.increment();
                throw disconnected("while the kernel ran");
            }
            outcome = outcome(e.status());
            throw e;
        } catch (MemoryBudgetExhaustedException e) {
            outcome = Outcome.OUT_OF_MEMORY;
            meters.memoryRejections.increment();
            throw e;
        } catch (ExceedsMemoryBudgetException e) {
            outcome = Outcome.OUT_OF_MEMORY;
            throw e;
        } catch (InvalidInputException | OutputRefusedException e) {
            outcome = Outcome.INVALID_ARGUMENT;
            throw e;
        } catch (DeadlineExceededException e) {
            outcome = Outcome.DEADLINE_EXCEEDED;
            meters.deadlineRejections.increment();
            throw e;
        } catch (ClientDisconnectedException e) {
            outcome = Outcome.CLIENT_DISCONNECTED;
            meters.disconnectRejections.increment();
            throw e;
        } finally {
            // The kernel's time ends with its outputs: freeing the inputs afterwards (munmap, about
            // 60 ms
            // per GB here) is the counterpart of the upload, not counted.
            long endedAt =
                    finishedAt != 0 && outcome == Outcome.SUCCESS ? finishedAt : System.nanoTime();
            cancellation.onCancel(() -> {});
            if (!cleanedUp) {
                workers.control(this::cleanUp);
            }
            if (startedAt != 0) {
                meters.kernelTime(kernel.name(), outcome, endedAt - startedAt);
            }
        }
    }

    /**
     * Queues the first task and waits for it within the deadline. Returns the result, or the number
     * of parts.
     */
    private Object awaitFirst() {
        Future<Object> first = workers.submit(this::start);
        firstTask = first;
        if (state.get() == WITHDRAWN) {
            first.cancel(false); // a hang-up withdrew the request before the task was known
        }
        try {
            if (!Workers.awaitUntil(first, deadline)) {
                if (withdraw()) {
                    first.cancel(false);
                    throw deadlinePassed("while waiting for a worker");
                }
                try {
                    stop();
                } finally {
                    closeIfResult(
                            awaitRegardless(
                                    first)); // nothing of the request may run after it answers
                }
                throw deadlinePassed("while the kernel ran");
            }
            Object step = Workers.await(first);
            if (step == NOT_RUN) {
                throwIfCancelled("while waiting for a worker");
                throw new IllegalStateException("request withdrawn without a cancellation");
            }
            if (cancellation.reason() != null) {
                closeIfResult(step);
                throw disconnected("while the kernel ran");
            }
            return step;
        } catch (CancellationException e) {
            throwIfCancelled("while waiting for a worker");
            throw e;
        }
    }

    /**
     * The first task, on a worker: unless withdrawn, takes the request up, makes and prepares the
     * call, and for a call of one part runs, collects and cleans up too. Returns {@link #NOT_RUN},
     * the result, or the number of parts (then the call stays for the request's thread to run).
     */
    private Object start() {
        if (!state.compareAndSet(QUEUED, STARTED)) {
            return NOT_RUN;
        }
        boolean handedOn = false;
        try {
            if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline > 0) {
                throw deadlinePassed("while waiting for a worker");
            }
            ticket.started();
            inputs = allocateInputs();
            writeInputs();
            startedAt =
                    System.nanoTime(); // the kernel's time: copying the inputs in is not part of it
            KernelCall made = makeCall();
            int parts;
            try {
                throwIfStopped();
                parts = made.prepare(workers.threads());
            } catch (NativeException e) {
                if (workers.threads() == 1
                        || e.status() != NativeStatus.OUT_OF_MEMORY
                        || !exceedsWholeBudget(made, memory.stats().limitBytes())) {
                    throw e;
                }
                // Each part packs its own scratch: split, the call can need more than the whole
                // budget where
                // one part fits it. A failed prepare leaves only destroy, so the one-part try is a
                // new call.
                made.close();
                call = null;
                made = makeCall();
                throwIfStopped();
                parts = made.prepare(1);
            }
            checkOutputs(made);
            if (parts > 1) {
                handedOn = true;
                return parts;
            }
            made.runPart(0);
            return collect();
        } catch (NativeException e) {
            throw budgetRefusal(e);
        } finally {
            if (!handedOn) {
                cleanUp();
                cleanedUp = true;
            }
        }
    }

    /**
     * A deadline or a hang-up came while the worker had the request: no more work (prepare ignores
     * the flag).
     */
    private void throwIfStopped() {
        if (stopRequested) {
            throw new NativeException(
                    NativeStatus.CANCELLED, "kernel '" + kernel.name() + "' stopped before it ran");
        }
    }

    /**
     * A new call with the request's inputs and parameters bound, the one {@link #stop} will cancel.
     */
    private KernelCall makeCall() {
        KernelCall made = calls.apply(kernel.name());
        call = made;
        if (stopRequested) {
            made.cancel(); // a deadline or hang-up came while the call was being made
        }
        for (int r = 0; r < slots.length; r++) {
            KernelInput input = request.inputs().get(r);
            made.setInput(slots[r], input.dataType(), input.shape(), inputs.get(r));
        }
        request.parameters().forEach(made::setParam);
        return made;
    }

    /**
     * The protocol's veto on the prepared call's outputs, before any part runs (a refusal frees all
     * as any failure).
     */
    private void checkOutputs(KernelCall prepared) {
        List<KernelCall.OutputInfo> infos = prepared.outputs();
        List<OutputCheck.PreparedOutput> outputs = new ArrayList<>(infos.size());
        for (int i = 0; i < infos.size(); i++) {
            KernelCall.OutputInfo info = infos.get(i);
            outputs.add(
                    new OutputCheck.PreparedOutput(
                            kernel.outputs().get(i).name(),
                            info.dataType(),
                            info.shape(),
                            info.byteSize()));
        }
        request.outputCheck().check(outputs);
    }

    /**
     * Whether a call refused for want of memory needs more than the whole budget ({@code limit}) at
     * once.
     */
    private static boolean exceedsWholeBudget(KernelCall refused, long limit) {
        return limit > 0 && Long.compareUnsigned(refused.bytesNeeded(), limit) > 0;
    }

    /**
     * Runs the parts of a split call on the workers; the part that ends last, if none failed and
     * the request was not stopped, also collects the outputs and frees the call, so finishing never
     * queues behind other requests. Every part is waited for, failed or not: the call and its
     * buffers are freed only when none runs.
     */
    private KernelResult runParts(int parts) {
        AtomicInteger running = new AtomicInteger(parts);
        List<Future<KernelResult>> futures = new ArrayList<>(parts);
        for (int part = 0; part < parts; part++) {
            int index = part;
            futures.add(workers.submit(() -> runPart(index, running)));
        }
        Throwable failure = null;
        KernelResult result = null;
        boolean late = false;
        for (Future<KernelResult> future : futures) {
            if (!late && !awaitUntilQuietly(future)) {
                late = true;
                try {
                    stop();
                } catch (Throwable e) {
                    failure = moreTelling(failure, e);
                }
            }
            try {
                KernelResult done = Workers.await(future);
                result = done != null ? done : result;
            } catch (Throwable e) {
                failure = moreTelling(failure, e);
            }
        }
        if (failure == null && !late && cancellation.reason() == null && result != null) {
            return result;
        }
        closeIfResult(result);
        if (failure instanceof Error error) {
            throw error;
        }
        if (late) {
            throw deadlinePassed("while the kernel ran");
        }
        throwIfCancelled("while the kernel ran");
        if (failure instanceof NativeException nativeFailure) {
            throw workers.control(() -> budgetRefusal(nativeFailure));
        }
        if (failure instanceof RuntimeException runtimeFailure) {
            throw runtimeFailure;
        }
        throw new IllegalStateException(
                "the parts of '" + kernel.name() + "' ended without a result");
    }

    /** Whether {@code part} ended (well or not) before the deadline. */
    private boolean awaitUntilQuietly(Future<KernelResult> part) {
        try {
            return Workers.awaitUntil(part, deadline);
        } catch (RuntimeException | Error e) {
            return true; // it ended, failing: the await that follows collects its failure
        }
    }

    /**
     * One part (worker); the last to end finishes the call unless a part failed or the request was
     * stopped.
     */
    private KernelResult runPart(int part, AtomicInteger running) {
        KernelCall split = call;
        try {
            split.runPart(part);
        } catch (Throwable e) {
            partFailed = true;
            split.cancel();
            running.decrementAndGet();
            throw e;
        }
        if (running.decrementAndGet() > 0 || partFailed || stopRequested) {
            return null;
        }
        try {
            return collect();
        } catch (NativeException e) {
            throw budgetRefusal(e);
        } finally {
            cleanUp();
            cleanedUp = true;
        }
    }

    /** A part's own failure says more than its siblings' "cancelled", which that failure caused. */
    private static Throwable moreTelling(Throwable first, Throwable next) {
        if (first == null) {
            return next;
        }
        boolean firstCancelled =
                first instanceof NativeException n && n.status() == NativeStatus.CANCELLED;
        return first instanceof Error || !firstCancelled ? first : next;
    }

    /**
     * Finishes the call and takes its outputs (worker). Outputs of {@link #HEAP_OUTPUTS_BYTES} or
     * less in all are copied to the heap and their buffers released here: a copy that small costs
     * less than the hand-off to a platform thread that releasing them later would take. Larger ones
     * stay in native memory and stream from there.
     */
    private KernelResult collect() {
        KernelCall done = call;
        done.finish();
        finishedAt = System.nanoTime();
        List<KernelCall.OutputInfo> infos = done.outputs();
        List<NativeBuffer> taken = new ArrayList<>(infos.size());
        try {
            long bytes = 0;
            for (int i = 0; i < infos.size(); i++) {
                NativeBuffer output = done.takeOutput(i);
                taken.add(output);
                bytes += output.size();
            }
            if (bytes > HEAP_OUTPUTS_BYTES) {
                return new NativeOutputs(kernel, infos, taken, workers);
            }
            List<KernelOutput> copies = new ArrayList<>(infos.size());
            for (int i = 0; i < infos.size(); i++) {
                MemorySegment copy;
                try (NativeBuffer.Access access = taken.get(i).open()) {
                    copy = MemorySegment.ofArray(access.segment().toArray(ValueLayout.JAVA_BYTE));
                }
                KernelCall.OutputInfo info = infos.get(i);
                copies.add(
                        new KernelOutput(
                                kernel.outputs().get(i).name(),
                                info.dataType(),
                                info.shape(),
                                copy));
            }
            taken.forEach(NativeBuffer::close);
            return new HeapOutputs(List.copyOf(copies));
        } catch (RuntimeException e) {
            taken.forEach(NativeBuffer::close);
            throw e;
        }
    }

    /** Small outputs, copied to the heap: nothing to release. */
    private record HeapOutputs(List<KernelOutput> outputs) implements KernelResult {
        @Override
        public void close() {}
    }

    /**
     * All inputs' buffers, or none: a budget refusal frees what was already taken (platform
     * thread). A received input's buffer is the upload's: the run takes a reference of its own to
     * it.
     */
    private List<NativeBuffer> allocateInputs() {
        long needed = 0;
        for (KernelInput input : request.inputs()) {
            needed = Math.addExact(needed, input.source().byteSize());
        }
        long limit = memory.stats().limitBytes();
        if (limit > 0 && needed > limit) {
            throw ExceedsMemoryBudgetException.inputs(needed, limit);
        }
        List<NativeBuffer> allocated = new ArrayList<>(request.inputs().size());
        try {
            for (KernelInput input : request.inputs()) {
                allocated.add(
                        input.source() instanceof ResidentSource received
                                ? received.buffer().retain()
                                : memory.allocate(input.source().byteSize(), kernel.name()));
            }
            return allocated;
        } catch (NativeException e) {
            free(allocated);
            if (e.status() != NativeStatus.OUT_OF_MEMORY) {
                throw e;
            }
            NativeStats stats = memory.stats();
            throw new MemoryBudgetExhaustedException(
                    "the inputs' " + needed + " bytes do not fit in native memory now",
                    stats.limitBytes(),
                    stats.liveBytes());
        } catch (RuntimeException e) {
            free(allocated);
            throw e;
        }
    }

    /**
     * Drops the run's reference to each of {@code buffers} (the first of the request's inputs, in
     * order).
     */
    private void free(List<NativeBuffer> buffers) {
        for (int r = 0; r < buffers.size(); r++) {
            if (request.inputs().get(r).source() instanceof ResidentSource) {
                buffers.get(r).release();
            } else {
                buffers.get(r).close();
            }
        }
    }

    /**
     * Copies each heap input's bytes into its buffer, in request order (received ones are in
     * place).
     */
    private void writeInputs() {
        for (int r = 0; r < inputs.size(); r++) {
            TensorSource source = request.inputs().get(r).source();
            if (!(source instanceof ResidentSource)) {
                try (NativeBuffer.Access access = inputs.get(r).open()) {
                    source.writeTo(access.segment());
                }
            }
        }
    }

    /**
     * A budget refusal from the kernel (prepare, or a part's scratch) told apart while the call is
     * alive: a call that needs more than the whole budget can never run (413); one that fits it can
     * later (507). Any other failure is returned as it is.
     */
    private RuntimeException budgetRefusal(NativeException e) {
        if (e.status() != NativeStatus.OUT_OF_MEMORY) {
            return e;
        }
        KernelCall refused = call;
        NativeStats stats = memory.stats();
        if (refused != null && exceedsWholeBudget(refused, stats.limitBytes())) {
            return ExceedsMemoryBudgetException.call(
                    kernel.name(), refused.bytesNeeded(), stats.limitBytes());
        }
        return new MemoryBudgetExhaustedException(
                e.getMessage(), stats.limitBytes(), stats.liveBytes());
    }

    /** Frees the call and the inputs (platform thread; idempotent). */
    private Void cleanUp() {
        try {
            KernelCall made = call;
            if (made != null) {
                made.close();
            }
        } finally {
            free(inputs);
            inputs = List.of();
        }
        return null;
    }

    /** Withdraws the request if no worker has taken it up yet; true if it will never run. */
    private boolean withdraw() {
        return state.compareAndSet(QUEUED, WITHDRAWN);
    }

    /**
     * The client hung up (a platform thread that watches connections): a request still queued is
     * withdrawn and its task cancelled, which wakes the request's thread; a running one is stopped.
     */
    private void abandon() {
        if (withdraw()) {
            Future<Object> first = firstTask;
            if (first != null) {
                first.cancel(false); // the task's body can no longer run
            }
            return;
        }
        stop();
    }

    /**
     * Sets the running call's cancel flag (its parts see it and return CANCELLED). A call still
     * being made sees {@link #stopRequested} once it exists: one of the two always sees the other.
     */
    private void stop() {
        stopRequested = true;
        KernelCall running = call;
        if (running != null) {
            workers.control(() -> {
                running.cancel();
                return null;
            });
        }
    }

    /**
     * Waits for a task whose outcome no longer matters: its failure is dropped, its result
     * returned.
     */
    private static Object awaitRegardless(Future<Object> task) {
        try {
            return Workers.await(task);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static void closeIfResult(Object step) {
        if (step instanceof KernelResult result) {
            result.close();
        }
    }

    private void throwIfCancelled(String when) {
        if (cancellation.reason() != null) {
            throw disconnected(when);
        }
    }

    private ClientDisconnectedException disconnected(String when) {
        return new ClientDisconnectedException(
                cancellation.reason()
                        + " "
                        + when
                        + "; the kernel was cancelled and its memory freed");
    }

    private DeadlineExceededException deadlinePassed(String when) {
        return new DeadlineExceededException(
                "the request's deadline ("
                        + timeout.toNanos() / 1000
                        + " microseconds; the timeout parameter or ncs.requests.default-timeout) passed "
                        + when
                        + "; the kernel was cancelled and its memory freed");
    }

    private static Outcome outcome(NativeStatus status) {
        return switch (status) {
            case INVALID_ARGUMENT, UNSUPPORTED -> Outcome.INVALID_ARGUMENT;
            case OUT_OF_MEMORY -> Outcome.OUT_OF_MEMORY;
            case CANCELLED -> Outcome.CANCELLED;
            default -> Outcome.ERROR;
        };
    }
}
