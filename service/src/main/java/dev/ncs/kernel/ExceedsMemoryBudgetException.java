package dev.ncs.kernel;

/**
 * A request that needs more native memory at once than the whole budget: it can never run here, so
 * a 413 (send a smaller request), never a "retry later".
 */
public class ExceedsMemoryBudgetException extends RuntimeException {

    private final long neededBytes;
    private final long limitBytes;

    private ExceedsMemoryBudgetException(String needs, long neededBytes, long limitBytes) {
        super(
                needs
                        + ", more than the whole budget of "
                        + limitBytes
                        + " bytes (ncs.native.memory-limit): send a smaller request");
        this.neededBytes = neededBytes;
        this.limitBytes = limitBytes;
    }

    /** The inputs alone are larger than the budget (known before any is allocated). */
    static ExceedsMemoryBudgetException inputs(long neededBytes, long limitBytes) {
        return new ExceedsMemoryBudgetException(
                "the inputs need " + neededBytes + " bytes of native memory",
                neededBytes,
                limitBytes);
    }

    /**
     * The call's peak (its figure from prepare: inputs, outputs and workspace) is larger than the
     * budget.
     */
    static ExceedsMemoryBudgetException call(String kernel, long neededBytes, long limitBytes) {
        return new ExceedsMemoryBudgetException(
                "kernel '"
                        + kernel
                        + "' needs "
                        + Long.toUnsignedString(neededBytes)
                        + " bytes of native memory at once (inputs, outputs and workspace)",
                neededBytes,
                limitBytes);
    }

    /**
     * What the request needs at once (unsigned: a kernel's figure may pass {@code Long.MAX_VALUE}).
     */
    public long neededBytes() {
        return neededBytes;
    }

    public long limitBytes() {
        return limitBytes;
    }
}
