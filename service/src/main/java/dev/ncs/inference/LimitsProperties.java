package dev.ncs.inference;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Limits on what a request may carry. Each refusal is a 4xx whose message names the property and
 * the value that broke it: 413 where the limit is on size (body, JSON part, string length,
 * elements), 400 where it is on shape (nesting, counts, names, numbers).
 *
 * @param maxRequestSize largest request body accepted (after decompression); larger ones get 413
 * @param maxJsonSize largest JSON part of a body (all of a JSON request, the header of a binary
 *     one); JSON is parsed into a tree several times its size on the heap, so it has its own, lower
 *     limit. Unset: 1/32 of the maximum heap, at most 64 MB
 * @param maxJsonDepth deepest nesting of JSON arrays and objects (the deepest valid request, 8-d
 *     data nested as its shape, is 11 levels); deeper gets 400
 * @param maxStringLength longest JSON string in characters: ids, names, parameter values and BYTES
 *     elements given as JSON; longer gets 413 (send long BYTES elements in binary)
 * @param maxNumberLength longest JSON number in digits (integer, fraction and exponent together);
 *     longer gets 400
 * @param maxNameLength longest name in characters: the kernel and version in the path, tensor
 *     names, and every JSON object key (parameter names among them); longer gets 400. Kernels name
 *     their kernels, tensors and parameters with at most 64 characters
 * @param maxInputs most entries in a request's {@code inputs}; more gets 400
 * @param maxOutputs most entries in a request's {@code outputs}; more gets 400
 * @param maxElements most tensor elements in one request, all inputs together (the product of each
 *     shape, JSON and binary alike); more gets 413
 * @param minUploadRate slowest a request body may arrive, in bytes per second of waiting for it,
 *     checked over each {@code uploadRateWindow} (the first one is a slow start's grace); slower
 *     gets 408 and the connection is closed. 0 = no minimum. A body stays outside the workers while
 *     it arrives (it takes a worker slot only once it is in), so this bounds how long a slow client
 *     holds a connection and the bytes it sent
 * @param uploadRateWindow the window over which {@code minUploadRate} is checked
 * @param maxJsonInFlight most heap held by the JSON texts of bodies being read and decoded, and by
 *     the tensors decoded from them until their request ends, all requests together; a body that
 *     would pass it gets 503 (retry). Unset: four times the JSON limit (1/8 of the maximum heap by
 *     default): heap for four of the largest JSON bodies at once, beside the trees the decoders
 *     build (one per worker, several times their text)
 * @param maxJsonResponseSize largest JSON text the outputs asked for as JSON may take in a
 *     response, counted before the kernel runs as an upper bound per element (25 bytes for FP64, 6
 *     per byte of BYTES for escapes); larger gets 413 at once, before any kernel time is spent (ask
 *     for it in binary)
 * @param minDownloadRate the average rate, in bytes per second, at which a client must take its
 *     response once the grace is over; slower responses are abandoned and their outputs freed. 0 =
 *     no minimum
 * @param downloadGrace how long a response may go at any rate before the minimum applies, and how
 *     long one write may wait without any progress before the response is abandoned
 */
@ConfigurationProperties("ncs.limits")
public record LimitsProperties(
        @DefaultValue("1GB") DataSize maxRequestSize,
        DataSize maxJsonSize,
        @DefaultValue("32") int maxJsonDepth,
        @DefaultValue("1048576") int maxStringLength,
        @DefaultValue("1000") int maxNumberLength,
        @DefaultValue("256") int maxNameLength,
        @DefaultValue("64") int maxInputs,
        @DefaultValue("64") int maxOutputs,
        @DefaultValue("1073741824") long maxElements,
        @DefaultValue("64KB") DataSize minUploadRate,
        @DefaultValue("10s") Duration uploadRateWindow,
        DataSize maxJsonInFlight,
        @DefaultValue("64MB") DataSize maxJsonResponseSize,
        @DefaultValue("1MB") DataSize minDownloadRate,
        @DefaultValue("10s") Duration downloadGrace) {

    static final long DEFAULT_MAX_JSON = 64L * 1024 * 1024;

    public LimitsProperties {
        positive("max-json-depth", maxJsonDepth);
        positive("max-string-length", maxStringLength);
        positive("max-number-length", maxNumberLength);
        positive("max-name-length", maxNameLength);
        positive("max-inputs", maxInputs);
        positive("max-outputs", maxOutputs);
        positive("max-elements", maxElements);
        if (minUploadRate.isNegative() || !uploadRateWindow.isPositive()) {
            throw new IllegalArgumentException(
                    "ncs.limits.min-upload-rate must be >= 0 and upload-rate-window > 0, got "
                            + minUploadRate
                            + " and "
                            + uploadRateWindow);
        }
        positive("max-json-response-size", maxJsonResponseSize.toBytes());
        if (minDownloadRate.toBytes() < 0) {
            throw new IllegalArgumentException(
                    "ncs.limits.min-download-rate must not be negative, got " + minDownloadRate);
        }
        positive("download-grace (ms)", downloadGrace.toMillis());
    }

    long effectiveMaxJsonInFlight() {
        return maxJsonInFlight != null ? maxJsonInFlight.toBytes() : 4 * effectiveMaxJsonSize();
    }

    /** The pace a new request body must keep. */
    UploadPace uploadPace() {
        return new UploadPace(minUploadRate.toBytes(), uploadRateWindow);
    }

    long effectiveMaxJsonSize() {
        return maxJsonSize != null
                ? maxJsonSize.toBytes()
                : Math.min(DEFAULT_MAX_JSON, Runtime.getRuntime().maxMemory() / 32);
    }

    /** Refuses a name longer than max-name-length before it is looked up or echoed in a message. */
    public void checkName(String what, String name) {
        if (name.length() > maxNameLength) {
            throw LimitExceededException.shape(
                    "the " + what + " '" + name.substring(0, Math.min(32, maxNameLength)) + "...'",
                    name.length() + " characters long",
                    "max-name-length",
                    maxNameLength);
        }
    }

    private static void positive(String name, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(
                    "ncs.limits." + name + " must be at least 1, got " + value);
        }
    }
}
