package dev.ncs.kernel;

/**
 * The client hung up while its request was queued or running; the kernel was cancelled and its
 * memory freed.
 */
public class ClientDisconnectedException extends RuntimeException {

    public ClientDisconnectedException(String message) {
        super(message);
    }
}
