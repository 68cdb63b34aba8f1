package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * libncs's memory: buffers, the budget, the buffer cache, the counters and the snapshot of live
 * buffers by owner. Every method runs on a platform thread (see {@link NativeRuntime}).
 */
public final class NativeMemory {

    private final LeakReports leaks;

    NativeMemory(LeakReports leaks) {
        this.leaks = leaks;
    }

    /**
     * Allocates a native buffer of {@code size} bytes for {@code owner} (a kernel name, bounded).
     * Beyond the budget: {@link NativeException} with {@link NativeStatus#OUT_OF_MEMORY}, nothing
     * allocated.
     */
    public NativeBuffer allocate(long size, String owner) {
        NativeRuntime.requirePlatformThread();
        long[] handle = new long[1];
        NativeRuntime.check(
                NcsLibrary.ncs_buffer_alloc(size, handle),
                () -> "cannot allocate " + size + " bytes of native memory: " + budgetText());
        NcsLibrary.ncs_buffer_set_owner(handle[0], "java:" + owner);
        return NativeBuffer.adopt(leaks, handle[0], owner);
    }

    /**
     * Allocates a native buffer of {@code size} bytes that costs nothing against the budget until
     * its bytes are {@link #commit committed}: for memory filled as data arrives, whose declared
     * size is only a promise. Write no byte past what is committed; a kernel refuses it as an input
     * until all of it is. Fails only when the system has no memory or address space left.
     */
    public NativeBuffer allocateDeferred(long size, String owner) {
        NativeRuntime.requirePlatformThread();
        long[] handle = new long[1];
        NativeRuntime.check(
                NcsLibrary.ncs_buffer_alloc_deferred(size, handle),
                () -> "cannot reserve " + size + " bytes of address space");
        NcsLibrary.ncs_buffer_set_owner(handle[0], "java:" + owner);
        return NativeBuffer.adopt(leaks, handle[0], owner);
    }

    /**
     * Charges {@code buffer}'s first {@code bytes} to the budget (never fewer than before). Beyond
     * the budget: {@link NativeException} with {@link NativeStatus#OUT_OF_MEMORY}, nothing changed.
     */
    public void commit(NativeBuffer buffer, long bytes) {
        NativeRuntime.requirePlatformThread();
        NativeRuntime.check(
                NcsLibrary.ncs_buffer_commit(buffer.handle(), bytes),
                () -> "cannot commit " + bytes + " bytes of native memory: " + budgetText());
    }

    /** All counters, read at once. */
    public NativeStats stats() {
        NativeRuntime.requirePlatformThread();
        long[] counters = new long[NativeStats.COUNT];
        NcsLibrary.ncs_stats_read(counters, counters.length);
        return NativeStats.of(counters);
    }

    /** Sets the live-bytes budget; 0 means unlimited. */
    public void setMemoryLimit(long bytes) {
        NativeRuntime.requirePlatformThread();
        NcsLibrary.ncs_set_memory_limit(bytes);
    }

    /**
     * Sets the most bytes of freed large buffers libncs keeps for reuse (0 = none); what is over a
     * lowered limit is given back at once. Cached bytes count within the memory limit.
     */
    public void setBufferCacheLimit(long bytes) {
        NativeRuntime.requirePlatformThread();
        NcsLibrary.ncs_set_buffer_cache_limit(bytes);
    }

    /**
     * Gives cached blocks unused for at least {@code minIdle} back to the system; returns their
     * bytes.
     */
    public long trimBufferCache(Duration minIdle) {
        NativeRuntime.requirePlatformThread();
        return NcsLibrary.ncs_buffer_cache_trim(minIdle.toMillis());
    }

    /** Live native buffers grouped by owner, as libncs's JSON ({@code ncs_buffer_snapshot}). */
    public String snapshotJson() {
        NativeRuntime.requirePlatformThread();
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
        return new String(out, 0, end, StandardCharsets.UTF_8);
    }

    private String budgetText() {
        NativeStats stats = stats();
        return stats.limitBytes() == 0
                ? "the system allocator refused"
                : "the native memory budget is "
                        + stats.limitBytes()
                        + " bytes and "
                        + stats.liveBytes()
                        + " are in use";
    }
}
