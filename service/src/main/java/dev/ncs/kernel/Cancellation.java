package dev.ncs.kernel;

/**
 * A request's cancellation, raised from outside the request's own thread (its client hung up). The
 * request's work registers what cancelling means at each stage: a queued task is withdrawn, a
 * running kernel has its context's cancel flag set. Cancelling twice, or before anything is
 * registered, is harmless: a later registration runs at once.
 */
public final class Cancellation {

    private String reason;
    private Runnable action;

    /**
     * Cancels with {@code reason}; runs the registered action (on the calling thread) the first
     * time.
     */
    public void cancel(String reason) {
        Runnable toRun;
        synchronized (this) {
            if (this.reason != null) {
                return;
            }
            this.reason = reason;
            toRun = action;
        }
        if (toRun != null) {
            toRun.run();
        }
    }

    /** What cancelling does from now on; runs at once if the request was already cancelled. */
    public void onCancel(Runnable newAction) {
        boolean cancelled;
        synchronized (this) {
            action = newAction;
            cancelled = reason != null;
        }
        if (cancelled) {
            newAction.run();
        }
    }

    /** Why the request was cancelled, or null while it was not. */
    public synchronized String reason() {
        return reason;
    }
}
