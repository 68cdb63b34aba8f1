package dev.ncs.inference;

import dev.ncs.kernel.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A request body sent with {@code Content-Encoding: gzip} or {@code deflate}, decoded as it is
 * read, that ends exactly where the compressed data ends.
 *
 * <p>The JDK's streams are lenient where a request must not be ambiguous: {@code GZIPInputStream}
 * ignores whatever follows a member that does not look like another gzip header, and reads a
 * following member only if its bytes have already arrived (so a concatenated body decodes
 * differently with the network's timing); {@code InflaterInputStream} ignores everything after the
 * end of the zlib stream. Here a gzip body may hold several members, as RFC 1952 allows and {@code
 * cat a.gz b.gz} makes (their contents are concatenated); any other byte after a member, or after a
 * deflate stream, is refused, as is data cut short, each with the compressed byte where it
 * happened.
 */
final class CompressedBody extends InputStream {

    enum Format {
        /** RFC 1952 gzip, one or more members. */
        GZIP("gzip"),
        /** RFC 1950 zlib, which HTTP calls deflate. */
        DEFLATE("deflate");

        private final String label;

        Format(String label) {
            this.label = label;
        }
    }

    private static final int CHUNK = 1 << 16;
    private static final int FHCRC = 2;
    private static final int FEXTRA = 4;
    private static final int FNAME = 8;
    private static final int FCOMMENT = 16;
    private static final int RESERVED_FLAGS = 0xe0;

    private final InputStream raw;
    private final Format format;
    private final Inflater inflater;
    private final CRC32 crc = new CRC32();
    private final byte[] input = new byte[CHUNK];

    /** The compressed bytes in {@link #input} not yet used are {@code [pos, lim)}. */
    private int pos;

    private int lim;

    /** Compressed bytes read from the body before {@link #input}'s current contents. */
    private long before;

    private long memberOut;
    private long decoded;
    private boolean started;
    private boolean ended;

    CompressedBody(InputStream raw, Format format) {
        this.raw = raw;
        this.format = format;
        this.inflater = new Inflater(format == Format.GZIP);
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        if (!started) {
            started = true;
            if (format == Format.GZIP) {
                readMemberHeader();
            }
        }
        while (!ended) {
            if (inflater.finished()) {
                endOfStream();
                continue;
            }
            if (inflater.needsInput()) {
                if (pos == lim && !fill()) {
                    throw truncated("in the compressed data");
                }
                inflater.setInput(input, pos, lim - pos);
            }
            int n;
            try {
                n = inflater.inflate(b, off, len);
            } catch (DataFormatException e) {
                throw corrupt(e.getMessage());
            }
            pos = lim - inflater.getRemaining();
            if (n > 0) {
                if (format == Format.GZIP) {
                    crc.update(b, off, n);
                }
                memberOut += n;
                decoded += n;
                return n;
            }
            if (inflater.needsDictionary()) {
                throw corrupt("it needs a preset dictionary, which HTTP's deflate does not use");
            }
        }
        return -1;
    }

    @Override
    public void close() throws IOException {
        inflater.end();
        raw.close();
    }

    /**
     * The end of the deflate data: the gzip trailer and what follows, or the end of a zlib stream.
     */
    private void endOfStream() throws IOException {
        if (format == Format.GZIP) {
            long expectedCrc = readLittleEndian(4, "in a member's trailer");
            long expectedSize = readLittleEndian(4, "in a member's trailer");
            if (expectedCrc != crc.getValue()) {
                throw corrupt("a member's CRC-32 does not match its data");
            }
            if (expectedSize != (memberOut & 0xffffffffL)) {
                throw corrupt(
                        "a member's trailer says "
                                + expectedSize
                                + " bytes but it held "
                                + memberOut);
            }
        }
        if (pos == lim && !fill()) {
            ended = true;
            return;
        }
        if (format == Format.DEFLATE || (input[pos] & 0xff) != 0x1f) {
            throw new InvalidInputException(
                    "the request body has bytes after the end of its "
                            + format.label
                            + " data (at compressed byte "
                            + position()
                            + "): send the compressed data alone"
                            + (format == Format.GZIP
                                    ? " (several gzip members one after another are accepted)"
                                    : ""));
        }
        inflater.reset();
        crc.reset();
        memberOut = 0;
        readMemberHeader();
    }

    /**
     * An RFC 1952 member header; its optional fields are skipped (the header CRC, if any, is not
     * checked).
     */
    private void readMemberHeader() throws IOException {
        String where = "in a member's header";
        if (readByte(where) != 0x1f || readByte(where) != 0x8b) {
            throw corrupt("it does not start with the gzip magic bytes 1f 8b");
        }
        if (readByte(where) != 8) {
            throw corrupt("its compression method is not deflate (8)");
        }
        int flags = readByte(where);
        if ((flags & RESERVED_FLAGS) != 0) {
            throw corrupt("its header sets reserved flags");
        }
        skip(6, where); // modification time, extra flags, operating system
        if ((flags & FEXTRA) != 0) {
            skip(readLittleEndian(2, where), where);
        }
        if ((flags & FNAME) != 0) {
            skipZeroTerminated(where);
        }
        if ((flags & FCOMMENT) != 0) {
            skipZeroTerminated(where);
        }
        if ((flags & FHCRC) != 0) {
            skip(2, where);
        }
    }

    private void skipZeroTerminated(String where) throws IOException {
        while (readByte(where) != 0) {
            // the file name or comment: nothing to keep
        }
    }

    private void skip(long n, String where) throws IOException {
        for (long i = 0; i < n; i++) {
            readByte(where);
        }
    }

    private long readLittleEndian(int bytes, String where) throws IOException {
        long value = 0;
        for (int i = 0; i < bytes; i++) {
            value |= (long) readByte(where) << (8 * i);
        }
        return value;
    }

    private int readByte(String where) throws IOException {
        if (pos == lim && !fill()) {
            throw truncated(where);
        }
        return input[pos++] & 0xff;
    }

    /** Reads more compressed bytes into the (used up) buffer; false at the end of the body. */
    private boolean fill() throws IOException {
        before += lim;
        pos = 0;
        lim = 0;
        int n;
        do {
            n = raw.read(input, 0, input.length);
        } while (n == 0);
        lim = Math.max(n, 0);
        return n > 0;
    }

    private long position() {
        return before + pos;
    }

    private InvalidInputException truncated(String where) {
        return new InvalidInputException(
                "the request body was truncated: its "
                        + format.label
                        + " data ends after "
                        + position()
                        + " compressed bytes, "
                        + where
                        + " ("
                        + decoded
                        + " bytes decompressed so far); "
                        + "send the whole compressed body");
    }

    private InvalidInputException corrupt(String why) {
        return new InvalidInputException(
                "the request body's "
                        + format.label
                        + " data is corrupt at compressed byte "
                        + position()
                        + ": "
                        + (why == null ? "invalid deflate data" : why));
    }
}
