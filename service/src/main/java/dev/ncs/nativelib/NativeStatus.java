package dev.ncs.nativelib;

/** The status codes of {@code ncs.h}; the numbers never change meaning. */
public enum NativeStatus {
    OK(0),
    INVALID_ARGUMENT(1),
    OUT_OF_MEMORY(2),
    STALE_HANDLE(3),
    DOUBLE_RELEASE(4),
    CANCELLED(5),
    NOT_FOUND(6),
    UNSUPPORTED(7),
    INTERNAL(8);

    private final int code;

    NativeStatus(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /**
     * The status for a C return value; unknown values (a newer library) become {@link #INTERNAL}.
     */
    public static NativeStatus of(int code) {
        for (NativeStatus status : values()) {
            if (status.code == code) {
                return status;
            }
        }
        return INTERNAL;
    }
}
