package dev.ncs.memory;

import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeProperties;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * Gives libncs's cached buffer memory back to the system once it has gone unused for {@code
 * ncs.native.buffer-cache.idle}, so memory kept during a burst does not stay with an idle service.
 * Checks every second (more often for a shorter idle time), on a platform thread of its own; not at
 * all when the cache is off ({@code ncs.native.buffer-cache.size=0}).
 */
@Component
class BufferCacheTrimmer implements DisposableBean {

    private static final Duration MOST_BETWEEN_CHECKS = Duration.ofSeconds(1);
    private static final Duration LEAST_BETWEEN_CHECKS = Duration.ofMillis(50);
    private static final Logger log = LoggerFactory.getLogger(BufferCacheTrimmer.class);

    private final ScheduledExecutorService scheduler =
            Executors.newSingleThreadScheduledExecutor(
                    Thread.ofPlatform().name("ncs-buffer-cache-trim").daemon().factory());

    BufferCacheTrimmer(NativeMemory memory, NativeProperties properties) {
        if (properties.bufferCache().size().toBytes() == 0) {
            return;
        }
        Duration idle = properties.bufferCache().idle();
        long every = between(idle).toMillis();
        scheduler.scheduleWithFixedDelay(
                () -> trim(memory, idle), every, every, TimeUnit.MILLISECONDS);
    }

    /**
     * One check; a failure is logged and the next check still runs (a scheduled task that throws
     * never runs again).
     */
    private static void trim(NativeMemory memory, Duration idle) {
        try {
            memory.trimBufferCache(idle);
        } catch (RuntimeException e) {
            log.error("trimming the native buffer cache failed; trying again at the next check", e);
        }
    }

    /** Half the idle time, within 50 ms and one second: a block is given back at most that late. */
    static Duration between(Duration idle) {
        Duration half = idle.dividedBy(2);
        if (half.compareTo(LEAST_BETWEEN_CHECKS) < 0) {
            return LEAST_BETWEEN_CHECKS;
        }
        return half.compareTo(MOST_BETWEEN_CHECKS) > 0 ? MOST_BETWEEN_CHECKS : half;
    }

    @Override
    public void destroy() {
        scheduler.shutdownNow();
    }
}
