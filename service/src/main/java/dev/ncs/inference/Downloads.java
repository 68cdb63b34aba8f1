package dev.ncs.inference;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.servlet.ServletRequest;
import java.io.IOException;
import java.net.SocketTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Keeps a client that does not read its response from holding the outputs' native memory: a
 * response must go out at {@code ncs.limits.min-download-rate} on average once its first {@code
 * ncs.limits.download-grace} is over, or it is abandoned.
 *
 * <p>Writes block while the client does not read. Progress is checked each time a write returns; a
 * write that cannot progress at all fails after the grace ({@code WriteTimeoutProtocol} sets
 * Tomcat's write timeout to it, instead of the 60 s connection timeout), so a client that reads
 * nothing is dropped about a grace after the socket buffers fill. Abandoning stops the writing and
 * has the connection closed; the caller then closes the kernel's result, which frees the outputs.
 */
@Component
public class Downloads {

    private static final Logger log = LoggerFactory.getLogger(Downloads.class);

    /**
     * The request attribute, holding the failure, that asks the server to close the connection once
     * the request's processing returns (a Tomcat valve does it: the servlet API cannot, once the
     * response is committed).
     */
    public static final String ABANDONED = Downloads.class.getName() + ".abandoned";

    /**
     * Why a response was abandoned: the {@code reason} tag of {@code
     * ncs_responses_abandoned_total}.
     */
    enum Reason {
        /** Slower than the minimum rate after the grace. */
        TOO_SLOW("too_slow"),
        /** A write made no progress for the whole grace: the client reads nothing. */
        STALLED("stalled"),
        /** The client closed or reset the connection before the response was complete. */
        CLOSED("closed");

        private final String tag;

        Reason(String tag) {
            this.tag = tag;
        }
    }

    /**
     * A response that went too slowly; thrown by {@link Download#wrote} (an I/O failure, to end the
     * writing).
     */
    static final class TooSlowException extends IOException {
        TooSlowException(String message) {
            super(message);
        }
    }

    private final long minRate;
    private final long graceNanos;
    private final Counter[] abandoned = new Counter[Reason.values().length];

    Downloads(LimitsProperties limits, MeterRegistry registry) {
        this.minRate = limits.minDownloadRate().toBytes();
        this.graceNanos = limits.downloadGrace().toNanos();
        for (Reason reason : Reason.values()) {
            abandoned[reason.ordinal()] =
                    Counter.builder("ncs.responses.abandoned")
                            .description(
                                    "Responses abandoned before they were complete, their outputs freed")
                            .tag("reason", reason.tag)
                            .register(registry);
        }
    }

    /** Starts timing one response; call when its first byte is about to be written. */
    Download start() {
        return new Download(System.nanoTime());
    }

    /**
     * Ends a response whose writing failed with {@code failure}: counts it, and marks the request
     * so that the server closes the connection without writing more ({@link #ABANDONED}; the
     * response is incomplete and nothing after it on the connection could be read).
     */
    void abandon(ServletRequest request, IOException failure, long written) {
        Reason reason =
                failure instanceof TooSlowException
                        ? Reason.TOO_SLOW
                        : failure instanceof SocketTimeoutException
                                        || failure.getCause() instanceof SocketTimeoutException
                                ? Reason.STALLED
                                : Reason.CLOSED;
        abandoned[reason.ordinal()].increment();
        log.debug(
                "response abandoned ({}) after {} bytes: {}",
                reason.tag,
                written,
                failure.getMessage());
        request.setAttribute(ABANDONED, failure);
    }

    /** One response's progress. Used by the thread that writes it. */
    final class Download {

        private final long startedAt;
        private long written;

        private Download(long startedAt) {
            this.startedAt = startedAt;
        }

        /**
         * Counts {@code bytes} just written; past the grace, throws if the average rate is below
         * the minimum.
         */
        void wrote(long bytes) throws TooSlowException {
            written += bytes;
            long elapsed = System.nanoTime() - startedAt;
            if (elapsed <= graceNanos || minRate == 0) {
                return;
            }
            double seconds = elapsed / 1e9;
            if (written < minRate * seconds) {
                throw new TooSlowException(
                        String.format(
                                "%d bytes in %.1f s, below ncs.limits.min-download-rate"
                                        + " (%d bytes/s)",
                                written, seconds, minRate));
            }
        }

        long written() {
            return written;
        }
    }
}
