package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.kernel.InvalidInputException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Compressed bodies decode exactly to their data, and every byte that is not part of it is refused.
 */
class CompressedBodyTests {

    private static final byte[] TEXT =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1],\"data\":[1]}]}"
                    .getBytes(StandardCharsets.US_ASCII);

    @Test
    void oneGzipMemberDecodesToItsData() throws IOException {
        assertThat(decode(gzip(TEXT), CompressedBody.Format.GZIP)).isEqualTo(TEXT);
    }

    @Test
    void severalGzipMembersDecodeToTheirDataInOrder() throws IOException {
        byte[] body =
                concat(
                        gzip(Arrays.copyOf(TEXT, 10)),
                        gzip(Arrays.copyOfRange(TEXT, 10, TEXT.length)));

        assertThat(decode(body, CompressedBody.Format.GZIP)).isEqualTo(TEXT);
    }

    @Test
    void optionalHeaderFieldsAreSkipped() throws IOException {
        assertThat(decode(gzipWithOptionalFields(TEXT), CompressedBody.Format.GZIP))
                .isEqualTo(TEXT);
    }

    @Test
    void bytesAfterTheLastMemberAreRefusedWithTheirPosition() throws IOException {
        byte[] member = gzip(TEXT);

        assertThatThrownBy(
                        () -> decode(concat(member, new byte[] {0, 0}), CompressedBody.Format.GZIP))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining(
                        "bytes after the end of its gzip data (at compressed byte "
                                + member.length
                                + ")");
    }

    @Test
    void aWrongCrcOrSizeIsCorrupt() throws IOException {
        byte[] badCrc = gzip(TEXT);
        badCrc[badCrc.length - 8] ^= 1;
        byte[] badSize = gzip(TEXT);
        badSize[badSize.length - 4] ^= 1;

        assertThatThrownBy(() -> decode(badCrc, CompressedBody.Format.GZIP))
                .hasMessageContaining("CRC-32 does not match");
        assertThatThrownBy(() -> decode(badSize, CompressedBody.Format.GZIP))
                .hasMessageContaining("trailer says");
    }

    @Test
    void aCutStreamSaysWhereItEnded() throws IOException {
        byte[] member = gzip(TEXT);

        assertThatThrownBy(() -> decode(Arrays.copyOf(member, 5), CompressedBody.Format.GZIP))
                .hasMessageContaining("truncated")
                .hasMessageContaining("ends after 5 compressed bytes, in a member's header");
        assertThatThrownBy(() ->
                        decode(
                                Arrays.copyOf(member, member.length - 3),
                                CompressedBody.Format.GZIP))
                .hasMessageContaining("in a member's trailer")
                .hasMessageContaining(TEXT.length + " bytes decompressed");
        assertThatThrownBy(() -> decode(new byte[0], CompressedBody.Format.GZIP))
                .hasMessageContaining("truncated");
    }

    @Test
    void deflateDecodesAndRefusesBytesAfterItsStream() throws IOException {
        ByteArrayOutputStream zlib = new ByteArrayOutputStream();
        try (DeflaterOutputStream out = new DeflaterOutputStream(zlib)) {
            out.write(TEXT);
        }

        assertThat(decode(zlib.toByteArray(), CompressedBody.Format.DEFLATE)).isEqualTo(TEXT);
        assertThatThrownBy(() ->
                        decode(
                                concat(zlib.toByteArray(), new byte[] {1}),
                                CompressedBody.Format.DEFLATE))
                .hasMessageContaining(
                        "bytes after the end of its deflate data (at compressed byte "
                                + zlib.size()
                                + ")");
        assertThatThrownBy(() ->
                        decode(
                                Arrays.copyOf(zlib.toByteArray(), zlib.size() - 2),
                                CompressedBody.Format.DEFLATE))
                .hasMessageContaining("truncated")
                .hasMessageContaining("in the compressed data");
    }

    @Test
    void anEmptyMemberDecodesToNothing() throws IOException {
        assertThat(decode(gzip(new byte[0]), CompressedBody.Format.GZIP)).isEmpty();
        assertThat(decode(concat(gzip(new byte[0]), gzip(TEXT)), CompressedBody.Format.GZIP))
                .isEqualTo(TEXT);
    }

    /**
     * Incompressible data over many 64 KiB reads, the compressed bytes arriving a few at a time.
     */
    @Test
    void aLargeBodyTricklingInDecodesWhole() throws IOException {
        byte[] data = new byte[1_000_003];
        new Random(42).nextBytes(data);
        byte[] compressed =
                concat(
                        gzip(Arrays.copyOf(data, 300_000)),
                        gzip(Arrays.copyOfRange(data, 300_000, data.length)));

        try (CompressedBody in =
                new CompressedBody(trickle(compressed, 7), CompressedBody.Format.GZIP)) {
            assertThat(in.readAllBytes()).isEqualTo(data);
        }
        assertThat(decode(compressed, CompressedBody.Format.GZIP)).isEqualTo(data);
    }

    @Test
    void aHeaderThatIsNotGzipIsCorrupt() throws IOException {
        byte[] member = gzip(TEXT);
        byte[] magic = member.clone();
        magic[1] = (byte) 0x8c;
        byte[] method = member.clone();
        method[2] = 7;
        byte[] reserved = member.clone();
        reserved[3] = (byte) 0x20;

        assertThatThrownBy(() -> decode(magic, CompressedBody.Format.GZIP))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining(
                        "corrupt at compressed byte 2: it does not start with the gzip magic bytes 1f 8b");
        assertThatThrownBy(() -> decode(method, CompressedBody.Format.GZIP))
                .hasMessageContaining("its compression method is not deflate (8)");
        assertThatThrownBy(() -> decode(reserved, CompressedBody.Format.GZIP))
                .hasMessageContaining("its header sets reserved flags");
        assertThatThrownBy(() -> decode(new byte[] {1, 2, 3}, CompressedBody.Format.DEFLATE))
                .hasMessageContaining(
                        "the request body's deflate data is corrupt at compressed byte");
    }

    @Test
    void deflateWithAPresetDictionaryIsRefused() {
        Deflater deflater = new Deflater();
        deflater.setDictionary("{\"inputs\"".getBytes(StandardCharsets.US_ASCII));
        deflater.setInput(TEXT);
        deflater.finish();
        byte[] buffer = new byte[1024];
        int n = deflater.deflate(buffer);
        deflater.end();

        assertThatThrownBy(() -> decode(Arrays.copyOf(buffer, n), CompressedBody.Format.DEFLATE))
                .hasMessageContaining(
                        "it needs a preset dictionary, which HTTP's deflate does not use");
    }

    /** {@code bytes}, at most {@code most} per read, as a slow network delivers them. */
    private static InputStream trickle(byte[] bytes, int most) {
        return new FilterInputStream(new ByteArrayInputStream(bytes)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return super.read(b, off, Math.min(len, most));
            }
        };
    }

    private static byte[] decode(byte[] body, CompressedBody.Format format) throws IOException {
        try (CompressedBody in = new CompressedBody(new ByteArrayInputStream(body), format)) {
            return in.readAllBytes();
        }
    }

    private static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(out)) {
            gzip.write(data);
        }
        return out.toByteArray();
    }

    /** A member with FEXTRA, FNAME, FCOMMENT and FHCRC set, as the gzip tool may write them. */
    private static byte[] gzipWithOptionalFields(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3});
        out.writeBytes(new byte[] {3, 0, 'a', 'b', 'c'}); // FEXTRA: length 3
        out.writeBytes("name.json\0".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes("a comment\0".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(new byte[] {0x12, 0x34}); // FHCRC
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        deflater.setInput(data);
        deflater.finish();
        byte[] buffer = new byte[1024];
        while (!deflater.finished()) {
            out.write(buffer, 0, deflater.deflate(buffer));
        }
        deflater.end();
        CRC32 crc = new CRC32();
        crc.update(data);
        writeLittleEndian(out, crc.getValue());
        writeLittleEndian(out, data.length);
        return out.toByteArray();
    }

    private static void writeLittleEndian(ByteArrayOutputStream out, long value) {
        for (int i = 0; i < 4; i++) {
            out.write((int) (value >>> (8 * i)) & 0xff);
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
