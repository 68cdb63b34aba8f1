package dev.ncs.inference;

/**
 * A request broke one of the {@code ncs.limits.*} limits. The message names the property, the limit
 * and the value found. {@link #ofSize()} tells a limit on size (a 413) from one on shape (a 400).
 */
public class LimitExceededException extends RuntimeException {

    private final boolean ofSize;

    private LimitExceededException(String message, boolean ofSize) {
        super(message);
        this.ofSize = ofSize;
    }

    /** {@code what} is {@code value}, more than {@code ncs.limits.<property>} allows (a 400). */
    public static LimitExceededException shape(
            String what, Object value, String property, long limit) {
        return new LimitExceededException(message(what, value, property, limit), false);
    }

    /** {@code what} is {@code value}, larger than {@code ncs.limits.<property>} allows (a 413). */
    public static LimitExceededException size(
            String what, Object value, String property, long limit) {
        return new LimitExceededException(message(what, value, property, limit), true);
    }

    /** Whether the limit is on size (413 Content Too Large) rather than on shape (400). */
    public boolean ofSize() {
        return ofSize;
    }

    private static String message(String what, Object value, String property, long limit) {
        return what + " is " + value + "; the limit (ncs.limits." + property + ") is " + limit;
    }
}
