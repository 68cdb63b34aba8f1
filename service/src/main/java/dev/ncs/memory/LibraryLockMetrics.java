package dev.ncs.memory;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeKernels;
import dev.ncs.plugin.PluginLoader;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import org.springframework.context.annotation.DependsOn;
import org.springframework.stereotype.Component;

/**
 * Per-library lock contention ({@code ncs_library_lock_wait_seconds}, {@code
 * ncs_library_lock_held_seconds}): how long kernel steps of non-thread-safe libraries waited for
 * their library's lock, and held it. Thread-safe libraries have no lock and report zero. One pair
 * of timers per library loaded at start-up.
 */
@Component
@DependsOn(PluginLoader.BEAN)
class LibraryLockMetrics implements MeterBinder {

    private final NativeKernels kernels;
    private final NativeExecutor executor;

    LibraryLockMetrics(NativeKernels kernels, NativeExecutor executor) {
        this.kernels = kernels;
        this.executor = executor;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        List<String> libraries = executor.control(kernels::libraryNames);
        for (int i = 0; i < libraries.size(); i++) {
            int index = i;
            timer(
                    registry,
                    "ncs.library.lock.wait",
                    "Time kernel steps waited for their library's lock",
                    libraries.get(i),
                    index,
                    NativeKernels.LockStats::waitNanos);
            timer(
                    registry,
                    "ncs.library.lock.held",
                    "Time kernel steps held their library's lock",
                    libraries.get(i),
                    index,
                    NativeKernels.LockStats::heldNanos);
        }
    }

    private void timer(
            MeterRegistry registry,
            String name,
            String description,
            String library,
            int index,
            ToLongFunction<NativeKernels.LockStats> stat) {
        FunctionTimer.builder(
                        name,
                        this,
                        m -> m.stats(index).acquisitions(),
                        m -> stat.applyAsLong(m.stats(index)),
                        TimeUnit.NANOSECONDS)
                .description(description)
                .tag("library", library)
                .register(registry);
    }

    private NativeKernels.LockStats stats(int index) {
        return executor.control(() -> kernels.lockStats(index));
    }
}
