package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import jakarta.servlet.ServletInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.LongConsumer;
import org.apache.coyote.BadRequestException;

/**
 * A request body read once, front to back, never more than {@code limit} bytes (after
 * decompression): the JSON header into the heap, binary tensors straight into native memory.
 * Uncompressed bodies are read with {@link ServletInputStream#read(ByteBuffer)} into a view of the
 * native buffer, so the bytes are copied once, from the server's socket buffer to their final
 * place.
 *
 * <p>A body that ends before it should is refused with where it ended: which part was being read,
 * and how many of the bytes the request declared had arrived.
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

    /**
     * The request's Content-Length (of the bytes on the wire, compressed or not); -1 when chunked.
     */
    private final long contentLength;

    private long consumed;

    /**
     * Bytes of the body received from the network so far (compressed ones, for a compressed body).
     */
    private long received;

    private final UploadPace pace;
    private final JsonInFlight jsonInFlight;
    private long jsonCharged;
    private long decodedSize;
    private long decodedCharged;
    private byte[] chunk;

    private RequestBody(
            InputStream raw,
            CompressedBody.Format format,
            long limit,
            long jsonLimit,
            long contentLength,
            UploadPace pace,
            JsonInFlight jsonInFlight) {
        this.pace = pace;
        this.jsonInFlight = jsonInFlight;
        InputStream counted = new Counted(raw);
        this.in = format == null ? counted : new CompressedBody(counted, format);
        this.direct = format == null && raw instanceof ServletInputStream s ? s : null;
        this.limit = limit;
        this.jsonLimit = Math.min(jsonLimit, limit);
        this.contentLength = contentLength;
        this.declaredLength = format == null ? contentLength : -1;
    }

    /**
     * Wraps {@code raw} for the given {@code Content-Encoding} (null, identity, gzip or deflate).
     * {@code contentLength} is -1 when unknown.
     */
    static RequestBody open(
            InputStream raw, String encoding, long contentLength, long limit, long jsonLimit) {
        return open(
                raw,
                encoding,
                contentLength,
                limit,
                jsonLimit,
                UploadPace.none(),
                JsonInFlight.unlimited());
    }

    /**
     * As {@link #open(InputStream, String, long, long, long)}, refusing a body that arrives slower
     * than {@code pace} and charging its JSON text to {@code jsonInFlight} (release it with {@link
     * #releaseJson}).
     */
    static RequestBody open(
            InputStream raw,
            String encoding,
            long contentLength,
            long limit,
            long jsonLimit,
            UploadPace pace,
            JsonInFlight jsonInFlight) {
        if (contentLength > limit) {
            throw tooLarge(contentLength + " bytes", limit);
        }
        if (encoding == null || encoding.isBlank() || encoding.equalsIgnoreCase("identity")) {
            return new RequestBody(raw, null, limit, jsonLimit, contentLength, pace, jsonInFlight);
        }
        CompressedBody.Format format =
                switch (encoding.trim().toLowerCase(Locale.ROOT)) {
                    case "gzip", "x-gzip" -> CompressedBody.Format.GZIP;
                    case "deflate" -> CompressedBody.Format.DEFLATE;
                    default ->
                            throw new UnsupportedEncodingException(
                                    "Content-Encoding '"
                                            + encoding
                                            + "' is not supported; use gzip, deflate or none");
                };
        return new RequestBody(raw, format, limit, jsonLimit, contentLength, pace, jsonInFlight);
    }

    /** The most bytes this body may hold (ncs.limits.max-request-size). */
    long limit() {
        return limit;
    }

    /**
     * The body's length after decoding, if the request said it (uncompressed with Content-Length);
     * else -1.
     */
    long declaredLength() {
        return declaredLength;
    }

    /**
     * Reads the JSON header: exactly {@code n} bytes; {@code what} names them in errors. The heap
     * grows with the bytes that arrive, not with the length the client declared (a few bytes
     * declaring 64 MB cost a few bytes), and is charged to the JSON bodies in flight until {@link
     * #releaseJson}.
     */
    byte[] readJson(int n, String what) {
        if (n > jsonLimit) {
            throw jsonTooLarge(n + " bytes");
        }
        reserve(n);
        byte[] bytes = readCharged(n, n, what);
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
        // A declared length only sizes the first read (one byte more, to see the end without
        // growing).
        byte[] bytes =
                readCharged(
                        (int) Math.min(Integer.MAX_VALUE - 8, jsonLimit - consumed + 1),
                        declaredLength >= 0 ? declaredLength - consumed + 1 : CHUNK,
                        "the JSON body");
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
     * Charges {@code bytes} of tensors decoded from the JSON to the same total as the texts (they
     * stay on the heap until a worker copies them to native memory); the request's first 64 KiB of
     * them are free.
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
     * Reads up to {@code max} bytes (fewer only at the end of the body) into an array of at most
     * {@code first} (and {@link #CHUNK}) bytes that doubles as they arrive, each growth charged to
     * the JSON bodies in flight first. The first CHUNK is not charged: small bodies, most of them,
     * are never refused for large ones in flight (what they hold is bounded by the connections).
     */
    private byte[] readCharged(int max, long first, String what) {
        if (max == 0) {
            return new byte[0];
        }
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
                    buffer = Arrays.copyOf(buffer, next);
                }
                int got = in.read(buffer, n, buffer.length - n);
                if (got < 0) {
                    break;
                }
                n += got;
            }
        } catch (IOException e) {
            throw unreadable(e, what);
        }
        return n == buffer.length ? buffer : Arrays.copyOf(buffer, n);
    }

    /**
     * Reads exactly {@code target.byteSize()} bytes into native memory, telling {@code
     * beforeWriting} the end of each slice before reading into it (so memory is charged as bytes
     * arrive, see TensorSource).
     */
    void readInto(MemorySegment target, String what, LongConsumer beforeWriting) {
        long n = target.byteSize();
        reserve(n);
        long done = 0;
        try {
            while (done < n) {
                // Slices grow with what has arrived (64 KiB, then as much again, up to SLICE):
                // memory charged
                // before a slice is read stays near what the client really sent.
                int want = (int) Math.min(n - done, Math.min(SLICE, Math.max(CHUNK, done)));
                beforeWriting.accept(done + want);
                int got =
                        direct != null
                                ? readDirect(target, done, want)
                                : readChunked(target, done, want);
                if (got < 0) {
                    throw truncated(what, n, done);
                }
                done += got;
                consumed += got;
            }
        } catch (IOException e) {
            throw unreadable(e, what);
        }
    }

    /** Checks that nothing follows what was read. */
    void expectEnd() {
        int next;
        try {
            next = in.read();
        } catch (IOException e) {
            throw unreadable(e, "the end of the body");
        }
        if (next >= 0) {
            throw new InvalidInputException(
                    "the request body has bytes after the last binary tensor: "
                            + "the binary_data_size values add up to less than the body");
        }
    }

    /**
     * Reads up to {@code want} bytes into native memory at {@code offset}, trusting only read's
     * count.
     */
    private int readDirect(MemorySegment target, long offset, int want) throws IOException {
        ByteBuffer view = target.asSlice(offset, want).asByteBuffer();
        long start = System.nanoTime();
        int got = direct.read(view);
        received += Math.max(got, 0);
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

    /** The body ended, cleanly, before a part the JSON declared: the declared sizes are wrong. */
    private InvalidInputException truncated(String what, long expected, long got) {
        return new InvalidInputException(
                "the request body was truncated at byte "
                        + consumed
                        + ": "
                        + what
                        + " needs "
                        + expected
                        + " bytes but only "
                        + got
                        + " arrived (check Inference-Header-Content-Length and "
                        + "binary_data_size against what is sent)");
    }

    /**
     * A body that cannot be read is the client's problem: the connection ended before the body did
     * (Content-Length not reached, or a chunked body without its last chunk), broken chunked
     * framing, or a body that stopped arriving (408, as one too slow for
     * ncs.limits.min-upload-rate).
     */
    private RuntimeException unreadable(IOException e, String what) {
        if (causedBy(e, EOFException.class)) {
            String of =
                    contentLength >= 0
                            ? received
                                    + " of the "
                                    + contentLength
                                    + " bytes its Content-Length declares"
                            : received
                                    + " bytes, before its last chunk (Transfer-Encoding: chunked)";
            return new InvalidInputException(
                    "the request body was truncated: the connection ended after "
                            + of
                            + ", while "
                            + what
                            + " was being read; send the whole body");
        }
        if (causedBy(
                e,
                SocketTimeoutException.class)) { // Tomcat wraps it in a BadRequestException: first
            return new SlowUploadException(
                    "the request body stopped arriving after "
                            + received
                            + " bytes, while "
                            + what
                            + " was being read: no byte came within the server's read timeout "
                            + "(server.tomcat.connection-timeout); send it without pausing");
        }
        if (causedBy(e, BadRequestException.class)) {
            return new InvalidInputException(
                    "the request body's chunked framing is malformed after "
                            + received
                            + " bytes: "
                            + rootMessage(e)
                            + "; send valid Transfer-Encoding: chunked or a Content-Length");
        }
        return new InvalidInputException(
                "the request body could not be read after "
                        + received
                        + " bytes: "
                        + rootMessage(e));
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> kind) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (kind.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    }

    /**
     * Counts the bytes of the body as they come off the network, and times each read against the
     * pace.
     */
    private final class Counted extends FilterInputStream {

        Counted(InputStream raw) {
            super(raw);
        }

        @Override
        public int read() throws IOException {
            long start = System.nanoTime();
            int b = super.read();
            received += b < 0 ? 0 : 1;
            pace.record(System.nanoTime() - start, b < 0 ? -1 : 1);
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            long start = System.nanoTime();
            int n = super.read(b, off, len);
            received += Math.max(n, 0);
            pace.record(System.nanoTime() - start, n);
            return n;
        }
    }

    private PayloadTooLargeException jsonTooLarge(String size) {
        return new PayloadTooLargeException(
                "the JSON part of the request is "
                        + size
                        + "; the limit "
                        + "(ncs.limits.max-json-size, or max-request-size if lower) is "
                        + jsonLimit
                        + " bytes: send large "
                        + "tensors in binary (Triton's binary tensor data extension)");
    }

    static PayloadTooLargeException tooLarge(String size, long max) {
        return new PayloadTooLargeException(
                "the request body is "
                        + size
                        + "; the limit (ncs.limits.max-request-size) is "
                        + max
                        + " bytes");
    }
}
