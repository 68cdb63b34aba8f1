package dev.ncs.inference;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The heap held by JSON texts of request bodies still being read or decoded, and by the tensors
 * decoded from them until their request ends, all requests together. Each body charges its text's
 * buffer as it grows with the bytes that arrive and gives it back once decoded; past the limit a
 * body is refused with 503 (retry), so that many clients sending large JSON bodies at once cannot
 * exhaust the heap before any of them is decoded (decoding is bounded apart). A request's first 64
 * KiB of text and of decoded tensors are not charged, so small requests are never refused for large
 * ones.
 */
final class JsonInFlight {

    private final long limit;
    private final AtomicLong held = new AtomicLong();

    /**
     * @param limit most bytes held at once; {@code Long.MAX_VALUE} for no limit
     */
    JsonInFlight(long limit) {
        this.limit = limit;
    }

    static JsonInFlight unlimited() {
        return new JsonInFlight(Long.MAX_VALUE);
    }

    void reserve(long bytes) {
        long now = held.get();
        while (true) {
            if (now + bytes > limit) {
                throw new ServerBusyException(
                        "the server is reading "
                                + now
                                + " bytes of JSON request bodies, "
                                + "and this one would take it past its limit of "
                                + limit
                                + " bytes (ncs.limits.max-json-in-flight): "
                                + "retry shortly, or send large tensors in binary (Triton's binary tensor data extension)");
            }
            if (held.compareAndSet(now, now + bytes)) {
                return;
            }
            now = held.get();
        }
    }

    void release(long bytes) {
        held.addAndGet(-bytes);
    }

    long held() {
        return held.get();
    }
}
