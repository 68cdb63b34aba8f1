package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.nativelib.NativeRuntime;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * A 256 MiB tensor through a JVM whose whole heap is smaller than that (surefire runs this class
 * alone with -Xmx128m): the body streams from the socket into native memory and the binary output
 * from native memory to the socket. The test's own client streams too: it generates the upload and
 * checks the download on the fly.
 */
@Tag("small-heap")
class SmallHeapIntegrationTests extends IntegrationTestSupport {

    private static final int N = 1 << 25; // FP64 elements: 256 MiB
    private static final long BYTES = (long) N * 8;

    @Autowired NativeRuntime runtime;

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeEach
    void theHeapIsSmallerThanTheTensor() {
        assumeTrue(
                Runtime.getRuntime().maxMemory() < BYTES,
                "run with -Xmx below 256m (surefire's small-heap run)");
    }

    @Test
    void describeOf256MiBUploadedInBinary() throws Exception {
        String header =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                        + N
                        + "],"
                        + "\"parameters\":{\"binary_data_size\":"
                        + BYTES
                        + "}}]}";
        HttpResponse<String> response =
                http.send(
                        upload("/v2/models/describe/infer", header, N),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode json = JSON.readTree(response.body());
        double n = N;
        assertThat(Tensors.longs(Tensors.output(json, "count"))).containsExactly(N);
        assertThat(Tensors.doubles(Tensors.output(json, "mean"))[0]).isEqualTo((n - 1) / 2);
        assertThat(Tensors.doubles(Tensors.output(json, "std"))[0])
                .isCloseTo(Math.sqrt((n * n - 1) / 12), org.assertj.core.data.Offset.offset(1e-6));
        assertThat(Tensors.doubles(Tensors.output(json, "max"))[0]).isEqualTo(n - 1);
    }

    @Test
    void identityRoundTripOf256MiBInBinary() throws Exception {
        String header =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                        + N
                        + "],"
                        + "\"parameters\":{\"binary_data_size\":"
                        + BYTES
                        + "}}],\"parameters\":{\"binary_data_output\":true}}";
        HttpResponse<InputStream> response =
                http.send(
                        upload("/v2/models/identity/infer", header, N),
                        HttpResponse.BodyHandlers.ofInputStream());

        assertThat(response.statusCode()).isEqualTo(200);
        int headerLength =
                Integer.parseInt(
                        response.headers()
                                .firstValue("Inference-Header-Content-Length")
                                .orElseThrow());
        try (InputStream in = new BufferedInputStream(response.body(), 1 << 16)) {
            JsonNode json = JSON.readTree(in.readNBytes(headerLength));
            assertThat(
                            json.path("outputs")
                                    .get(0)
                                    .path("parameters")
                                    .path("binary_data_size")
                                    .asLong())
                    .isEqualTo(BYTES);
            byte[] element = new byte[8];
            for (int i = 0; i < N; i++) {
                if (in.readNBytes(element, 0, 8) != 8) {
                    throw new AssertionError("response ended at element " + i);
                }
                double value = ByteBuffer.wrap(element).order(ByteOrder.LITTLE_ENDIAN).getDouble();
                if (value != i) {
                    throw new AssertionError("element " + i + " came back as " + value);
                }
            }
            assertThat(in.read()).isEqualTo(-1);
        }
    }

    /**
     * A flood: twelve 64 MiB uploads at once against a 224 MiB native budget, in this 128 MiB heap.
     * Inputs are allocated against the budget before their bytes are read, so at most three are in
     * native memory at a time and the others are refused at once with 507; nothing runs out.
     */
    @Test
    void aFloodOfLargeUploadsIsHeldToTheBudgetWithoutRunningOutOfHeap() throws Exception {
        int elements = N / 4;
        String header =
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":["
                        + elements
                        + "],"
                        + "\"parameters\":{\"binary_data_size\":"
                        + 8L * elements
                        + "}}]}";
        runtime.memory()
                .setMemoryLimit(
                        224L << 20); // three inputs and room for their outputs (NativeGlobals
        // resets it)
        List<CompletableFuture<HttpResponse<String>>> flood = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            flood.add(
                    http.sendAsync(
                            upload("/v2/models/describe/infer", header, elements),
                            HttpResponse.BodyHandlers.ofString()));
        }
        Map<Integer, Integer> statuses = new TreeMap<>();
        String refusal = "";
        for (CompletableFuture<HttpResponse<String>> request : flood) {
            HttpResponse<String> response = request.get(120, TimeUnit.SECONDS);
            statuses.merge(response.statusCode(), 1, Integer::sum);
            if (response.statusCode() == 200) {
                double n = elements;
                assertThat(
                                Tensors.doubles(
                                        Tensors.output(JSON.readTree(response.body()), "mean"))[0])
                        .isEqualTo((n - 1) / 2);
            } else {
                assertThat(response.statusCode()).as(response.body()).isEqualTo(507);
                assertThat(response.body()).contains("budget");
                refusal = response.body();
            }
        }
        assertThat(statuses).as("statuses; a refusal said: %s", refusal).containsKeys(200, 507);
    }

    /** A POST whose body (JSON header, then x[i] = i as FP64) is generated while it is sent. */
    private HttpRequest upload(String path, String header, long elements) {
        byte[] head = header.getBytes(StandardCharsets.UTF_8);
        HttpRequest.BodyPublisher stream =
                HttpRequest.BodyPublishers.ofInputStream(() -> new Generated(head, 8 * elements));
        return HttpRequest.newBuilder(api(path))
                .header("Inference-Header-Content-Length", Integer.toString(head.length))
                .POST(HttpRequest.BodyPublishers.fromPublisher(stream, head.length + 8 * elements))
                .build();
    }

    /** The header, then little-endian doubles 0, 1, 2, ... generated on demand. */
    private static final class Generated extends InputStream {
        private final byte[] head;
        private final long bytes;
        private long position;

        Generated(byte[] head, long bytes) {
            this.head = head;
            this.bytes = bytes;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            long total = head.length + bytes;
            if (position >= total) {
                return -1;
            }
            int n = (int) Math.min(len, total - position);
            for (int i = 0; i < n; i++, position++) {
                if (position < head.length) {
                    b[off + i] = head[(int) position];
                } else {
                    long offset = position - head.length;
                    long bits = Double.doubleToLongBits((double) (offset / 8));
                    b[off + i] = (byte) (bits >>> (8 * (offset % 8)));
                }
            }
            return n;
        }
    }
}
