package dev.ncs.inference;

/**
 * The request body arrived slower than {@code ncs.limits.min-upload-rate}, or stopped: a 408. The
 * rest of the body is not waited for (the connection is closed after the answer).
 */
public class SlowUploadException extends RuntimeException {

    public SlowUploadException(String message) {
        super(message);
    }
}
