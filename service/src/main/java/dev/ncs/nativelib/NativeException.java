package dev.ncs.nativelib;

/** A libncs call returned a status other than {@code NCS_OK}. The message is libncs's own. */
public class NativeException extends RuntimeException {

    private final NativeStatus status;

    public NativeException(NativeStatus status, String message) {
        super(message);
        this.status = status;
    }

    public NativeStatus status() {
        return status;
    }
}
