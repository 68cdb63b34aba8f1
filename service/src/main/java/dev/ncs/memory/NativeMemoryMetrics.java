package dev.ncs.memory;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.nativelib.LeakReports;
import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.function.ToDoubleFunction;
import org.springframework.stereotype.Component;

/**
 * libncs's counters as Micrometer meters (names and meanings: docs/operations.md, "Metrics"). Each
 * reading asks libncs on the native control thread, since scrapes arrive on virtual threads.
 */
@Component
class NativeMemoryMetrics implements MeterBinder {

    private final NativeMemory memory;
    private final LeakReports leakReports;
    private final NativeExecutor executor;
    private final KernelCatalog catalog;

    NativeMemoryMetrics(
            NativeMemory memory,
            LeakReports leakReports,
            NativeExecutor executor,
            KernelCatalog catalog) {
        this.memory = memory;
        this.leakReports = leakReports;
        this.executor = executor;
        this.catalog = catalog;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        gauge(
                registry,
                "ncs.native.buffers.live",
                null,
                "Native buffers alive now",
                NativeStats::liveBuffers);
        gauge(
                registry,
                "ncs.native.memory.live",
                "bytes",
                "Bytes held by live native buffers",
                NativeStats::liveBytes);
        gauge(
                registry,
                "ncs.native.memory.peak",
                "bytes",
                "High-water mark of live native bytes",
                NativeStats::peakBytes);
        gauge(
                registry,
                "ncs.native.memory.limit",
                "bytes",
                "Native memory budget (0 = unlimited)",
                NativeStats::limitBytes);
        gauge(
                registry,
                "ncs.native.memory.cached",
                "bytes",
                "Bytes of freed native buffers kept for reuse (not live; within the budget)",
                NativeStats::cachedBytes);
        counter(
                registry,
                "ncs.native.buffer.reuses",
                "Native buffer allocations served from the buffer cache",
                NativeStats::cacheReuses);
        counter(
                registry,
                "ncs.native.allocations",
                "Native buffers allocated",
                NativeStats::allocations);
        counter(registry, "ncs.native.frees", "Native buffers freed", NativeStats::frees);
        counter(
                registry,
                "ncs.refcount.retains",
                "Successful retain calls on native buffers",
                NativeStats::retains);
        counter(
                registry,
                "ncs.refcount.releases",
                "Successful release calls on native buffers",
                NativeStats::releases);
        counter(
                registry,
                "ncs.stale.handle.uses",
                "Uses of a released buffer handle, refused",
                NativeStats::staleHandleUses);
        counter(
                registry,
                "ncs.double.releases",
                "Releases of an already freed buffer, refused",
                NativeStats::doubleReleases);
        for (KernelMetadata kernel : catalog.all()) {
            String name = kernel.name();
            leaks(registry, "java", name, r -> r.javaLeaks(name));
            leaks(registry, "kernel", name, r -> r.kernelLeaks(name));
        }
    }

    private void gauge(
            MeterRegistry registry,
            String name,
            String unit,
            String description,
            ToDoubleFunction<NativeStats> value) {
        Gauge.builder(name, this, m -> value.applyAsDouble(m.read()))
                .baseUnit(unit)
                .description(description)
                .register(registry);
    }

    private void counter(
            MeterRegistry registry,
            String name,
            String description,
            ToDoubleFunction<NativeStats> value) {
        FunctionCounter.builder(name, this, m -> value.applyAsDouble(m.read()))
                .description(description)
                .register(registry);
    }

    private void leaks(
            MeterRegistry registry,
            String source,
            String kernel,
            ToDoubleFunction<LeakReports> value) {
        FunctionCounter.builder("ncs.leaks", leakReports, value)
                .description("Leaked native buffers detected and reclaimed, by where the leak was")
                .tags("source", source, "kernel", kernel)
                .register(registry);
    }

    private NativeStats read() {
        return executor.control(memory::stats);
    }
}
