package dev.ncs.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Waiting for native tasks: failures come back as thrown, deadlines are kept, interrupts are not
 * lost.
 */
class WorkersTests {

    private final ExecutorService pool = Executors.newSingleThreadExecutor();

    @AfterEach
    void stop() {
        pool.shutdownNow();
        Thread.interrupted(); // a test that interrupted itself must not leave the runner's thread
        // interrupted
    }

    @Test
    void awaitReturnsTheValueAndRethrowsUncheckedFailuresAsTheyWere() {
        IllegalStateException failure = new IllegalStateException("kernel failed");
        OutOfMemoryError error = new OutOfMemoryError("heap");

        assertThat(Workers.await(CompletableFuture.completedFuture(42))).isEqualTo(42);
        assertThatThrownBy(() -> Workers.await(CompletableFuture.failedFuture(failure)))
                .isSameAs(failure);
        assertThatThrownBy(() -> Workers.await(CompletableFuture.failedFuture(error)))
                .isSameAs(error);
        assertThatThrownBy(() ->
                        Workers.await(CompletableFuture.failedFuture(new Exception("checked"))))
                .isInstanceOf(IllegalStateException.class)
                .hasRootCauseMessage("checked");
    }

    @Test
    void awaitOnACancelledTaskSaysSo() {
        FutureTask<String> task = new FutureTask<>(() -> "never");
        task.cancel(false);

        assertThatThrownBy(() -> Workers.await(task))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("native task was cancelled");
    }

    @Test
    void anInterruptDoesNotAbandonTheTaskAndIsKeptForTheCaller() {
        Future<String> slow =
                pool.submit(() -> {
                    Thread.sleep(100);
                    return "done";
                });
        Thread.currentThread().interrupt();

        assertThat(Workers.await(slow)).isEqualTo("done");
        assertThat(Thread.interrupted()).as("the interrupt is still set").isTrue();
    }

    @Test
    void awaitUntilIsFalseOnceTheDeadlinePassesAndTrueWhenTheTaskEndsFirst() throws Exception {
        Future<String> slow =
                pool.submit(() -> {
                    Thread.sleep(300);
                    return "done";
                });

        long start = System.nanoTime();
        assertThat(Workers.awaitUntil(slow, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50)))
                .isFalse();
        assertThat(System.nanoTime() - start).isLessThan(TimeUnit.MILLISECONDS.toNanos(290));
        assertThat(Workers.awaitUntil(slow, System.nanoTime() - 1))
                .as("a deadline already past")
                .isFalse();
        assertThat(Workers.awaitUntil(slow, Long.MAX_VALUE)).as("no deadline").isTrue();
        assertThat(slow.get()).isEqualTo("done");
        assertThat(Workers.awaitUntil(slow, System.nanoTime() - 1))
                .as("done, though the deadline has passed")
                .isTrue();
    }

    @Test
    void awaitUntilRethrowsTheTasksFailure() {
        IllegalArgumentException failure = new IllegalArgumentException("bad input");

        assertThatThrownBy(() ->
                        Workers.awaitUntil(CompletableFuture.failedFuture(failure), Long.MAX_VALUE))
                .isSameAs(failure);
        assertThatThrownBy(() ->
                        Workers.awaitUntil(
                                CompletableFuture.failedFuture(failure),
                                System.nanoTime() + TimeUnit.SECONDS.toNanos(10)))
                .isSameAs(failure);
    }
}
