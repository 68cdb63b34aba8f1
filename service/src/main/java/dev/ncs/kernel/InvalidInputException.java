package dev.ncs.kernel;

/**
 * The request is malformed or does not fit the kernel: a 400 with a message saying what and how to
 * fix it.
 */
public class InvalidInputException extends RuntimeException {

    public InvalidInputException(String message) {
        super(message);
    }
}
