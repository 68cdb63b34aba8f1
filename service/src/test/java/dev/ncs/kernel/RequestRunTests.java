package dev.ncs.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.execution.Workers;
import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.KernelCall;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeGlobals;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.nativelib.NativeStatus;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The request's state machine driven by hand: the worker tasks run when the test says, on the
 * test's thread or threads it starts, and calls are fakes that block or fail on cue, so each race
 * is played in a chosen order. Buffers are real libncs buffers: after each test none is left.
 */
@ExtendWith(NativeGlobals.class)
class RequestRunTests {

    private static final KernelMetadata KERNEL =
            new KernelMetadata(
                    "fake",
                    "a fake kernel",
                    "test",
                    true,
                    List.of(new TensorSpec("x", "any", List.of(DataType.FP64), null)),
                    List.of(new TensorSpec("y", "one value", List.of(DataType.FP64), List.of(1L))),
                    List.of());

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());
    private final long liveBefore = runtime.memory().stats().liveBuffers();
    private final HandWorkers workers = new HandWorkers(2);
    private final Cancellation cancellation = new Cancellation();
    private final RecordingTicket ticket = new RecordingTicket();
    private final ExecutorService requestThread = Executors.newSingleThreadExecutor();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicInteger callsMade = new AtomicInteger();

    @AfterEach
    void nothingStaysAllocated() {
        requestThread.shutdownNow();
        workers.control.shutdownNow();
        assertThat(runtime.memory().stats().liveBuffers()).isEqualTo(liveBefore);
    }

    @Test
    void aOnePartRequestFromMemoryTakesOneWorkerTaskAndNoControlCall() throws Exception {
        FakeCall call = new FakeCall(1, (part, self) -> {});
        Future<KernelResult> request = start(call, Duration.ofSeconds(30));

        workers.runNext();
        try (KernelResult result = request.get(10, TimeUnit.SECONDS)) {
            assertThat(workers.submitted.get()).isEqualTo(1);
            assertThat(workers.controlCalls.get()).isZero();
            assertThat(call.inputValue).isEqualTo(7.0); // the worker copied the in-memory input
            assertThat(call.closes.get()).isEqualTo(1);
            assertThat(ticket.events).isEqualTo("queued started ");
            assertThat(result.outputs().getFirst().data().get(ValueLayout.JAVA_DOUBLE_UNALIGNED, 0))
                    .isEqualTo(42.0);
        }
        assertThat(registry.get("ncs.kernel").tag("outcome", "success").timer().count())
                .isEqualTo(1);
    }

    @Test
    void largeOutputsStayInNativeMemoryUntilTheResultIsClosedOnTheReadingThread() throws Exception {
        FakeCall call = new FakeCall(1, (part, self) -> {});
        call.outputBytes = RequestRun.HEAP_OUTPUTS_BYTES + 8;
        Future<KernelResult> request = start(call, Duration.ofSeconds(30));
        workers.runNext();
        KernelResult result = request.get(10, TimeUnit.SECONDS);
        long live = runtime.memory().stats().liveBuffers();
        assertThat(live).isEqualTo(liveBefore + 1);

        requestThread
                .submit(() -> {
                    try (result) {
                        assertThat(
                                        result.outputs()
                                                .getFirst()
                                                .data()
                                                .get(ValueLayout.JAVA_DOUBLE_UNALIGNED, 0))
                                .isEqualTo(42.0);
                    }
                })
                .get(10, TimeUnit.SECONDS);
        assertThat(workers.controlCalls.get()).isEqualTo(1); // the release, on a platform thread
    }

    @Test
    void anOutputCheckThatRefusesThePreparedCallFreesItAndItsInputsBeforeAnyPartRuns()
            throws Exception {
        FakeCall call =
                new FakeCall(
                        2,
                        (part, self) -> {
                            throw new AssertionError("part " + part + " ran after the veto");
                        });
        List<OutputCheck.PreparedOutput> seen = new java.util.ArrayList<>();
        Future<KernelResult> request =
                start(
                        () -> call,
                        Duration.ofSeconds(30),
                        outputs -> {
                            seen.addAll(outputs);
                            throw new OutputRefusedException("output 'y' is too large");
                        });

        workers.runNext();
        assertFailure(request, OutputRefusedException.class, "output 'y' is too large");
        assertThat(seen)
                .singleElement()
                .satisfies(output -> {
                    assertThat(output.name()).isEqualTo("y");
                    assertThat(output.dataType()).isEqualTo(DataType.FP64);
                    assertThat(output.elementCount()).isEqualTo(1);
                    assertThat(output.byteSize()).isEqualTo(8);
                });
        assertThat(call.partStarted.getCount()).as("no part started").isEqualTo(1);
        assertThat(call.closes.get()).isEqualTo(1);
        assertThat(workers.submitted.get()).as("no part was submitted").isEqualTo(1);
        assertThat(registry.get("ncs.kernel").tag("outcome", "invalid_argument").timer().count())
                .isEqualTo(1);
    }

    @Test
    void aDeadlineThatPassesBeforeAWorkerTakesTheRequestUpWithdrawsIt() throws Exception {
        Future<KernelResult> request =
                start(new FakeCall(1, (part, self) -> {}), Duration.ofMillis(20));

        assertFailure(request, DeadlineExceededException.class, "while waiting for a worker");
        workers.runNext(); // the worker comes too late: the task was cancelled, and its body would
        // do nothing
        assertThat(callsMade.get()).isZero();
        assertThat(ticket.events).isEqualTo("queued ");
    }

    @Test
    void aDeadlineThatPassesWhileTheWorkerMakesTheCallStopsTheCallOnceItExists() throws Exception {
        CountDownLatch making = new CountDownLatch(1);
        CountDownLatch deadlinePassed = new CountDownLatch(1);
        FakeCall call = new FakeCall(1, FakeCall::untilCancelled);
        Future<KernelResult> request =
                start(
                        () -> {
                            making.countDown();
                            await(deadlinePassed);
                            return call;
                        },
                        Duration.ofMillis(500));

        Future<?> worker = Executors.newSingleThreadExecutor().submit(workers::runNext);
        await(making); // the worker took the request up: too late to withdraw it
        Thread.sleep(
                800); // the deadline passes; the request's thread asks for a stop and finds no call
        // yet
        deadlinePassed.countDown();

        assertFailure(request, DeadlineExceededException.class, "while the kernel ran");
        worker.get(10, TimeUnit.SECONDS);
        assertThat(call.cancels.get()).isGreaterThanOrEqualTo(1);
        assertThat(call.closes.get()).isEqualTo(1);
        assertThat(registry.get("ncs.kernel").tag("outcome", "deadline_exceeded").timer().count())
                .isEqualTo(1);
    }

    @Test
    void aHangUpWhileQueuedWithdrawsTheRequestAndNoCallIsMade() throws Exception {
        Future<KernelResult> request =
                start(new FakeCall(1, (part, self) -> {}), Duration.ofSeconds(30));
        workers.awaitSubmitted(1);

        cancellation.cancel("the client closed the connection");

        assertFailure(request, ClientDisconnectedException.class, "while waiting for a worker");
        assertThat(callsMade.get()).isZero();
        assertThat(
                        registry.get("ncs.rejected")
                                .tag("reason", "client_disconnected")
                                .counter()
                                .count())
                .isEqualTo(1);
    }

    @Test
    void aHangUpAtTheMomentAWorkerTakesTheRequestUpCancelsTheCallItMakes() throws Exception {
        CountDownLatch hungUp = new CountDownLatch(1);
        CountDownLatch making = new CountDownLatch(1);
        FakeCall call = new FakeCall(1, FakeCall::untilCancelled);
        Future<KernelResult> request =
                start(
                        () -> {
                            making.countDown();
                            await(hungUp);
                            return call;
                        },
                        Duration.ofSeconds(30));
        Future<?> worker = Executors.newSingleThreadExecutor().submit(workers::runNext);

        await(making); // the worker took the request up and is making the call: too late to
        // withdraw
        cancellation.cancel(
                "the client closed the connection"); // finds no call yet: asks the call to stop
        hungUp.countDown();

        assertFailure(request, ClientDisconnectedException.class, "while the kernel ran");
        worker.get(10, TimeUnit.SECONDS);
        assertThat(call.cancels.get()).isEqualTo(1);
        assertThat(call.closes.get()).isEqualTo(1);
    }

    @Test
    void aHangUpWhileTheKernelRunsCancelsIt() throws Exception {
        FakeCall call = new FakeCall(1, FakeCall::untilCancelled);
        Future<KernelResult> request = start(call, Duration.ofSeconds(30));
        Future<?> worker = Executors.newSingleThreadExecutor().submit(workers::runNext);
        await(call.partStarted);

        cancellation.cancel("the client closed the connection");

        assertFailure(request, ClientDisconnectedException.class, "while the kernel ran");
        worker.get(10, TimeUnit.SECONDS);
        assertThat(call.closes.get()).isEqualTo(1);
    }

    @Test
    void aPartFailingWhileItsSiblingRunsFailsTheRequestOnceBothHaveReturned() throws Exception {
        FakeCall call =
                secondPartFailsWhileFirstRuns(
                        new NativeException(
                                NativeStatus.INVALID_ARGUMENT, "part 1: the data is bad"));

        assertThat(call.cancels.get()).isGreaterThanOrEqualTo(1);
        assertThat(workers.submitted.get()).isEqualTo(3); // no finishing task after a failure
    }

    @Test
    void anErrorInAPartStillWaitsForItsSiblingBeforeTheCallIsFreed() throws Exception {
        secondPartFailsWhileFirstRuns(new StackOverflowError("fake: part 1 overflowed"));
    }

    /**
     * Part 1 throws {@code failure} while part 0 runs until cancelled: the request fails with it,
     * and the call is freed once, after both parts returned (FakeCall refuses a close while a part
     * runs).
     */
    private FakeCall secondPartFailsWhileFirstRuns(Throwable failure) throws Exception {
        CountDownLatch siblingRuns = new CountDownLatch(1);
        FakeCall call =
                new FakeCall(
                        2,
                        (part, self) -> {
                            if (part == 0) {
                                siblingRuns.countDown();
                                FakeCall.untilCancelled(part, self);
                            } else {
                                await(siblingRuns);
                                if (failure instanceof Error error) {
                                    throw error;
                                }
                                throw (RuntimeException) failure;
                            }
                        });
        Future<KernelResult> request = start(call, Duration.ofSeconds(30));

        assertThat(workers.runNext())
                .isEqualTo(2); // prepare: two parts, handed back to the request's thread
        workers.awaitSubmitted(3);
        Future<?> part0 = Executors.newSingleThreadExecutor().submit(workers::runNext);
        Future<?> part1 = Executors.newSingleThreadExecutor().submit(workers::runNext);

        assertFailure(request, failure.getClass(), failure.getMessage());
        part0.get(10, TimeUnit.SECONDS);
        part1.get(10, TimeUnit.SECONDS);
        assertThat(call.closes.get()).isEqualTo(1);
        return call;
    }

    @Test
    void aSplitCallRunsItsPartsAndTheLastToEndCollectsAndCleansUp() throws Exception {
        AtomicInteger partsRun = new AtomicInteger();
        FakeCall call = new FakeCall(2, (part, self) -> partsRun.incrementAndGet());
        Future<KernelResult> request = start(call, Duration.ofSeconds(30));

        assertThat(workers.runNext()).isEqualTo(2);
        workers.awaitSubmitted(3);
        assertThat(workers.runNext()).isNull(); // not the last: nothing to hand back
        assertThat(workers.runNext()).isInstanceOf(KernelResult.class);
        assertThat(workers.submitted.get())
                .isEqualTo(3); // no task queued behind other requests to finish

        try (KernelResult result = request.get(10, TimeUnit.SECONDS)) {
            assertThat(partsRun.get()).isEqualTo(2);
            assertThat(call.closes.get()).isEqualTo(1);
            assertThat(result.outputs()).hasSize(1);
        }
    }

    @Test
    void aBudgetRefusalIsA413WhenTheCallCouldNeverFitAndA507WhenItCouldLater() throws Exception {
        runtime.memory().setMemoryLimit(1 << 20);
        FakeCall never = new FakeCall(1, (part, self) -> {});
        never.prepareFailure =
                new NativeException(NativeStatus.OUT_OF_MEMORY, "fake: out of memory");
        never.bytesNeeded = 2 << 20;
        Future<KernelResult> first = start(never, Duration.ofSeconds(30));
        workers.runNext();
        assertFailure(first, ExceedsMemoryBudgetException.class, "needs 2097152 bytes");

        FakeCall later = new FakeCall(1, (part, self) -> {});
        later.prepareFailure =
                new NativeException(NativeStatus.OUT_OF_MEMORY, "fake: out of memory");
        later.bytesNeeded = 1000;
        Future<KernelResult> second = start(later, Duration.ofSeconds(30));
        workers.runNext();
        Throwable refusal =
                assertFailure(second, MemoryBudgetExhaustedException.class, "fake: out of memory");
        assertThat(((MemoryBudgetExhaustedException) refusal).limitBytes()).isEqualTo(1 << 20);
        assertThat(registry.get("ncs.rejected").tag("reason", "memory_budget").counter().count())
                .isEqualTo(1);
    }

    @Test
    void aSplitCallThatCouldNeverFitIsTriedOnceMoreInOnePart() throws Exception {
        runtime.memory().setMemoryLimit(1 << 20);
        FakeCall split = new FakeCall(2, (part, self) -> {});
        split.prepareFailure =
                new NativeException(NativeStatus.OUT_OF_MEMORY, "fake: out of memory");
        split.bytesNeeded = 2 << 20;
        FakeCall whole = new FakeCall(1, (part, self) -> {});
        java.util.Iterator<FakeCall> made = List.of(split, whole).iterator();
        Future<KernelResult> request = start(made::next, Duration.ofSeconds(30));

        workers.runNext();
        try (KernelResult result = request.get(10, TimeUnit.SECONDS)) {
            assertThat(result.outputs()).hasSize(1);
        }
        assertThat(whole.maxParts).isEqualTo(1);
        assertThat(split.closes.get()).isEqualTo(1);
        assertThat(whole.closes.get()).isEqualTo(1);
    }

    private Future<KernelResult> start(FakeCall call, Duration timeout) {
        return start(() -> call, timeout);
    }

    private Future<KernelResult> start(Callable<KernelCall> factory, Duration timeout) {
        return start(factory, timeout, OutputCheck.NONE);
    }

    private Future<KernelResult> start(
            Callable<KernelCall> factory, Duration timeout, OutputCheck check) {
        KernelRequest request =
                new KernelRequest(
                                "fake",
                                null,
                                List.of(
                                        new KernelInput(
                                                "x",
                                                DataType.FP64,
                                                new long[] {1},
                                                new DoubleSource(7.0))),
                                Map.of())
                        .withOutputCheck(check);
        RequestRun run =
                new RequestRun(
                        KERNEL,
                        request,
                        new int[] {0},
                        ticket,
                        cancellation,
                        timeout,
                        workers,
                        runtime.memory(),
                        kernel -> {
                            callsMade.incrementAndGet();
                            try {
                                return factory.call();
                            } catch (Exception e) {
                                throw new IllegalStateException(e);
                            }
                        },
                        new KernelMeters(registry));
        return requestThread.submit(run::execute);
    }

    private static Throwable assertFailure(
            Future<KernelResult> request, Class<? extends Throwable> type, String text) {
        assertThatThrownBy(() -> request.get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(type)
                .hasMessageContaining(text);
        try {
            request.get();
            throw new AssertionError("unreachable");
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) {
                throw new AssertionError("timed out");
            }
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Worker tasks wait in a queue until the test runs them; control calls run on one platform
     * thread.
     */
    private static final class HandWorkers implements Workers {
        private final int threads;
        private final BlockingQueue<FutureTask<?>> queue = new LinkedBlockingQueue<>();
        private final AtomicInteger submitted = new AtomicInteger();
        private final AtomicInteger controlCalls = new AtomicInteger();
        private final ExecutorService control = Executors.newSingleThreadExecutor();

        HandWorkers(int threads) {
            this.threads = threads;
        }

        @Override
        public int threads() {
            return threads;
        }

        @Override
        public <T> Future<T> submit(Callable<T> task) {
            FutureTask<T> future = new FutureTask<>(task);
            submitted.incrementAndGet();
            queue.add(future);
            return future;
        }

        @Override
        public <T> T control(Callable<T> task) {
            controlCalls.incrementAndGet();
            return Workers.await(control.submit(task));
        }

        /**
         * Runs the next submitted task on this thread and returns its result (null when it failed).
         */
        Object runNext() throws InterruptedException {
            FutureTask<?> task = queue.poll(10, TimeUnit.SECONDS);
            assertThat(task).as("a task was submitted").isNotNull();
            task.run();
            try {
                return task.get();
            } catch (ExecutionException | java.util.concurrent.CancellationException e) {
                return null;
            }
        }

        void awaitSubmitted(int count) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (submitted.get() < count) {
                assertThat(System.nanoTime()).as("tasks submitted in time").isLessThan(deadline);
                Thread.sleep(1);
            }
        }
    }

    private static final class RecordingTicket implements Workers.Ticket {
        private volatile String events = "";

        @Override
        public void queued() {
            events += "queued ";
        }

        @Override
        public void started() {
            events += "started ";
        }
    }

    /** An input already in the heap: one FP64 value. */
    private record DoubleSource(double value) implements TensorSource {
        @Override
        public boolean inMemory() {
            return true;
        }

        @Override
        public long byteSize() {
            return 8;
        }

        @Override
        public void writeTo(MemorySegment target) {
            target.set(ValueLayout.JAVA_DOUBLE, 0, value);
        }
    }

    /** A call whose parts do what the test says; its one output is a real buffer holding 42.0. */
    private final class FakeCall implements KernelCall {
        interface Part {
            void run(int part, FakeCall call);
        }

        private final int parts;
        private final Part body;
        private final AtomicBoolean cancelled = new AtomicBoolean();
        private final AtomicInteger running = new AtomicInteger();
        private final AtomicInteger cancels = new AtomicInteger();
        private final AtomicInteger closes = new AtomicInteger();
        private final CountDownLatch partStarted = new CountDownLatch(1);
        private volatile double inputValue;
        private NativeException prepareFailure;
        private long bytesNeeded;
        private long outputBytes = 8;
        private volatile int maxParts;

        FakeCall(int parts, Part body) {
            this.parts = parts;
            this.body = body;
        }

        static void untilCancelled(int part, FakeCall call) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!call.cancelled.get()) {
                assertThat(System.nanoTime()).as("cancelled in time").isLessThan(deadline);
                Thread.onSpinWait();
            }
            throw new NativeException(NativeStatus.CANCELLED, "part " + part + " cancelled");
        }

        @Override
        public void setInput(int index, DataType dataType, long[] shape, NativeBuffer buffer) {
            try (NativeBuffer.Access access = buffer.open()) {
                inputValue = access.segment().get(ValueLayout.JAVA_DOUBLE, 0);
            }
        }

        @Override
        public void setParam(String key, String value) {}

        @Override
        public int prepare(int maxParts) {
            this.maxParts = maxParts;
            if (prepareFailure != null) {
                throw prepareFailure;
            }
            return Math.min(parts, maxParts);
        }

        @Override
        public long bytesNeeded() {
            return bytesNeeded;
        }

        @Override
        public void runPart(int part) {
            running.incrementAndGet();
            partStarted.countDown();
            try {
                if (cancelled.get()) {
                    throw new NativeException(
                            NativeStatus.CANCELLED, "part " + part + " cancelled");
                }
                body.run(part, this);
            } finally {
                running.decrementAndGet();
            }
        }

        @Override
        public void finish() {}

        @Override
        public List<OutputInfo> outputs() {
            return List.of(new OutputInfo(DataType.FP64, new long[] {1}, 8));
        }

        @Override
        public NativeBuffer takeOutput(int index) {
            NativeBuffer buffer = runtime.memory().allocate(outputBytes, "fake");
            try (NativeBuffer.Access access = buffer.open()) {
                access.segment().set(ValueLayout.JAVA_DOUBLE, 0, 42.0);
            }
            return buffer;
        }

        @Override
        public void cancel() {
            cancels.incrementAndGet();
            cancelled.set(true);
        }

        @Override
        public void close() {
            assertThat(running.get()).as("parts running when the call is closed").isZero();
            closes.incrementAndGet();
        }
    }
}
