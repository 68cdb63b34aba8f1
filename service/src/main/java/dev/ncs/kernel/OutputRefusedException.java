package dev.ncs.kernel;

/**
 * An {@link OutputCheck} refused a prepared call: an output cannot be delivered as the client asked
 * (a 413: the message says which output, how large, the limit, and how to ask for it instead).
 */
public class OutputRefusedException extends RuntimeException {

    public OutputRefusedException(String message) {
        super(message);
    }
}
