package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.management.ThreadMXBean;
import dev.ncs.kernel.InvalidInputException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Reading a request body: it costs heap for the bytes that arrive, never for the sizes a client
 * declares; it reads exactly what each part declares, and refuses, with where it stopped, a body
 * that is too large, cut short, too long or unreadable.
 */
class RequestBodyTests {

    private static final long LIMIT = 1L << 30;

    @Test
    void aDeclaredJsonHeaderLengthIsNotAllocatedBeforeItsBytesArrive() {
        declareMuchSendLittle(); // loads and links what the refusal needs, which is not what is
        // measured
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        InvalidInputException refusal = declareMuchSendLittle();

        assertThat(threads.getCurrentThreadAllocatedBytes() - before)
                .as("heap allocated for 13 bytes sent")
                .isLessThan(1 << 20);
        assertThat(refusal).hasMessageContaining("Inference-Header-Content-Length");
    }

    /** 13 bytes sent where the header said 64 MiB: the refusal. */
    private static InvalidInputException declareMuchSendLittle() {
        byte[] sent = "{\"inputs\":[]}".getBytes(StandardCharsets.US_ASCII);
        RequestBody body = RequestBody.open(new ByteArrayInputStream(sent), null, -1, LIMIT, LIMIT);
        try {
            body.readJson(64 << 20, "the JSON header (Inference-Header-Content-Length)");
        } catch (InvalidInputException e) {
            return e;
        }
        throw new AssertionError("a truncated header was accepted");
    }

    @Test
    void aJsonHeaderThatArrivesWholeIsReadExactly() {
        byte[] sent = "{\"inputs\":[]}trailing binary".getBytes(StandardCharsets.US_ASCII);
        RequestBody body = RequestBody.open(new ByteArrayInputStream(sent), null, -1, LIMIT, LIMIT);

        assertThat(new String(body.readJson(13, "the JSON header"), StandardCharsets.US_ASCII))
                .isEqualTo("{\"inputs\":[]}");
    }

    /**
     * JSON texts and the tensors decoded from them share one heap total: each body's first 64 KiB
     * of each are free, the rest charged as it grows and given back when released; past the total,
     * 503.
     */
    @Test
    void jsonTextsAndDecodedTensorsShareOneBoundedTotal() {
        JsonInFlight inFlight = new JsonInFlight(1 << 20);
        byte[] text = new byte[600_000];
        RequestBody first =
                RequestBody.open(
                        new ByteArrayInputStream(text),
                        null,
                        -1,
                        LIMIT,
                        LIMIT,
                        UploadPace.none(),
                        inFlight);
        assertThat(first.readAllJson()).hasSize(600_000);
        long textCharge = inFlight.held();
        assertThat(textCharge)
                .as("the array doubled to 1 MiB; its first 64 KiB are free")
                .isEqualTo((1 << 20) - (64 << 10));
        first.chargeDecoded(60_000); // within the free 64 KiB of decoded tensors
        assertThat(inFlight.held()).isEqualTo(textCharge);
        first.releaseJson();
        first.chargeDecoded(500_000);
        assertThat(inFlight.held()).isEqualTo(560_000 - (64 << 10));

        RequestBody second =
                RequestBody.open(
                        new ByteArrayInputStream(text),
                        null,
                        -1,
                        LIMIT,
                        LIMIT,
                        UploadPace.none(),
                        inFlight);
        assertThatThrownBy(second::readAllJson)
                .isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("ncs.limits.max-json-in-flight");
        second.releaseJson();
        first.releaseDecoded();
        assertThat(inFlight.held()).isZero();
        RequestBody third =
                RequestBody.open(
                        new ByteArrayInputStream(text),
                        null,
                        -1,
                        LIMIT,
                        LIMIT,
                        UploadPace.none(),
                        inFlight);
        assertThat(third.readAllJson()).hasSize(600_000);
        third.releaseJson();
        assertThat(inFlight.held()).isZero();
    }

    @Test
    void binaryBytesArriveWholeInSlicesThatGrowWithWhatArrived() {
        byte[] sent = new byte[300_000 + 7]; // an odd size over four slices
        for (int i = 0; i < sent.length; i++) {
            sent[i] = (byte) (i * 31 + 7);
        }
        RequestBody body =
                RequestBody.open(new ByteArrayInputStream(sent), null, sent.length, LIMIT, LIMIT);
        byte[] target = new byte[sent.length];
        List<Long> ends = new ArrayList<>();

        body.readInto(MemorySegment.ofArray(target), "input 'x'", ends::add);
        body.expectEnd();

        assertThat(target).isEqualTo(sent);
        assertThat(ends)
                .as("each slice's end, told before it is read")
                .isSorted()
                .startsWith(65_536L)
                .endsWith(300_007L);
        for (int i = 1; i < ends.size(); i++) {
            assertThat(ends.get(i))
                    .as("a slice is at most as long as what arrived before it")
                    .isLessThanOrEqualTo(2 * ends.get(i - 1));
        }
    }

    @Test
    void anEmptyBodyIsNoJsonAndAnEmptyTensorReadsNothing() {
        RequestBody body =
                RequestBody.open(new ByteArrayInputStream(new byte[0]), null, 0, LIMIT, LIMIT);

        assertThat(body.readAllJson()).isEmpty();
        body.readInto(
                MemorySegment.ofArray(new byte[0]),
                "input 'x'",
                end -> {
                    throw new AssertionError("nothing to charge");
                });
        body.expectEnd();
    }

    @Test
    void aBodyThatEndsCleanlyBeforeATensorIsTruncatedAtItsByte() {
        byte[] sent = new byte[100];
        RequestBody body = RequestBody.open(new ByteArrayInputStream(sent), null, -1, LIMIT, LIMIT);
        body.readJson(40, "the JSON header");

        assertThatThrownBy(() ->
                        body.readInto(
                                MemorySegment.ofArray(new byte[64]),
                                "input 'x' (binary_data_size 64)",
                                end -> {}))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageStartingWith(
                        "the request body was truncated at byte 100: input 'x' (binary_data_size 64) "
                                + "needs 64 bytes but only 60 arrived");
    }

    @Test
    void bytesAfterTheLastTensorAreRefused() {
        RequestBody body =
                RequestBody.open(new ByteArrayInputStream(new byte[9]), null, 9, LIMIT, LIMIT);
        body.readInto(MemorySegment.ofArray(new byte[8]), "input 'x'", end -> {});

        assertThatThrownBy(body::expectEnd)
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("bytes after the last binary tensor");
    }

    @Test
    void sizesPastTheLimitsAreRefusedBeforeTheirBytesAreRead() {
        assertThatThrownBy(() ->
                        RequestBody.open(InputStream.nullInputStream(), null, 1001, 1000, 1000))
                .isInstanceOf(PayloadTooLargeException.class)
                .hasMessage(
                        "the request body is 1001 bytes; the limit (ncs.limits.max-request-size) is 1000 bytes");
        RequestBody declared =
                RequestBody.open(new ByteArrayInputStream(new byte[600]), null, 600, 1000, 500);
        assertThatThrownBy(declared::readAllJson)
                .isInstanceOf(PayloadTooLargeException.class)
                .hasMessageStartingWith("the JSON part of the request is 600 bytes; the limit");
        RequestBody header = RequestBody.open(InputStream.nullInputStream(), null, -1, 1000, 500);
        assertThatThrownBy(() -> header.readJson(501, "the JSON header"))
                .isInstanceOf(PayloadTooLargeException.class);
        RequestBody tensor = RequestBody.open(InputStream.nullInputStream(), null, -1, 1000, 500);
        assertThatThrownBy(() ->
                        tensor.readInto(
                                MemorySegment.ofArray(new byte[1001]), "input 'x'", end -> {}))
                .isInstanceOf(PayloadTooLargeException.class)
                .hasMessageContaining("declared sizes");
    }

    @Test
    void aChunkedJsonBodyLongerThanTheJsonLimitIsRefusedOnceItPassesIt() {
        RequestBody body =
                RequestBody.open(new ByteArrayInputStream(new byte[501]), null, -1, 1000, 500);

        assertThatThrownBy(body::readAllJson)
                .isInstanceOf(PayloadTooLargeException.class)
                .hasMessageStartingWith("the JSON part of the request is more than 500 bytes");
    }

    @Test
    void gzipBodiesDecodeWhateverTheEncodingsCaseAndOthersAreRefused() throws IOException {
        byte[] text = "{\"inputs\":[]}".getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream compressed = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(compressed)) {
            gzip.write(text);
        }

        for (String encoding : new String[] {"gzip", " GZIP ", "x-gzip"}) {
            RequestBody body =
                    RequestBody.open(
                            new ByteArrayInputStream(compressed.toByteArray()),
                            encoding,
                            compressed.size(),
                            LIMIT,
                            LIMIT);
            assertThat(body.declaredLength())
                    .as("a compressed body's decoded length is unknown")
                    .isEqualTo(-1);
            assertThat(body.readAllJson()).isEqualTo(text);
        }
        assertThat(
                        RequestBody.open(
                                        new ByteArrayInputStream(text),
                                        "identity",
                                        text.length,
                                        LIMIT,
                                        LIMIT)
                                .readAllJson())
                .isEqualTo(text);
        assertThatThrownBy(() ->
                        RequestBody.open(InputStream.nullInputStream(), "br", -1, LIMIT, LIMIT))
                .isInstanceOf(UnsupportedEncodingException.class)
                .hasMessageContaining("Content-Encoding 'br'");
    }

    @Test
    void aConnectionThatEndsOrStallsMidBodySaysHowMuchArrived() {
        byte[] first = new byte[10];
        RequestBody ended =
                RequestBody.open(failingAfter(first, new EOFException()), null, 50, LIMIT, LIMIT);
        RequestBody chunked =
                RequestBody.open(failingAfter(first, new EOFException()), null, -1, LIMIT, LIMIT);
        RequestBody stalled =
                RequestBody.open(
                        failingAfter(first, new SocketTimeoutException("Read timed out")),
                        null,
                        50,
                        LIMIT,
                        LIMIT);

        assertThatThrownBy(ended::readAllJson)
                .isInstanceOf(InvalidInputException.class)
                .hasMessage(
                        "the request body was truncated: the connection ended after 10 of the 50 bytes its "
                                + "Content-Length declares, while the JSON body was being read; send the whole body");
        assertThatThrownBy(chunked::readAllJson)
                .hasMessageContaining(
                        "after 10 bytes, before its last chunk (Transfer-Encoding: chunked)");
        assertThatThrownBy(stalled::readAllJson)
                .isInstanceOf(SlowUploadException.class)
                .hasMessageStartingWith("the request body stopped arriving after 10 bytes");
    }

    /**
     * A stream that gives {@code bytes} and then fails with {@code failure}, as a dropped
     * connection does.
     */
    private static InputStream failingAfter(byte[] bytes, IOException failure) {
        return new SequenceInputStream(
                new ByteArrayInputStream(bytes),
                new InputStream() {
                    @Override
                    public int read() throws IOException {
                        throw failure;
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        throw failure;
                    }
                });
    }
}
