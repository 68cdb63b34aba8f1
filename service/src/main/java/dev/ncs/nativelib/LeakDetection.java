package dev.ncs.nativelib;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How hard to look for Java-side leaks, in the manner of Netty's {@code ResourceLeakDetector}.
 *
 * <ul>
 *   <li>{@code DISABLED}: no tracking; a buffer dropped unreleased stays allocated (and shows in
 *       {@code ncs_native_buffers_live}).
 *   <li>{@code SIMPLE} (default): every buffer has a backstop that, if it becomes unreachable
 *       unreleased, reclaims its memory, counts it and logs it; no stacks are recorded.
 *   <li>{@code ADVANCED}: as SIMPLE, and one buffer in {@code samplingInterval} also records where
 *       it was created and last used, shown in the leak report and in use-after-release errors.
 *   <li>{@code PARANOID}: records for every buffer (tests).
 * </ul>
 */
public enum LeakDetection {
    DISABLED,
    SIMPLE,
    ADVANCED,
    PARANOID;

    private static final int MAX_RECORDS = 4;

    /** Whether a new buffer gets the reclaiming backstop. */
    boolean tracks() {
        return this != DISABLED;
    }

    /** Whether a new buffer records stacks, given the sampling interval. */
    boolean records(int samplingInterval) {
        return this == PARANOID
                || this == ADVANCED
                        && ThreadLocalRandom.current().nextInt(Math.max(1, samplingInterval)) == 0;
    }

    /** The creation stack and the last few accesses of one buffer. */
    static final class Records {
        private final Throwable created = new Throwable("created at");
        private final Deque<Throwable> accesses = new ArrayDeque<>();
        private Throwable released;

        synchronized void access(String what) {
            if (accesses.size() == MAX_RECORDS) {
                accesses.removeFirst();
            }
            accesses.addLast(new Throwable(what));
        }

        synchronized void released() {
            released = new Throwable("released at");
        }

        synchronized String report() {
            StringBuilder sb = new StringBuilder();
            if (released != null) {
                append(sb, released);
            }
            accesses.descendingIterator().forEachRemaining(t -> append(sb, t));
            append(sb, created);
            return sb.toString();
        }

        private static void append(StringBuilder sb, Throwable t) {
            sb.append("\n  ").append(t.getMessage()).append(':');
            StackTraceElement[] frames = t.getStackTrace();
            for (int i = 2; i < Math.min(frames.length, 14); i++) {
                sb.append("\n    at ").append(frames[i]);
            }
        }
    }
}
