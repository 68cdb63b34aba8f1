package dev.ncs.kernel;

import dev.ncs.execution.NativeExecutor;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The kernel layer's meters, registered once and kept: a request records into them without a registry
 * look-up. Kernel names are bounded (the catalog), outcomes are an enum.
 */
final class KernelMeters {

    private final MeterRegistry registry;
    private final Map<String, AtomicReferenceArray<Timer>> kernelTimes = new ConcurrentHashMap<>();
    final Counter memoryRejections;
    final Counter deadlineRejections;
    final Counter disconnectRejections;

    KernelMeters(MeterRegistry registry) {
        this.registry = registry;
        this.memoryRejections = NativeExecutor.rejections(registry, "memory_budget");
        this.deadlineRejections = NativeExecutor.rejections(registry, "deadline");
        this.disconnectRejections = NativeExecutor.rejections(registry, "client_disconnected");
    }

    /** Records a kernel's time from a worker taking its request up to its outputs (or its failure). */
    void kernelTime(String kernel, Outcome outcome, long nanos) {
        AtomicReferenceArray<Timer> timers = kernelTimes.computeIfAbsent(kernel,
                k -> new AtomicReferenceArray<>(Outcome.values().length));
        Timer timer = timers.get(outcome.ordinal());
        if (timer == null) {
            timer = Timer.builder("ncs.kernel")
                    .description("Kernel execution time, from a worker taking the request up to its outputs")
                    .tags("kernel", kernel, "outcome", outcome.tag())
                    .publishPercentileHistogram()
                    .register(registry); // idempotent: a racing thread gets the same timer
            timers.set(outcome.ordinal(), timer);
        }
        timer.record(nanos, TimeUnit.NANOSECONDS);
    }
}
