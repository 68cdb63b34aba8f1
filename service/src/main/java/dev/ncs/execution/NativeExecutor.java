package dev.ncs.execution;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * Where native code runs: a fixed pool of platform threads ({@code ncs.workers.threads}) and, for
 * short bookkeeping calls made on behalf of virtual threads (statistics, releasing buffers), one
 * control thread that never waits behind kernels.
 *
 * <p>Admission is per request: at most {@code threads + queue-capacity} requests are inside at
 * once; the next one is refused with {@link QueueFullException}. An admitted request's tasks
 * (setup, its parts, finish) are leaf tasks that never wait on each other, so the pool cannot
 * deadlock; the request's own virtual thread does the waiting.
 */
@Component
public class NativeExecutor implements Workers, DisposableBean {

    private static final Duration RETRY_AFTER = Duration.ofSeconds(1);

    private final int threads;
    private final int queueCapacity;
    private final ThreadPoolExecutor workers;
    private final ExecutorService control;
    private final Semaphore admission;
    private final AtomicInteger waiting = new AtomicInteger();
    private final AtomicInteger busy = new AtomicInteger();
    private final MeterRegistry registry;
    private final Counter queueFullRejections;
    private final Map<String, Timer> queueWaits = new ConcurrentHashMap<>();

    public NativeExecutor(WorkersProperties properties, MeterRegistry registry) {
        this.threads = properties.effectiveThreads();
        this.queueCapacity = properties.queueCapacity();
        this.registry = registry;
        this.workers =
                new ThreadPoolExecutor(
                        threads,
                        threads,
                        0,
                        TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(),
                        Thread.ofPlatform().name("ncs-worker-", 1).factory());
        this.control =
                Executors.newSingleThreadExecutor(
                        Thread.ofPlatform().name("ncs-native-control").daemon().factory());
        this.admission = new Semaphore(threads + queueCapacity);
        Gauge.builder("ncs.queue.depth", waiting, AtomicInteger::get)
                .description("Requests admitted and waiting for a native worker")
                .register(registry);
        Gauge.builder("ncs.workers.busy", busy, AtomicInteger::get)
                .description("Native workers running native code now")
                .register(registry);
        Gauge.builder("ncs.workers.threads", () -> threads)
                .description("Size of the native worker pool")
                .register(registry);
        this.queueFullRejections = rejections(registry, "queue_full");
    }

    /** The counter of refused requests for {@code reason} (a fixed word). */
    public static Counter rejections(MeterRegistry registry, String reason) {
        return Counter.builder("ncs.rejected")
                .description("Requests refused before or instead of running, by reason")
                .tag("reason", reason)
                .register(registry);
    }

    @Override
    public int threads() {
        return threads;
    }

    /**
     * Admits one request for {@code kernel} or throws {@link QueueFullException}. Close the
     * admission when the request is done.
     */
    public Admission admit(String kernel) {
        if (!admission.tryAcquire()) {
            queueFullRejections.increment();
            throw new QueueFullException(
                    "all "
                            + threads
                            + " native workers are busy and "
                            + queueCapacity
                            + " requests are already waiting; retry after "
                            + RETRY_AFTER.toSeconds()
                            + " s",
                    RETRY_AFTER);
        }
        return new Admission(kernel);
    }

    @Override
    public <T> Future<T> submit(Callable<T> task) {
        return workers.submit(() -> {
            busy.incrementAndGet();
            try {
                return task.call();
            } finally {
                busy.decrementAndGet();
            }
        });
    }

    @Override
    public <T> T control(Callable<T> task) {
        return Workers.await(control.submit(task));
    }

    @Override
    public void destroy() throws InterruptedException {
        // The control thread outlives the workers: requests still finishing release their buffers
        // through it.
        workers.shutdown();
        workers.awaitTermination(30, TimeUnit.SECONDS);
        control.shutdown();
        control.awaitTermination(5, TimeUnit.SECONDS);
    }

    /**
     * One admitted request: {@link #queued()} when its inputs are in native memory and it waits for
     * a worker, {@link #started()} when a worker takes it up; close when it is done. Time spent
     * receiving the body counts against admission but not as queue wait.
     */
    public final class Admission implements Workers.Ticket, AutoCloseable {
        private final String kernel;
        private final AtomicBoolean queued = new AtomicBoolean();
        private final AtomicBoolean started = new AtomicBoolean();
        private final AtomicBoolean closed = new AtomicBoolean();
        private volatile long queuedAt;

        private Admission(String kernel) {
            this.kernel = kernel;
        }

        @Override
        public void queued() {
            if (queued.compareAndSet(false, true)) {
                queuedAt = System.nanoTime();
                waiting.incrementAndGet();
            }
        }

        @Override
        public void started() {
            if (queued.get() && started.compareAndSet(false, true)) {
                waiting.decrementAndGet();
                queueWaits
                        .computeIfAbsent(
                                kernel,
                                k ->
                                        Timer.builder("ncs.queue.wait")
                                                .description(
                                                        "Time from a request's admission to a worker starting it")
                                                .tag("kernel", k)
                                                .publishPercentileHistogram()
                                                .register(registry))
                        .record(System.nanoTime() - queuedAt, TimeUnit.NANOSECONDS);
            }
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                if (queued.get() && started.compareAndSet(false, true)) {
                    waiting.decrementAndGet();
                }
                admission.release();
            }
        }
    }
}
