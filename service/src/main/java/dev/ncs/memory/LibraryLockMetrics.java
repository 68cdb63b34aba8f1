package dev.ncs.memory;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.plugin.PluginLoader;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.springframework.context.annotation.DependsOn;
import org.springframework.stereotype.Component;

/**
 * Per-library lock contention ({@code ncs_library_lock_wait_seconds}, {@code ncs_library_lock_held_seconds}):
 * how long kernel steps of non-thread-safe libraries waited for their library's lock, and held it.
 * Thread-safe libraries have no lock and report zero. One pair of timers per library loaded at start-up.
 */
@Component
@DependsOn(PluginLoader.BEAN)
class LibraryLockMetrics implements MeterBinder {

    private final NativeRuntime runtime;
    private final NativeExecutor executor;

    LibraryLockMetrics(NativeRuntime runtime, NativeExecutor executor) {
        this.runtime = runtime;
        this.executor = executor;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        List<String> libraries = executor.control(runtime::libraryNames);
        for (int i = 0; i < libraries.size(); i++) {
            int index = i;
            timer(registry, "ncs.library.lock.wait", "Time kernel steps waited for their library's lock",
                    libraries.get(i), index, 1);
            timer(registry, "ncs.library.lock.held", "Time kernel steps held their library's lock",
                    libraries.get(i), index, 2);
        }
    }

    private void timer(MeterRegistry registry, String name, String description, String library, int index, int stat) {
        FunctionTimer.builder(name, this, m -> m.stats(index)[0], m -> m.stats(index)[stat], TimeUnit.NANOSECONDS)
                .description(description)
                .tag("library", library)
                .register(registry);
    }

    private long[] stats(int index) {
        return executor.control(() -> runtime.lockStats(index));
    }
}
