package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.function.LongConsumer;
import java.util.zip.GZIPInputStream;
import java.util.zip.InflaterInputStream;

/**
 * A request body read once, front to back, never more than {@code limit} bytes (after decompression):
 * the JSON header into the heap, binary tensors straight into native memory. Uncompressed bodies are
 * read with {@link ServletInputStream#read(ByteBuffer)} into a view of the native buffer, so the
 * bytes are copied once, from the server's socket buffer to their final place.
 */
final class RequestBody {

    private static final int CHUNK = 1 << 16;
    /** Bytes per read into native memory: bounded, in case a stream copies through a heap array. */
    private static final int SLICE = 1 << 20;

    private final InputStream in;
    private final ServletInputStream direct;
    private final long limit;
    private final long jsonLimit;
    private final long declaredLength;
    private final UploadPace pace;
    private final JsonInFlight jsonInFlight;
    private long jsonCharged;
    private long decodedSize;
    private long decodedCharged;
    private long consumed;
    private byte[] chunk;

    private RequestBody(InputStream in, ServletInputStream direct, long limit, long jsonLimit, long declaredLength,
            UploadPace pace, JsonInFlight jsonInFlight) {
        this.pace = pace;
        this.jsonInFlight = jsonInFlight;
        this.in = in;
        this.direct = direct;
        this.limit = limit;
        this.jsonLimit = Math.min(jsonLimit, limit);
        this.declaredLength = declaredLength;
    }

    /**
     * Wraps {@code raw} for the given {@code Content-Encoding} (null, identity, gzip or deflate).
     * {@code contentLength} is -1 when unknown.
     */
    static RequestBody open(InputStream raw, String encoding, long contentLength, long limit, long jsonLimit) {
        return open(raw, encoding, contentLength, limit, jsonLimit, UploadPace.none(), JsonInFlight.unlimited());
    }

    /**
     * As {@link #open(InputStream, String, long, long, long)}, refusing a body that arrives slower than
     * {@code pace} and charging its JSON text to {@code jsonInFlight} (release it with {@link #releaseJson}).
     */
    static RequestBody open(InputStream raw, String encoding, long contentLength, long limit, long jsonLimit,
            UploadPace pace, JsonInFlight jsonInFlight) {
        if (contentLength > limit) {
            throw tooLarge(contentLength + " bytes", limit);
        }
        InputStream paced = pace.pacing(raw);
        if (encoding == null || encoding.isBlank() || encoding.equalsIgnoreCase("identity")) {
            return new RequestBody(paced, raw instanceof ServletInputStream s ? s : null, limit, jsonLimit,
                    contentLength, pace, jsonInFlight);
        }
        try {
            InputStream decoded = switch (encoding.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "gzip", "x-gzip" -> new GZIPInputStream(paced, CHUNK);
                case "deflate" -> new InflaterInputStream(paced);
                default -> throw new UnsupportedEncodingException("Content-Encoding '" + encoding
                        + "' is not supported; use gzip, deflate or none");
            };
            return new RequestBody(decoded, null, limit, jsonLimit, -1, pace, jsonInFlight);
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /** The most bytes this body may hold (ncs.limits.max-request-size). */
    long limit() {
        return limit;
    }

    /** The body's length after decoding, if the request said it (uncompressed with Content-Length); else -1. */
    long declaredLength() {
        return declaredLength;
    }

    /**
     * Reads the JSON header: exactly {@code n} bytes; {@code what} names them in errors. The heap grows with the
     * bytes that arrive, not with the length the client declared (a few bytes declaring 64 MB cost a few bytes),
     * and is charged to the JSON bodies in flight until {@link #releaseJson}.
     */
    byte[] readJson(int n, String what) {
        if (n > jsonLimit) {
            throw jsonTooLarge(n + " bytes");
        }
        reserve(n);
        byte[] bytes = readCharged(n, n);
        consumed += bytes.length;
        if (bytes.length < n) {
            throw truncated(what, n, bytes.length);
        }
        return bytes;
    }

    /** Reads the rest of the body as JSON (no binary part follows): at most the JSON limit. */
    byte[] readAllJson() {
        if (declaredLength > jsonLimit) {
            throw jsonTooLarge(declaredLength + " bytes");
        }
        // A declared length only sizes the first read (one byte more, to see the end without growing).
        byte[] bytes = readCharged((int) Math.min(Integer.MAX_VALUE - 8, jsonLimit - consumed + 1),
                declaredLength >= 0 ? declaredLength - consumed + 1 : CHUNK);
        consumed += bytes.length;
        if (consumed > jsonLimit) {
            throw jsonTooLarge("more than " + jsonLimit + " bytes");
        }
        return bytes;
    }

    /** Gives back the JSON text's charge (once it is decoded, or the request failed). */
    void releaseJson() {
        jsonInFlight.release(jsonCharged);
        jsonCharged = 0;
    }

    /**
     * Charges {@code bytes} of tensors decoded from the JSON to the same total as the texts (they stay on the
     * heap until a worker copies them to native memory); the request's first 64 KiB of them are free.
     */
    void chargeDecoded(long bytes) {
        decodedSize += bytes;
        long charge = Math.max(0, decodedSize - CHUNK) - decodedCharged;
        if (charge > 0) {
            jsonInFlight.reserve(charge);
            decodedCharged += charge;
        }
    }

    /** Gives back the decoded tensors' charge (once the request is done). */
    void releaseDecoded() {
        jsonInFlight.release(decodedCharged);
        decodedCharged = 0;
    }

    /**
     * Reads up to {@code max} bytes (fewer only at the end of the body) into an array of at most {@code first}
     * (and {@link #CHUNK}) bytes that doubles as they arrive, each growth charged to the JSON bodies in flight
     * first.
     */
    private byte[] readCharged(int max, long first) {
        if (max == 0) {
            return new byte[0];
        }
        // The first CHUNK is not charged: small bodies, most of them, are never refused for large ones in flight
        // (what they hold is bounded by the connections).
        byte[] buffer = new byte[(int) Math.clamp(first, 1, Math.min(max, CHUNK))];
        int n = 0;
        try {
            while (n < max) {
                if (n == buffer.length) {
                    int next = (int) Math.min(max, Math.max(CHUNK, 2L * buffer.length));
                    long charge = next - Math.max(CHUNK, buffer.length);
                    if (charge > 0) {
                        jsonInFlight.reserve(charge);
                        jsonCharged += charge;
                    }
                    buffer = java.util.Arrays.copyOf(buffer, next);
                }
                int got = in.read(buffer, n, buffer.length - n);
                if (got < 0) {
                    break;
                }
                n += got;
            }
        } catch (IOException e) {
            throw unreadable(e);
        }
        return n == buffer.length ? buffer : java.util.Arrays.copyOf(buffer, n);
    }

    /**
     * Reads exactly {@code target.byteSize()} bytes into native memory, telling {@code beforeWriting} the end of
     * each slice before reading into it (so memory is charged as bytes arrive, see TensorSource).
     */
    void readInto(MemorySegment target, String what, LongConsumer beforeWriting) {
        long n = target.byteSize();
        reserve(n);
        long done = 0;
        try {
            while (done < n) {
                int want = (int) Math.min(n - done, SLICE);
                beforeWriting.accept(done + want);
                int got = direct != null ? readDirect(target, done, want) : readChunked(target, done, want);
                if (got < 0) {
                    throw truncated(what, n, done);
                }
                done += got;
                consumed += got;
            }
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /** Checks that nothing follows what was read. */
    void expectEnd() {
        int next;
        try {
            next = in.read();
        } catch (IOException e) {
            throw unreadable(e);
        }
        if (next >= 0) {
            throw new InvalidInputException("the request body has bytes after the last binary tensor: "
                    + "the binary_data_size values add up to less than the body");
        }
    }

    /** Reads up to {@code want} bytes into native memory at {@code offset}, trusting only read's count. */
    private int readDirect(MemorySegment target, long offset, int want) throws IOException {
        ByteBuffer view = target.asSlice(offset, want).asByteBuffer();
        long start = System.nanoTime();
        int got = direct.read(view);
        pace.record(System.nanoTime() - start, got);
        return got;
    }

    private int readChunked(MemorySegment target, long offset, int want) throws IOException {
        if (chunk == null) {
            chunk = new byte[CHUNK];
        }
        int got = in.read(chunk, 0, Math.min(want, CHUNK));
        if (got > 0) {
            MemorySegment.copy(MemorySegment.ofArray(chunk), 0, target, offset, got);
        }
        return got;
    }

    private void reserve(long n) {
        if (consumed + n > limit) {
            throw tooLarge("more than " + limit + " bytes (declared sizes)", limit);
        }
    }

    private static InvalidInputException truncated(String what, long expected, long got) {
        return new InvalidInputException("the request body ended early: " + what + " needs " + expected
                + " bytes but only " + got + " arrived (check Inference-Header-Content-Length and binary_data_size)");
    }

    /** A body that cannot be read (corrupt compression, a client that went away) is the client's problem. */
    private static RuntimeException unreadable(IOException e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof java.net.SocketTimeoutException) {
                return new SlowUploadException("the request body stopped arriving: no byte came within the server's read "
                        + "timeout (server.tomcat.connection-timeout); send the whole body without pauses");
            }
        }
        String reason = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        return new InvalidInputException("the request body could not be read: " + reason);
    }

    private PayloadTooLargeException jsonTooLarge(String size) {
        return new PayloadTooLargeException("the JSON part of the request is " + size + "; the limit "
                + "(ncs.limits.max-json-size, or max-request-size if lower) is " + jsonLimit + " bytes: send large "
                + "tensors in binary (Triton's binary tensor data extension)");
    }

    static PayloadTooLargeException tooLarge(String size, long max) {
        return new PayloadTooLargeException("the request body is " + size + "; the limit (ncs.limits.max-request-size) is "
                + max + " bytes");
    }
}
