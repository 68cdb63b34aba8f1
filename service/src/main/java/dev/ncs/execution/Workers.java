package dev.ncs.execution;

import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Where a request's native work runs: {@link NativeExecutor} in the service, a hand-driven fake in
 * the state machine's tests.
 */
public interface Workers {

    /**
     * An admitted request's place in the queue: it tells when it starts waiting and when a worker
     * takes it.
     */
    interface Ticket {

        /**
         * The request's inputs are in and it waits for a worker (time spent receiving it is not
         * queue wait).
         */
        void queued();

        /** A worker took the request up. */
        void started();
    }

    /** How many native workers there are: the most parts a call is split into. */
    int threads();

    /** Submits a task to the native workers. */
    <T> Future<T> submit(Callable<T> task);

    /**
     * Runs a short native bookkeeping call (releasing buffers, setting a cancel flag) on a platform
     * thread that never waits behind kernels, and waits for it; the task's exception is rethrown as
     * is.
     */
    <T> T control(Callable<T> task);

    /**
     * Waits for {@code future} until {@code deadline} ({@link System#nanoTime()} based; {@code
     * Long.MAX_VALUE} for none). Returns false if the deadline passed first; rethrows the task's
     * failure as {@link #await}.
     */
    static boolean awaitUntil(Future<?> future, long deadline) {
        boolean interrupted = false;
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                if (deadline != Long.MAX_VALUE && left <= 0 && !future.isDone()) {
                    return false;
                }
                try {
                    if (deadline == Long.MAX_VALUE) {
                        future.get();
                    } else {
                        future.get(Math.max(0, left), TimeUnit.NANOSECONDS);
                    }
                    return true;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (TimeoutException e) {
                    return false;
                }
            }
        } catch (ExecutionException e) {
            await(future);
            return true;
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Waits for {@code future}; unchecked exceptions and errors from the task are rethrown as they
     * were.
     */
    static <T> T await(Future<T> future) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return future.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IllegalStateException(cause);
        } catch (CancellationException e) {
            throw new IllegalStateException("native task was cancelled", e);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
