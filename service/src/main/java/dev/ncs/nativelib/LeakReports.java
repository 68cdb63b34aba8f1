package dev.ncs.nativelib;

import java.lang.ref.Cleaner;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leaks, both sides, counted and logged: Java buffers that became unreachable unreleased (reclaimed
 * by a {@link Cleaner}), and buffers a kernel allocated and neither returned nor released
 * (reclaimed when its call is destroyed). How hard to look on the Java side is {@link
 * LeakDetection}.
 */
public final class LeakReports {

    private static final Logger log = LoggerFactory.getLogger(LeakReports.class);
    private static final long LEAK_LOG_INTERVAL_NANOS = 60_000_000_000L;

    private final Cleaner cleaner =
            Cleaner.create(Thread.ofPlatform().name("ncs-buffer-cleaner").daemon().factory());
    private final Map<String, LongAdder> javaLeaks = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> kernelLeaks = new ConcurrentHashMap<>();
    private final Map<String, Long> lastLeakLog = new ConcurrentHashMap<>();
    private volatile LeakDetection level = LeakDetection.SIMPLE;
    private volatile int samplingInterval = 128;

    LeakReports() {}

    /** Sets how Java-side leaks are looked for (applies to buffers created from now on). */
    public void setLeakDetection(LeakDetection level, int samplingInterval) {
        this.level = level;
        this.samplingInterval = samplingInterval;
    }

    /** Java-side leaks (buffers that became unreachable unreleased) by owner. */
    public long javaLeaks(String owner) {
        LongAdder count = javaLeaks.get(owner);
        return count == null ? 0 : count.sum();
    }

    /** Kernel-side leaks (buffers a kernel allocated and never released) by kernel. */
    public long kernelLeaks(String kernel) {
        LongAdder count = kernelLeaks.get(kernel);
        return count == null ? 0 : count.sum();
    }

    LeakDetection level() {
        return level;
    }

    int samplingInterval() {
        return samplingInterval;
    }

    Cleaner cleaner() {
        return cleaner;
    }

    void reportJavaLeak(long handle, long size, String owner, String records) {
        javaLeaks.computeIfAbsent(owner, k -> new LongAdder()).increment();
        log.warn(
                "LEAK: native buffer {} ({} bytes, owner '{}') became unreachable without being released; "
                        + "its memory was reclaimed{}",
                Long.toHexString(handle),
                size,
                owner,
                records.isEmpty()
                        ? " (ncs.leak-detection.level=advanced or paranoid records where)"
                        : ":" + records);
    }

    void reportKernelLeaks(String kernel, long leaked, long bytes) {
        kernelLeaks.computeIfAbsent(kernel, k -> new LongAdder()).add(leaked);
        long now = System.nanoTime();
        Long last = lastLeakLog.get(kernel);
        if (last == null || now - last > LEAK_LOG_INTERVAL_NANOS) {
            lastLeakLog.put(kernel, now);
            log.warn(
                    "LEAK: kernel '{}' left {} buffer(s), {} bytes, allocated when its call ended; they were "
                            + "reclaimed ({} leaked buffers from this kernel so far; this message at most once a minute)",
                    kernel,
                    leaked,
                    bytes,
                    kernelLeaks(kernel));
        }
    }
}
