package dev.ncs.execution;

import java.time.Duration;

/** Every worker is busy and the queue is full: a 503 with Retry-After. */
public class QueueFullException extends RuntimeException {

    private final Duration retryAfter;

    public QueueFullException(String message, Duration retryAfter) {
        super(message);
        this.retryAfter = retryAfter;
    }

    public Duration retryAfter() {
        return retryAfter;
    }
}
