package dev.ncs.inference;

import java.time.Duration;

/**
 * The minimum rate a request body must arrive at. Measured over the time spent waiting for the
 * client's bytes (inside reads), not the time the server spends on the request between reads, in
 * windows of {@code window}: each window of waiting must bring at least {@code minRate × window}
 * bytes. The first window is the grace a slow start gets; a body that arrives in less than one
 * window is never refused. A client that stops sending altogether is ended by the server's read
 * timeout.
 */
final class UploadPace {

    private final long minBytesPerWindow;
    private final long windowNanos;
    private final long minRate;
    private long waited;
    private long arrived;

    UploadPace(long minRate, Duration window) {
        this.minRate = minRate;
        this.windowNanos = window.toNanos();
        this.minBytesPerWindow =
                minRate <= 0 ? 0 : (long) Math.max(1, minRate * (windowNanos / 1e9));
    }

    /** No minimum. */
    static UploadPace none() {
        return new UploadPace(0, Duration.ofSeconds(1));
    }

    /** Records one read that waited {@code nanos} and brought {@code bytes} (negative: the end). */
    void record(long nanos, long bytes) {
        if (minBytesPerWindow == 0) {
            return;
        }
        waited += nanos;
        arrived += Math.max(0, bytes);
        if (waited >= windowNanos) {
            if (arrived < minBytesPerWindow) {
                throw new SlowUploadException(
                        "the request body arrived too slowly: "
                                + arrived
                                + " bytes in "
                                + Duration.ofNanos(waited).toMillis()
                                + " ms, below the minimum of "
                                + minRate
                                + " bytes/s (ncs.limits.min-upload-rate); send the body at once, or from a faster link");
            }
            waited = 0;
            arrived = 0;
        }
    }
}
