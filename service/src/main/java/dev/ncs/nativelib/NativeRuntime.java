package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.lang.ref.Cleaner;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The safe Java face of libncs. Handles become objects ({@link NativeBuffer}, {@link NativeCall}),
 * statuses become {@link NativeException}s, and no JNA type leaves this package.
 *
 * <p>libncs is process-wide, so there is one runtime per JVM ({@link #load}). Every method here
 * refuses to run on a virtual thread: a thread inside native code pins its carrier, so native work
 * belongs on the platform threads of the native executor.
 */
public final class NativeRuntime {

    private static final Logger log = LoggerFactory.getLogger(NativeRuntime.class);
    private static NativeRuntime instance;

    private final String version;
    private final Cleaner cleaner = Cleaner.create(Thread.ofPlatform().name("ncs-buffer-cleaner").daemon().factory());
    private final Map<String, LongAdder> javaLeaks = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> kernelLeaks = new ConcurrentHashMap<>();
    private static final long LEAK_LOG_INTERVAL_NANOS = 60_000_000_000L;
    private final Map<String, Long> lastLeakLog = new ConcurrentHashMap<>();
    private volatile LeakDetection leakDetection = LeakDetection.SIMPLE;
    private volatile int samplingInterval = 128;

    private NativeRuntime(String version) {
        this.version = version;
    }

    /**
     * Loads libncs once per JVM (later calls return the same runtime) from the override path if
     * given, else the system library path, else the copy bundled in the jar.
     */
    public static synchronized NativeRuntime load(Optional<Path> override) {
        requirePlatformThread();
        if (instance == null) {
            NcsLibrary.register(NativeLibraryLoader.load(override));
            instance = new NativeRuntime(NcsLibrary.ncs_version_string());
            log.info("libncs {} loaded", instance.version);
        }
        return instance;
    }

    public String version() {
        return version;
    }

    /** Allocates a native buffer of {@code size} bytes for {@code owner} (a kernel name, bounded). */
    public NativeBuffer allocate(long size, String owner) {
        requirePlatformThread();
        long[] handle = new long[1];
        check(NcsLibrary.ncs_buffer_alloc(size, handle),
                () -> "cannot allocate " + size + " bytes of native memory: " + budgetText());
        NcsLibrary.ncs_buffer_set_owner(handle[0], "java:" + owner);
        return NativeBuffer.adopt(this, handle[0], owner);
    }

    public NativeStats stats() {
        requirePlatformThread();
        long[] counters = new long[NativeStats.COUNT];
        NcsLibrary.ncs_stats_read(counters, counters.length);
        return NativeStats.of(counters);
    }

    /** Sets the live-bytes budget; 0 means unlimited. */
    public void setMemoryLimit(long bytes) {
        requirePlatformThread();
        NcsLibrary.ncs_set_memory_limit(bytes);
    }

    /**
     * Sets the most bytes of freed large buffers libncs keeps for reuse (0 = none); what is over a
     * lowered limit is given back at once. Cached bytes count within the memory limit.
     */
    public void setBufferCacheLimit(long bytes) {
        requirePlatformThread();
        NcsLibrary.ncs_set_buffer_cache_limit(bytes);
    }

    /** Gives cached blocks unused for at least {@code minIdle} back to the system; returns their bytes. */
    public long trimBufferCache(Duration minIdle) {
        requirePlatformThread();
        return NcsLibrary.ncs_buffer_cache_trim(minIdle.toMillis());
    }

    public List<String> kernelNames() {
        requirePlatformThread();
        int count = NcsLibrary.ncs_kernel_count();
        List<String> names = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            names.add(NcsLibrary.ncs_kernel_name(i));
        }
        return names;
    }

    /** The kernel's descriptor as JSON (see {@code ncs_kernel_metadata_json}). */
    public String kernelMetadataJson(String kernel) {
        requirePlatformThread();
        String json = NcsLibrary.ncs_kernel_metadata_json(kernel);
        if (json == null) {
            throw new NativeException(NativeStatus.NOT_FOUND, "no kernel named '" + kernel + "'");
        }
        return json;
    }

    /** Starts a call of {@code kernel}; the caller closes it. */
    public NativeCall newCall(String kernel) {
        requirePlatformThread();
        long[] call = new long[1];
        check(NcsLibrary.ncs_call_create(kernel, call), () -> "no kernel named '" + kernel + "'");
        return new NativeCall(this, call[0], kernel);
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

    Cleaner cleaner() {
        return cleaner;
    }

    void reportJavaLeak(long handle, long size, String owner, String records) {
        javaLeaks.computeIfAbsent(owner, k -> new LongAdder()).increment();
        log.warn("LEAK: native buffer {} ({} bytes, owner '{}') became unreachable without being released; "
                + "its memory was reclaimed{}", Long.toHexString(handle), size, owner,
                records.isEmpty() ? " (ncs.leak-detection.level=advanced or paranoid records where)" : ":" + records);
    }

    /** Sets how Java-side leaks are looked for (applies to buffers created from now on). */
    public void setLeakDetection(LeakDetection level, int samplingInterval) {
        this.leakDetection = level;
        this.samplingInterval = samplingInterval;
    }

    LeakDetection leakDetection() {
        return leakDetection;
    }

    int samplingInterval() {
        return samplingInterval;
    }

    void reportKernelLeaks(String kernel, long leaked, long bytes) {
        kernelLeaks.computeIfAbsent(kernel, k -> new LongAdder()).add(leaked);
        long now = System.nanoTime();
        Long last = lastLeakLog.get(kernel);
        if (last == null || now - last > LEAK_LOG_INTERVAL_NANOS) {
            lastLeakLog.put(kernel, now);
            log.warn("LEAK: kernel '{}' left {} buffer(s), {} bytes, allocated when its call ended; they were "
                    + "reclaimed ({} leaked buffers from this kernel so far; this message at most once a minute)",
                    kernel, leaked, bytes, kernelLeaks(kernel));
        }
    }

    /**
     * Loads a kernel library (see {@code ncs_plugin_load}): its kernels join the catalog. Returns null on
     * success, else libncs's reason for refusing it (nothing of it stays loaded).
     */
    public String loadPlugin(Path file) {
        requirePlatformThread();
        byte[] error = new byte[1024];
        int status = NcsLibrary.ncs_plugin_load(file.toString(), error, error.length);
        if (status == NativeStatus.OK.code()) {
            return null;
        }
        int end = 0;
        while (end < error.length && error[end] != 0) {
            end++;
        }
        String reason = new String(error, 0, end, java.nio.charset.StandardCharsets.UTF_8);
        return reason.isEmpty() ? NcsLibrary.ncs_status_str(status) : reason;
    }

    /**
     * The kernel's state of the TCP connection between the two ends (Linux's numbering: 1 established,
     * 8 close-wait: the peer closed its side), 0 when there is no such connection (any more), or -1
     * when it cannot be told (addresses of different families, or no such lookup on this system).
     */
    public int tcpState(InetAddress localAddress, int localPort, InetAddress remoteAddress, int remotePort) {
        requirePlatformThread();
        byte[] local = localAddress.getAddress();
        byte[] remote = remoteAddress.getAddress();
        if (local.length != remote.length) {
            return -1;
        }
        int state = NcsLibrary.ncs_tcp_state(local.length == 4 ? 4 : 6, local, localPort, remote, remotePort);
        return state < 0 ? -1 : state;
    }

    /** Names of the kernel libraries loaded ("builtin" and the plugins), in index order. */
    public List<String> libraryNames() {
        requirePlatformThread();
        int count = NcsLibrary.ncs_library_count();
        List<String> names = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            names.add(NcsLibrary.ncs_library_name(i));
        }
        return names;
    }

    /** Library {@code index}'s lock: {acquisitions, wait nanoseconds, held nanoseconds}, all since start. */
    public long[] lockStats(int index) {
        requirePlatformThread();
        long[] stats = new long[3];
        NcsLibrary.ncs_library_lock_stats(index, stats, stats.length);
        return stats;
    }

    /** Live native buffers grouped by owner, as libncs's JSON ({@code ncs_buffer_snapshot}). */
    public String snapshotJson() {
        requirePlatformThread();
        long[] needed = new long[1];
        byte[] out = new byte[16 * 1024];
        while (NcsLibrary.ncs_buffer_snapshot(out, out.length, needed) != NativeStatus.OK.code()) {
            if (needed[0] <= out.length) {
                throw new NativeException(NativeStatus.INTERNAL, "ncs_buffer_snapshot failed");
            }
            out = new byte[(int) needed[0] + 1024];
        }
        int end = 0;
        while (end < out.length && out[end] != 0) {
            end++;
        }
        return new String(out, 0, end, java.nio.charset.StandardCharsets.UTF_8);
    }

    private String budgetText() {
        NativeStats stats = stats();
        return stats.limitBytes() == 0
                ? "the system allocator refused"
                : "the native memory budget is " + stats.limitBytes() + " bytes and " + stats.liveBytes()
                        + " are in use";
    }

    static void check(int status, java.util.function.Supplier<String> context) {
        if (status != NativeStatus.OK.code()) {
            NativeStatus s = NativeStatus.of(status);
            throw new NativeException(s, context.get() + " (" + NcsLibrary.ncs_status_str(status) + ")");
        }
    }

    static void requirePlatformThread() {
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException("native call on virtual thread " + Thread.currentThread()
                    + ": run native work on the native executor's platform threads");
        }
    }
}
