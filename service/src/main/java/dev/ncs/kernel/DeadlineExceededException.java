package dev.ncs.kernel;

/** The request's deadline passed; its kernel was cancelled and its memory freed: a 504. */
public class DeadlineExceededException extends RuntimeException {

    public DeadlineExceededException(String message) {
        super(message);
    }
}
