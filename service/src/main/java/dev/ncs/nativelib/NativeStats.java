package dev.ncs.nativelib;

/** One reading of libncs's counters ({@code ncs_stats_read}). */
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
        long failedAllocations) {

    static final int COUNT = 12;

    static NativeStats of(long[] c) {
        return new NativeStats(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]);
    }
}
