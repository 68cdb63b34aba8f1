package dev.ncs.inference;

/** The request body is larger than {@code ncs.limits.max-request-size}: a 413. */
public class PayloadTooLargeException extends RuntimeException {

    public PayloadTooLargeException(String message) {
        super(message);
    }
}
