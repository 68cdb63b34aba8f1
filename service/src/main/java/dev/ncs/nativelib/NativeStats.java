package dev.ncs.nativelib;

/**
 * One reading of libncs's counters ({@code ncs_stats_read}); {@code cachedBytes} are freed buffers'
 * memory kept for reuse (not live), {@code cacheReuses} the allocations that memory served; {@code
 * regionsMapped} and {@code mappedBytes} are the shared-memory regions mapped now and their bytes
 * (not live bytes: not the budget's).
 */
public record NativeStats(
        long liveBuffers,
        long liveBytes,
        long peakBytes,
        long limitBytes,
        long allocations,
        long frees,
        long retains,
        long releases,
        long staleHandleUses,
        long doubleReleases,
        long kernelLeaks,
        long failedAllocations,
        long cachedBytes,
        long cacheReuses,
        long regionsMapped,
        long mappedBytes) {

    static final int COUNT = 16;

    static NativeStats of(long[] c) {
        return new NativeStats(
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12],
                c[13], c[14], c[15]);
    }
}
