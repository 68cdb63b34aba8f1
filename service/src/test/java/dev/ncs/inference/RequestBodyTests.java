package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

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
}
