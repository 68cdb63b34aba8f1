package dev.ncs.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The worker pool without Spring: admission, the queue gauges and timer, and where tasks run. */
class NativeExecutorTests {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final NativeExecutor executor =
            new NativeExecutor(new WorkersProperties(1, 2), registry);

    @AfterEach
    void stop() throws InterruptedException {
        executor.destroy();
    }

    @Test
    void threadsPlusQueueCapacityRequestsAreAdmittedAndTheNextIsRefused() {
        NativeExecutor.Admission first = executor.admit("sort");
        executor.admit("sort");
        executor.admit("fft");

        assertThatThrownBy(() -> executor.admit("sort"))
                .isInstanceOf(QueueFullException.class)
                .hasMessage(
                        "all 1 native workers are busy and 2 requests are already waiting; retry after 1 s")
                .satisfies(e ->
                        assertThat(((QueueFullException) e).retryAfter())
                                .isEqualTo(Duration.ofSeconds(1)));
        assertThat(registry.get("ncs.rejected").tag("reason", "queue_full").counter().count())
                .isEqualTo(1);

        first.close();
        first.close(); // a second close gives nothing back twice
        executor.admit("sort");
        assertThatThrownBy(() -> executor.admit("sort")).isInstanceOf(QueueFullException.class);
        assertThat(registry.get("ncs.rejected").tag("reason", "queue_full").counter().count())
                .isEqualTo(2);
    }

    @Test
    void aQueuedRequestCountsAsWaitingUntilAWorkerStartsItAndItsWaitIsTimedPerKernel() {
        NativeExecutor.Admission admission = executor.admit("sort");
        admission.started(); // not queued yet (its body was still arriving): no wait to record
        assertThat(gauge("ncs.queue.depth")).isZero();
        assertThat(registry.find("ncs.queue.wait").timer()).isNull();

        admission.queued();
        admission.queued();
        assertThat(gauge("ncs.queue.depth")).isEqualTo(1);

        admission.started();
        admission.started();
        admission.close();
        assertThat(gauge("ncs.queue.depth")).isZero();
        assertThat(registry.get("ncs.queue.wait").tag("kernel", "sort").timer().count())
                .isEqualTo(1);
    }

    @Test
    void aRequestClosedWhileQueuedLeavesTheQueueWithoutAWaitRecorded() {
        NativeExecutor.Admission admission = executor.admit("fft");
        admission.queued();

        admission.close();

        assertThat(gauge("ncs.queue.depth")).isZero();
        assertThat(registry.find("ncs.queue.wait").timer()).isNull();
    }

    @Test
    void tasksRunOnTheWorkerThreadsAndCountAsBusyWhileTheyRun() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Future<Thread> task =
                executor.submit(() -> {
                    running.countDown();
                    release.await();
                    return Thread.currentThread();
                });
        assertThat(running.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(gauge("ncs.workers.busy")).isEqualTo(1);
        assertThat(gauge("ncs.workers.threads")).isEqualTo(1);

        release.countDown();
        Thread worker = task.get(10, TimeUnit.SECONDS);

        assertThat(worker.getName()).isEqualTo("ncs-worker-1");
        assertThat(worker.isVirtual()).isFalse();
        assertThat(gauge("ncs.workers.busy")).isZero();
    }

    @Test
    void controlCallsRunOnTheirOwnThreadBesideBusyWorkersAndRethrowAsThrown() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Future<?> blocking = executor.submit(() -> release.await(10, TimeUnit.SECONDS));
        IllegalArgumentException failure = new IllegalArgumentException("bad handle");

        assertThat(executor.control(() -> Thread.currentThread().getName()))
                .isEqualTo("ncs-native-control");
        assertThatThrownBy(() ->
                        executor.control(() -> {
                            throw failure;
                        }))
                .isSameAs(failure);
        assertThatThrownBy(() ->
                        executor.control(() -> {
                            throw new IOException("checked");
                        }))
                .isInstanceOf(IllegalStateException.class)
                .hasCauseInstanceOf(IOException.class);

        release.countDown();
        blocking.get(10, TimeUnit.SECONDS);
    }

    @Test
    void tasksSubmittedBeforeDestroyStillComplete() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Future<String> first =
                executor.submit(() -> {
                    release.await();
                    return "first";
                });
        Future<String> queued = executor.submit(() -> "queued");
        Thread destroyer =
                Thread.ofPlatform()
                        .start(() -> {
                            try {
                                executor.destroy();
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        });

        release.countDown();
        destroyer.join(10_000);

        assertThat(first.get(1, TimeUnit.SECONDS)).isEqualTo("first");
        assertThat(queued.get(1, TimeUnit.SECONDS)).isEqualTo("queued");
        assertThatThrownBy(() -> executor.submit(() -> "late"))
                .isInstanceOf(java.util.concurrent.RejectedExecutionException.class);
    }

    @Test
    void zeroThreadsMeansOnePerCoreAndNegativeSettingsAreRefused() {
        assertThat(new WorkersProperties(0, 64).effectiveThreads())
                .isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(new WorkersProperties(3, 0).effectiveThreads()).isEqualTo(3);
        assertThatThrownBy(() -> new WorkersProperties(-1, 64))
                .hasMessageContaining("ncs.workers.threads must be >= 0");
        assertThatThrownBy(() -> new WorkersProperties(1, -1))
                .hasMessageContaining("ncs.workers.queue-capacity");
    }

    private double gauge(String name) {
        return registry.get(name).gauge().value();
    }
}
