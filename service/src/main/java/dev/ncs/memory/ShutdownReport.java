package dev.ncs.memory;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * The last word on native memory: at shutdown, after the web server has drained its requests and
 * before the workers stop, gives the buffer cache back and says how many native buffers and bytes
 * are still live (zero when every owner released what it took). A warning otherwise, with the
 * figures, so a leak at exit is not silent.
 */
@Component
class ShutdownReport implements DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(ShutdownReport.class);

    private final NativeMemory memory;
    private final NativeExecutor executor;

    ShutdownReport(NativeMemory memory, NativeExecutor executor) {
        this.memory = memory;
        this.executor = executor;
    }

    @Override
    public void destroy() {
        // The cache off for good: buffers released after this report are given back at once, not
        // cached again.
        NativeStats stats =
                executor.control(() -> {
                    NativeStats now = memory.stats();
                    memory.setBufferCacheLimit(0);
                    return now;
                });
        if (stats.liveBuffers() == 0 && stats.liveBytes() == 0) {
            log.info(
                    "native memory at shutdown: 0 buffers live, 0 bytes ({} allocated and freed, {} kernel leaks "
                            + "reclaimed, {} cached bytes given back)",
                    stats.allocations(),
                    stats.kernelLeaks(),
                    stats.cachedBytes());
        } else {
            log.warn(
                    "native memory at shutdown: {} buffers live, {} bytes",
                    stats.liveBuffers(),
                    stats.liveBytes());
        }
    }
}
