package dev.ncs.kernel;

/** A request that needs more native memory than the whole budget: it can never run here, so a 413. */
public class ExceedsMemoryBudgetException extends RuntimeException {

    public ExceedsMemoryBudgetException(String message) {
        super(message);
    }
}
