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
 * The kernel layer's meters, registered once and kept: a request records into them without a
 * registry look-up. Kernel names are bounded (the catalog), outcomes are an enum, protocols are
 * {@link Protocol}'s. One instance per protocol ({@link #of}), sharing the counters.
 */
final class KernelMeters {

    private final MeterRegistry registry;
    private final String protocol;
    private final Map<String, AtomicReferenceArray<Timer>> kernelTimes = new ConcurrentHashMap<>();
    private final Map<Protocol, KernelMeters> byProtocol;
    final Counter memoryRejections;
    final Counter deadlineRejections;
    final Counter disconnectRejections;

    /** The meters of requests that came over HTTP; {@link #of} gives the other protocols'. */
    KernelMeters(MeterRegistry registry) {
        this.registry = registry;
        this.protocol = Protocol.HTTP.tag();
        this.byProtocol = new ConcurrentHashMap<>();
        this.byProtocol.put(Protocol.HTTP, this);
        this.memoryRejections = NativeExecutor.rejections(registry, "memory_budget");
        this.deadlineRejections = NativeExecutor.rejections(registry, "deadline");
        this.disconnectRejections = NativeExecutor.rejections(registry, "client_disconnected");
    }

    private KernelMeters(KernelMeters shared, Protocol protocol) {
        this.registry = shared.registry;
        this.protocol = protocol.tag();
        this.byProtocol = shared.byProtocol;
        this.memoryRejections = shared.memoryRejections;
        this.deadlineRejections = shared.deadlineRejections;
        this.disconnectRejections = shared.disconnectRejections;
    }

    /** The meters of requests that came over {@code protocol}. */
    KernelMeters of(Protocol protocol) {
        return byProtocol.computeIfAbsent(protocol, p -> new KernelMeters(this, p));
    }

    /**
     * Records a kernel's time from a worker taking its request up to its outputs (or its failure).
     */
    void kernelTime(String kernel, Outcome outcome, long nanos) {
        AtomicReferenceArray<Timer> timers =
                kernelTimes.computeIfAbsent(
                        kernel, k -> new AtomicReferenceArray<>(Outcome.values().length));
        Timer timer = timers.get(outcome.ordinal());
        if (timer == null) {
            timer =
                    Timer.builder("ncs.kernel")
                            .description(
                                    "Kernel execution time, from a worker taking the request up to its outputs")
                            .tags("kernel", kernel, "outcome", outcome.tag(), "protocol", protocol)
                            .publishPercentileHistogram()
                            .register(registry); // idempotent: a racing thread gets the same timer
            timers.set(outcome.ordinal(), timer);
        }
        timer.record(nanos, TimeUnit.NANOSECONDS);
    }
}
