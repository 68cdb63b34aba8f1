package dev.ncs.kernel;

/**
 * A request the native memory budget cannot hold now, though it could when other requests have
 * freed theirs: a 507, retry later. Carries the budget's figures at the moment of the refusal.
 */
public class MemoryBudgetExhaustedException extends RuntimeException {

    private final long limitBytes;
    private final long liveBytes;

    public MemoryBudgetExhaustedException(String reason, long limitBytes, long liveBytes) {
        super(
                reason
                        + "; the native memory budget is "
                        + limitBytes
                        + " bytes and "
                        + liveBytes
                        + " are in use");
        this.limitBytes = limitBytes;
        this.liveBytes = liveBytes;
    }

    public long limitBytes() {
        return limitBytes;
    }

    /**
     * Live bytes when the request was refused (other requests' buffers, and the buffer cache's).
     */
    public long liveBytes() {
        return liveBytes;
    }
}
