package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.management.ThreadMXBean;
import dev.ncs.kernel.InvalidInputException;
import java.io.ByteArrayInputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Reading a request body costs heap for the bytes that arrive, never for the sizes a client declares. */
class RequestBodyTests {

    private static final long LIMIT = 1L << 30;

    @Test
    void aDeclaredJsonHeaderLengthIsNotAllocatedBeforeItsBytesArrive() {
        declareMuchSendLittle(); // loads and links what the refusal needs, which is not what is measured
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        InvalidInputException refusal = declareMuchSendLittle();

        assertThat(threads.getCurrentThreadAllocatedBytes() - before).as("heap allocated for 13 bytes sent")
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

        assertThat(new String(body.readJson(13, "the JSON header"), StandardCharsets.US_ASCII)).isEqualTo("{\"inputs\":[]}");
    }

    /**
     * JSON texts and the tensors decoded from them share one heap total: each body's first 64 KiB of each
     * are free, the rest charged as it grows and given back when released; past the total, 503.
     */
    @Test
    void jsonTextsAndDecodedTensorsShareOneBoundedTotal() {
        JsonInFlight inFlight = new JsonInFlight(1 << 20);
        byte[] text = new byte[600_000];
        RequestBody first = RequestBody.open(new ByteArrayInputStream(text), null, -1, LIMIT, LIMIT, UploadPace.none(),
                inFlight);
        assertThat(first.readAllJson()).hasSize(600_000);
        long textCharge = inFlight.held();
        assertThat(textCharge).as("the array doubled to 1 MiB; its first 64 KiB are free").isEqualTo((1 << 20) - (64 << 10));
        first.chargeDecoded(60_000); // within the free 64 KiB of decoded tensors
        assertThat(inFlight.held()).isEqualTo(textCharge);
        first.releaseJson();
        first.chargeDecoded(500_000);
        assertThat(inFlight.held()).isEqualTo(560_000 - (64 << 10));

        RequestBody second = RequestBody.open(new ByteArrayInputStream(text), null, -1, LIMIT, LIMIT, UploadPace.none(),
                inFlight);
        assertThatThrownBy(second::readAllJson).isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("ncs.limits.max-json-in-flight");
        second.releaseJson();
        first.releaseDecoded();
        assertThat(inFlight.held()).isZero();
        RequestBody third = RequestBody.open(new ByteArrayInputStream(text), null, -1, LIMIT, LIMIT, UploadPace.none(),
                inFlight);
        assertThat(third.readAllJson()).hasSize(600_000);
        third.releaseJson();
        assertThat(inFlight.held()).isZero();
    }
}
