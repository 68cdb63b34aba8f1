package dev.ncs.inference;

/**
 * A resource shared by the requests being received is exhausted for now: a 503 with Retry-After.
 */
public class ServerBusyException extends RuntimeException {

    public ServerBusyException(String message) {
        super(message);
    }
}
