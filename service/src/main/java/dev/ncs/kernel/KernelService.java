package dev.ncs.kernel;

import dev.ncs.execution.Cancellation;
import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeCall;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.nativelib.NativeStats;
import dev.ncs.nativelib.NativeStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.springframework.stereotype.Service;

/**
 * Runs kernels: checks a request against the kernel's metadata, fills native buffers from the
 * inputs' sources, prepares the call, runs its parts in parallel on the native workers (each part
 * holding its own reference to every input it reads), finishes it and hands the outputs, still in
 * native memory, to the caller. On failure every buffer and the call are released before the method
 * returns.
 */
@Service
public class KernelService {

    private final KernelCatalog catalog;
    private final NativeRuntime runtime;
    private final NativeExecutor executor;
    private final MeterRegistry registry;
    private final Counter memoryRejections;
    private final Counter deadlineRejections;
    private final Counter disconnectRejections;
    private final Duration defaultTimeout;

    public KernelService(KernelCatalog catalog, NativeRuntime runtime, NativeExecutor executor, MeterRegistry registry,
            RequestsProperties requests) {
        this.catalog = catalog;
        this.runtime = runtime;
        this.executor = executor;
        this.registry = registry;
        this.memoryRejections = NativeExecutor.rejections(registry, "memory_budget");
        this.deadlineRejections = NativeExecutor.rejections(registry, "deadline");
        this.disconnectRejections = NativeExecutor.rejections(registry, "client_disconnected");
        this.defaultTimeout = requests.defaultTimeout();
    }

    /**
     * Admits one request for {@code kernel} (503 when the queue is full). Callers that must do heavy
     * work before the request can run (decoding a large body) admit first, so that work is bounded too.
     */
    public NativeExecutor.Admission admit(KernelMetadata kernel) {
        return executor.admit(kernel.name());
    }

    /**
     * Runs an admitted request. The inputs' sources are read on the calling thread, in request order,
     * straight into native buffers; the kernel runs on the native workers. The caller owns the result
     * and must close it. On failure nothing stays allocated.
     */
    public KernelResult infer(NativeExecutor.Admission admission, KernelRequest request, Cancellation cancellation) {
        KernelMetadata kernel = catalog.get(request.kernel(), request.version());
        int[] slots = descriptorSlots(kernel, request);
        return new Run(kernel, request, slots, admission, cancellation).execute();
    }

    /** For each request input (request order), its index in the kernel's descriptor. */
    private static int[] descriptorSlots(KernelMetadata kernel, KernelRequest request) {
        KernelInput[] ordered = new KernelInput[kernel.inputs().size()];
        int[] slots = new int[request.inputs().size()];
        for (int r = 0; r < slots.length; r++) {
            KernelInput input = request.inputs().get(r);
            int index = kernel.inputIndex(input.name());
            if (index < 0) {
                throw new InvalidInputException("kernel '" + kernel.name() + "' has no input '" + input.name()
                        + "'; its inputs are: " + names(kernel.inputs()));
            }
            if (ordered[index] != null) {
                throw new InvalidInputException("input '" + input.name() + "' is given more than once");
            }
            check(kernel, kernel.inputs().get(index), input);
            ordered[index] = input;
            slots[r] = index;
        }
        for (int i = 0; i < ordered.length; i++) {
            if (ordered[i] == null) {
                TensorSpec spec = kernel.inputs().get(i);
                throw new InvalidInputException("kernel '" + kernel.name() + "' needs input '" + spec.name() + "' ("
                        + spec.doc() + "); the request has " + (request.inputs().isEmpty() ? "no inputs"
                        : "only " + request.inputs().stream().map(KernelInput::name).collect(Collectors.joining(", "))));
            }
        }
        for (String parameter : request.parameters().keySet()) {
            if (kernel.parameters().stream().noneMatch(p -> p.name().equals(parameter))) {
                throw new InvalidInputException("kernel '" + kernel.name() + "' has no parameter '" + parameter + "'; "
                        + (kernel.parameters().isEmpty() ? "it takes none"
                        : "its parameters are: " + kernel.parameters().stream().map(ParameterSpec::name)
                                .collect(Collectors.joining(", "))));
            }
        }
        return slots;
    }

    private static void check(KernelMetadata kernel, TensorSpec spec, KernelInput input) {
        String what = "input '" + input.name() + "' of kernel '" + kernel.name() + "'";
        if (!spec.datatypes().contains(input.dataType())) {
            throw new InvalidInputException(what + " must be " + spec.datatypes().stream().map(DataType::name)
                    .collect(Collectors.joining(" or ")) + ", not " + input.dataType());
        }
        if (spec.anyRank()) {
            return;
        }
        long[] shape = input.shape();
        boolean fits = shape.length == spec.shape().size();
        for (int d = 0; fits && d < shape.length; d++) {
            long expected = spec.shape().get(d);
            fits = expected < 0 || expected == shape[d];
        }
        if (!fits) {
            throw new InvalidInputException(what + " must have shape " + spec.shape() + " (-1: any size), got "
                    + Arrays.toString(shape));
        }
    }

    private static String names(List<TensorSpec> specs) {
        return specs.stream().map(TensorSpec::name).collect(Collectors.joining(", "));
    }

    /**
     * One request's trip: buffers allocated (control thread), filled from the sources (request
     * thread), call set up and prepared, parts run, finished (workers). Fields are handed between
     * threads through futures, which order the accesses.
     */
    private static final int SETUP_QUEUED = 0;
    private static final int SETUP_STARTED = 1;
    private static final int SETUP_WITHDRAWN = 2;
    private static final int WITHDRAWN_PARTS = -1;

    private final class Run {
        private final KernelMetadata kernel;
        private final KernelRequest request;
        private final int[] slots;
        private final NativeExecutor.Admission admission;
        private final Cancellation cancellation;
        private List<NativeBuffer> buffers = List.of();
        /**
         * Whether setup was taken up by a worker or withdrawn while still queued: exactly one of the two
         * wins, so a withdrawn request can free its buffers while no worker can be using them.
         * ({@link Future#cancel} cannot tell: it also "succeeds" on a task that is already running.)
         */
        private final AtomicInteger setupState = new AtomicInteger(SETUP_QUEUED);
        /** Read by the thread that cancels, hence volatile; written once each. */
        private volatile Future<Integer> setupTask;
        private volatile NativeCall call;
        private long startedAt;
        private long deadline = Long.MAX_VALUE;
        private Duration timeout;

        Run(KernelMetadata kernel, KernelRequest request, int[] slots, NativeExecutor.Admission admission,
                Cancellation cancellation) {
            this.kernel = kernel;
            this.request = request;
            this.slots = slots;
            this.admission = admission;
            this.cancellation = cancellation;
        }

        KernelResult execute() {
            String outcome = "error";
            try {
                buffers = executor.control(this::allocateInputs);
                for (int r = 0; r < buffers.size(); r++) {
                    request.inputs().get(r).source().writeTo(buffers.get(r).segment());
                }
                timeout = request.timeout() != null ? request.timeout() : defaultTimeout;
                if (!timeout.isZero()) {
                    deadline = System.nanoTime() + timeout.toNanos();
                }
                admission.queued();
                cancellation.onCancel(this::abandon);
                int parts = runSetup();
                runParts(parts);
                KernelResult result = executor.run(this::collect);
                outcome = "success";
                return result;
            } catch (NativeException e) {
                if (e.status() == NativeStatus.CANCELLED && cancellation.reason() != null) {
                    outcome = "client_disconnected";
                    disconnectRejections.increment();
                    throw disconnected("while the kernel ran");
                }
                outcome = outcome(e.status());
                if (e.status() == NativeStatus.OUT_OF_MEMORY) {
                    ExceedsMemoryBudgetException never = neverFits();
                    if (never != null) {
                        throw never;
                    }
                    memoryRejections.increment();
                    throw withBudget(e);
                }
                throw e;
            } catch (InvalidInputException e) {
                outcome = "invalid_argument";
                throw e;
            } catch (DeadlineExceededException e) {
                outcome = "deadline_exceeded";
                deadlineRejections.increment();
                throw e;
            } catch (ClientDisconnectedException e) {
                outcome = "client_disconnected";
                disconnectRejections.increment();
                throw e;
            } finally {
                // The kernel's time ends with its outputs: freeing the inputs' buffers afterwards
                // (munmap, about 60 ms per GB here) is the counterpart of the upload, not counted.
                long endedAt = System.nanoTime();
                cancellation.onCancel(() -> { });
                executor.control(this::cleanup);
                if (startedAt != 0) {
                    Timer.builder("ncs.kernel")
                            .description("Kernel execution time, from a worker taking the request up to its outputs")
                            .tags("kernel", kernel.name(), "outcome", outcome)
                            .publishPercentileHistogram()
                            .register(registry)
                            .record(endedAt - startedAt, TimeUnit.NANOSECONDS);
                }
            }
        }

        /**
         * After a budget refusal in prepare: the refusal to give instead when the call needs more than the
         * whole budget at once (inputs, outputs, workspace), so no retry could ever succeed; else null.
         */
        private ExceedsMemoryBudgetException neverFits() {
            if (call == null) {
                return null;
            }
            long[] figures = executor.control(() -> new long[] {call.bytesNeeded(), runtime.stats().limitBytes()});
            if (figures[1] <= 0 || Long.compareUnsigned(figures[0], figures[1]) <= 0) {
                return null;
            }
            return new ExceedsMemoryBudgetException("kernel '" + kernel.name() + "' needs "
                    + Long.toUnsignedString(figures[0]) + " bytes of native memory at once (inputs, outputs and "
                    + "workspace), more than the whole budget of " + figures[1]
                    + " bytes (ncs.native.memory-limit): send a smaller request");
        }

        /** The budget's figures, for a refusal that did not say them itself. */
        private NativeException withBudget(NativeException e) {
            if (e.getMessage().contains("budget is")) {
                return e;
            }
            NativeStats stats = executor.control(runtime::stats);
            return new NativeException(e.status(), e.getMessage() + "; the native memory budget is "
                    + stats.limitBytes() + " bytes and " + stats.liveBytes() + " are in use");
        }

        /** All inputs' buffers, or none: a budget refusal frees what was already taken. */
        private List<NativeBuffer> allocateInputs() {
            long needed = 0;
            for (KernelInput input : request.inputs()) {
                needed = Math.addExact(needed, input.source().byteSize());
            }
            long limit = runtime.stats().limitBytes();
            if (limit > 0 && needed > limit) {
                throw new ExceedsMemoryBudgetException("the inputs need " + needed + " bytes of native memory, more than "
                        + "the whole budget of " + limit + " bytes (ncs.native.memory-limit): send a smaller request");
            }
            List<NativeBuffer> allocated = new ArrayList<>(request.inputs().size());
            try {
                for (KernelInput input : request.inputs()) {
                    allocated.add(runtime.allocate(input.source().byteSize(), kernel.name()));
                }
                return allocated;
            } catch (RuntimeException e) {
                allocated.forEach(NativeBuffer::close);
                throw e;
            }
        }

        /** Setup on a worker, within the deadline: a request still queued when it passes never runs. */
        private int runSetup() {
            Future<Integer> setup = executor.submit(this::setup);
            setupTask = setup;
            if (setupState.get() == SETUP_WITHDRAWN) {
                setup.cancel(false);
            }
            try {
                if (!NativeExecutor.awaitUntil(setup, deadline)) {
                    if (withdraw()) {
                        setup.cancel(false);
                        throw deadlinePassed("while waiting for a worker");
                    }
                    NativeExecutor.await(setup);
                    throw deadlinePassed("while the kernel was being prepared");
                }
                int parts = NativeExecutor.await(setup);
                throwIfCancelled(parts == WITHDRAWN_PARTS ? "while waiting for a worker" : "before the kernel ran");
                if (parts == WITHDRAWN_PARTS) {
                    throw new IllegalStateException("setup withdrawn without a cancellation");
                }
                return parts;
            } catch (CancellationException e) {
                throwIfCancelled("while waiting for a worker");
                throw e;
            }
        }

        /** Withdraws setup if no worker has taken it up yet; true if it will never run. */
        private boolean withdraw() {
            return setupState.compareAndSet(SETUP_QUEUED, SETUP_WITHDRAWN);
        }

        /**
         * The client hung up: a request still queued is withdrawn, a running kernel has its cancel flag
         * set (on the control thread: native calls never run on the caller's thread). The request's own
         * thread sees it when its wait ends and answers with {@link ClientDisconnectedException}.
         */
        private void abandon() {
            if (withdraw()) {
                Future<Integer> setup = setupTask;
                if (setup != null) {
                    setup.cancel(false); // wakes the request's thread; the task's body can no longer run
                }
                return;
            }
            NativeCall running = call;
            if (running != null) {
                executor.control(() -> {
                    running.cancel();
                    return null;
                });
            }
        }

        private void throwIfCancelled(String when) {
            if (cancellation.reason() != null) {
                throw disconnected(when);
            }
        }

        private ClientDisconnectedException disconnected(String when) {
            return new ClientDisconnectedException(cancellation.reason() + " " + when
                    + "; the kernel was cancelled and its memory freed");
        }

        private DeadlineExceededException deadlinePassed(String when) {
            return new DeadlineExceededException("the request's deadline (" + timeout.toNanos() / 1000
                    + " microseconds; the timeout parameter or ncs.requests.default-timeout) passed " + when
                    + "; the kernel was cancelled and its memory freed");
        }

        private int setup() {
            if (!setupState.compareAndSet(SETUP_QUEUED, SETUP_STARTED)) {
                return WITHDRAWN_PARTS;
            }
            if (System.nanoTime() - deadline > 0 && deadline != Long.MAX_VALUE) {
                throw deadlinePassed("while waiting for a worker");
            }
            admission.started();
            startedAt = System.nanoTime();
            call = runtime.newCall(kernel.name());
            for (int r = 0; r < slots.length; r++) {
                KernelInput input = request.inputs().get(r);
                call.setInput(slots[r], input.dataType(), input.shape(), buffers.get(r));
            }
            request.parameters().forEach(call::setParam);
            return call.prepare(executor.threads());
        }

        private void runParts(int parts) {
            List<Future<Void>> futures = new ArrayList<>(parts);
            for (int part = 0; part < parts; part++) {
                int index = part;
                futures.add(executor.submit(() -> runPart(index)));
            }
            Throwable failure = null;
            boolean late = false;
            // Every part is waited for, failed or not: the call and its buffers are freed only when none runs.
            for (Future<Void> future : futures) {
                try {
                    if (!late && !NativeExecutor.awaitUntil(future, deadline)) {
                        late = true;
                        executor.control(() -> {
                            call.cancel();
                            return null;
                        });
                    }
                    NativeExecutor.await(future);
                } catch (Throwable e) {
                    failure = moreTelling(failure, e);
                }
            }
            if (late) {
                throw deadlinePassed("while the kernel ran");
            }
            throwIfCancelled("while the kernel ran");
            if (failure instanceof RuntimeException runtimeFailure) {
                throw runtimeFailure;
            }
            if (failure instanceof Error error) {
                throw error;
            }
        }

        /** A part's own failure says more than its siblings' "cancelled", which that failure caused. */
        private static Throwable moreTelling(Throwable first, Throwable next) {
            if (first == null) {
                return next;
            }
            boolean firstCancelled = first instanceof NativeException n && n.status() == NativeStatus.CANCELLED;
            return firstCancelled ? next : first;
        }

        private Void runPart(int part) {
            List<NativeBuffer> retained = new ArrayList<>(buffers.size());
            try {
                for (NativeBuffer buffer : buffers) {
                    retained.add(buffer.retain());
                }
                call.runPart(part);
            } catch (RuntimeException e) {
                call.cancel();
                throw e;
            } finally {
                retained.forEach(NativeBuffer::release);
            }
            return null;
        }

        private KernelResult collect() {
            call.finish();
            List<NativeCall.OutputInfo> infos = call.outputs();
            List<NativeBuffer> taken = new ArrayList<>(infos.size());
            try {
                List<KernelOutput> outputs = new ArrayList<>(infos.size());
                for (int i = 0; i < infos.size(); i++) {
                    NativeBuffer buffer = call.takeOutput(i);
                    taken.add(buffer);
                    NativeCall.OutputInfo info = infos.get(i);
                    outputs.add(new KernelOutput(kernel.outputs().get(i).name(), info.dataType(), info.shape(),
                            buffer.segment()));
                }
                return new Outputs(List.copyOf(outputs), taken);
            } catch (RuntimeException e) {
                taken.forEach(NativeBuffer::close);
                throw e;
            }
        }

        private Void cleanup() {
            try {
                if (call != null) {
                    call.close();
                }
            } finally {
                buffers.forEach(NativeBuffer::close);
            }
            return null;
        }
    }

    /** A result whose buffers are released on the native control thread, whatever thread closes it. */
    private final class Outputs implements KernelResult {
        private final List<KernelOutput> outputs;
        private final List<NativeBuffer> buffers;
        private final AtomicBoolean closed = new AtomicBoolean();

        Outputs(List<KernelOutput> outputs, List<NativeBuffer> buffers) {
            this.outputs = outputs;
            this.buffers = buffers;
        }

        @Override
        public List<KernelOutput> outputs() {
            return outputs;
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                executor.control(() -> {
                    buffers.forEach(NativeBuffer::close);
                    return null;
                });
            }
        }
    }

    private static String outcome(NativeStatus status) {
        return switch (status) {
            case INVALID_ARGUMENT, UNSUPPORTED -> "invalid_argument";
            case OUT_OF_MEMORY -> "out_of_memory";
            case CANCELLED -> "cancelled";
            default -> "error";
        };
    }
}
