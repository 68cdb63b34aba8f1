package dev.ncs.inference;

import static dev.ncs.inference.Tensors.doubles;
import static dev.ncs.inference.Tensors.input;
import static dev.ncs.inference.Tensors.longs;
import static dev.ncs.inference.Tensors.output;
import static dev.ncs.inference.Tensors.shape;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.kernel.References;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.DoubleStream;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

/**
 * fft, conv2d, histogram, sha256 and describe's percentiles through the API, against plain Java
 * references.
 */
class NumericKernelsIntegrationTests extends IntegrationTestSupport {

    private final Random random = new Random(11);

    @ParameterizedTest(name = "fft n={0}")
    @ValueSource(ints = {1, 2, 3, 5, 7, 12, 16, 17, 97, 100, 128, 243, 1009})
    void fftMatchesTheDefinitionForAnyLength(int n) throws Exception {
        double[] x = random.doubles(2L * n, -1, 1).toArray();
        for (boolean inverse : new boolean[] {false, true}) {
            Reply reply =
                    post(
                            "/v2/models/fft/infer",
                            "{\"parameters\":{\"inverse\":"
                                    + inverse
                                    + "},\"inputs\":["
                                    + input("x", "FP64", new long[] {n, 2}, x)
                                    + "]}");

            assertThat(reply.status()).as(reply.text()).isEqualTo(200);
            JsonNode y = output(reply.json(), "y");
            assertThat(shape(y)).containsExactly(n, 2);
            assertClose(doubles(y), References.dft(x, inverse), 1e-10 * Math.max(1, n));
        }
    }

    @Test
    void fftIsBatchedOverLeadingAxesInFp32() throws Exception {
        int batch = 3;
        int n = 20;
        double[] x = random.doubles(batch * n * 2L, -1, 1).map(v -> (float) v).toArray();
        Reply reply =
                post(
                        "/v2/models/fft/infer",
                        "{\"inputs\":[" + input("x", "FP32", new long[] {batch, n, 2}, x) + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        double[] y = doubles(output(reply.json(), "y"));
        for (int b = 0; b < batch; b++) {
            double[] one = Arrays.copyOfRange(x, b * n * 2, (b + 1) * n * 2);
            assertClose(
                    Arrays.copyOfRange(y, b * n * 2, (b + 1) * n * 2),
                    References.dft(one, false),
                    1e-4);
        }
    }

    @Test
    void fftRefusesAShapeWithoutTheComplexAxis() throws Exception {
        Reply reply =
                post(
                        "/v2/models/fft/infer",
                        "{\"inputs\":["
                                + input("x", "FP64", new long[] {4, 3}, new double[12])
                                + "]}");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("'x'");
    }

    @ParameterizedTest(name = "conv2d {0}x{1} * {2}x{3} {4} {5}")
    @CsvSource({
        "7, 5, 3, 3, same, fill",
        "7, 5, 3, 3, full, fill",
        "7, 5, 3, 3, valid, fill",
        "7, 5, 3, 3, same, symm",
        "7, 5, 3, 3, full, symm",
        "7, 5, 3, 3, valid, symm",
        "10, 13, 2, 2, same, fill",
        "10, 13, 2, 5, same, symm",
        "10, 13, 4, 7, full, symm",
        "1, 1, 1, 1, same, fill",
        "2, 3, 5, 5, same, fill",
        "2, 3, 5, 5, full, symm",
        "9, 9, 5, 5, valid, fill"
    })
    void conv2dMatchesScipysDefinition(int h, int w, int kh, int kw, String mode, String boundary)
            throws Exception {
        double[] image = random.doubles((long) h * w, -1, 1).toArray();
        double[] kernel = random.doubles((long) kh * kw, -1, 1).toArray();
        Reply reply =
                post(
                        "/v2/models/conv2d/infer",
                        "{\"parameters\":{\"mode\":\""
                                + mode
                                + "\",\"boundary\":\""
                                + boundary
                                + "\"},\"inputs\":["
                                + input("image", "FP64", new long[] {h, w}, image)
                                + ","
                                + input("kernel", "FP64", new long[] {kh, kw}, kernel)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertClose(
                doubles(output(reply.json(), "out")),
                References.convolve2d(image, h, w, kernel, kh, kw, mode, boundary),
                1e-12);
    }

    @Test
    void conv2dAppliesOneKernelToEveryImageOfABatch() throws Exception {
        int n = 3;
        int h = 6;
        int w = 9;
        double[] images = random.doubles((long) n * h * w, -1, 1).map(v -> (float) v).toArray();
        double[] kernel = random.doubles(9, -1, 1).map(v -> (float) v).toArray();
        Reply reply =
                post(
                        "/v2/models/conv2d/infer",
                        "{\"inputs\":["
                                + input("image", "FP32", new long[] {n, h, w}, images)
                                + ","
                                + input("kernel", "FP32", new long[] {3, 3}, kernel)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode out = output(reply.json(), "out");
        assertThat(shape(out)).containsExactly(n, h, w);
        double[] actual = doubles(out);
        for (int i = 0; i < n; i++) {
            double[] one = Arrays.copyOfRange(images, i * h * w, (i + 1) * h * w);
            assertClose(
                    Arrays.copyOfRange(actual, i * h * w, (i + 1) * h * w),
                    References.convolve2d(one, h, w, kernel, 3, 3, "same", "fill"),
                    1e-5);
        }
    }

    @ParameterizedTest(name = "histogram bins={0} range={1}")
    @CsvSource({"1, true", "7, true", "50, true", "10, false", "33, false"})
    void histogramMatchesNumpysRules(int bins, boolean withRange) throws Exception {
        double[] x = random.doubles(10_007, -3, 3).toArray();
        x[0] = -1; // values exactly on edges
        x[1] = 1;
        x[2] = 0;
        double lo = withRange ? -1 : Arrays.stream(x).min().orElseThrow();
        double hi = withRange ? 1 : Arrays.stream(x).max().orElseThrow();
        String parameters = "\"bins\":" + bins + (withRange ? ",\"lo\":-1,\"hi\":1" : "");
        Reply reply =
                post(
                        "/v2/models/histogram/infer",
                        "{\"parameters\":{"
                                + parameters
                                + "},\"inputs\":["
                                + input("x", "FP64", new long[] {x.length}, x)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(longs(output(reply.json(), "counts")))
                .containsExactly(References.histogram(x, bins, lo, hi));
        double[] edges = doubles(output(reply.json(), "edges"));
        assertThat(edges).hasSize(bins + 1);
        assertThat(edges[0]).isEqualTo(lo);
        assertThat(edges[bins]).isEqualTo(hi);
    }

    @Test
    void sha256MatchesJavasMessageDigest() throws Exception {
        String[] messages =
                IntStream.range(0, 70)
                        .mapToObj(i -> "m" + "é".repeat(i % 7) + "x".repeat(i * 3))
                        .toArray(String[]::new);
        messages[0] = "";
        messages[1] = "abc";
        String data =
                Arrays.stream(messages).map(m -> "\"" + m + "\"").collect(Collectors.joining(","));
        Reply reply =
                post(
                        "/v2/models/sha256/infer",
                        "{\"inputs\":[{\"name\":\"data\",\"datatype\":\"BYTES\","
                                + "\"shape\":["
                                + messages.length
                                + "],\"data\":["
                                + data
                                + "]}]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode digest = output(reply.json(), "digest");
        assertThat(digest.path("datatype").asString()).isEqualTo("UINT8");
        assertThat(shape(digest)).containsExactly(messages.length, 32);
        long[] bytes = longs(digest);
        for (int i = 0; i < messages.length; i++) {
            byte[] expected =
                    MessageDigest.getInstance("SHA-256")
                            .digest(messages[i].getBytes(StandardCharsets.UTF_8));
            byte[] actual = new byte[32];
            for (int b = 0; b < 32; b++) {
                actual[b] = (byte) bytes[i * 32 + b];
            }
            assertThat(HexFormat.of().formatHex(actual))
                    .as("message %d", i)
                    .isEqualTo(HexFormat.of().formatHex(expected));
        }
        // FIPS 180-4's own example: SHA-256("abc").
        assertThat(HexFormat.of().formatHex(Arrays.copyOfRange(toBytes(bytes, 64), 32, 64)))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    @Test
    void sha256OfLargeBinaryMessages() throws Exception {
        byte[][] messages = {new byte[1 << 20], new byte[3], new byte[(1 << 20) + 13]};
        for (byte[] m : messages) {
            random.nextBytes(m);
        }
        byte[] encoded =
                java.nio.ByteBuffer.allocate(
                                Arrays.stream(messages).mapToInt(m -> 4 + m.length).sum())
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .putInt(messages[0].length)
                        .put(messages[0])
                        .putInt(messages[1].length)
                        .put(messages[1])
                        .putInt(messages[2].length)
                        .put(messages[2])
                        .array();
        BinaryRequests.Body body =
                BinaryRequests.body(
                        "{\"inputs\":[{\"name\":\"data\",\"datatype\":\"BYTES\","
                                + "\"shape\":[3],\"parameters\":{\"binary_data_size\":"
                                + encoded.length
                                + "}}],"
                                + "\"outputs\":[{\"name\":\"digest\",\"parameters\":{\"binary_data\":true}}]}",
                        encoded);

        BinaryReply reply =
                sendBytes(
                        HttpRequest.newBuilder(api("/v2/models/sha256/infer"))
                                .header(
                                        "Inference-Header-Content-Length",
                                        Integer.toString(body.headerLength()))
                                .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()))
                                .build());

        assertThat(reply.status()).isEqualTo(200);
        for (int i = 0; i < 3; i++) {
            byte[] actual =
                    Arrays.copyOfRange(
                            reply.body(),
                            reply.headerLength() + 32 * i,
                            reply.headerLength() + 32 * (i + 1));
            assertThat(actual).isEqualTo(MessageDigest.getInstance("SHA-256").digest(messages[i]));
        }
    }

    @ParameterizedTest(name = "percentiles of {0} elements")
    @ValueSource(ints = {1, 2, 7, 10, 1001, 300_000})
    void describePercentilesMatchNumpysLinearDefinition(int n) throws Exception {
        double[] x =
                random.doubles(n, -100, 100)
                        .map(v -> Math.rint(v * 4) / 4)
                        .toArray(); // with duplicates
        double[] q = {0, 5, 25, 33.3, 50, 95.5, 100};
        String list =
                DoubleStream.of(q).mapToObj(Double::toString).collect(Collectors.joining(", "));
        Reply reply =
                post(
                        "/v2/models/describe/infer",
                        "{\"parameters\":{\"percentiles\":\""
                                + list
                                + "\"},"
                                + "\"inputs\":["
                                + input("x", "FP64", new long[] {n}, x)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode percentiles = output(reply.json(), "percentiles");
        assertThat(shape(percentiles)).containsExactly(q.length);
        double[] actual = doubles(percentiles);
        for (int i = 0; i < q.length; i++) {
            assertThat(actual[i])
                    .as("q=%s", q[i])
                    .isCloseTo(
                            References.percentile(x, q[i]),
                            org.assertj.core.data.Offset.offset(1e-9));
        }
    }

    @Test
    void describeRefusesMalformedPercentiles() throws Exception {
        for (String bad : new String[] {"101", "-1", "5,,6", "abc", "NaN"}) {
            Reply reply =
                    post(
                            "/v2/models/describe/infer",
                            "{\"parameters\":{\"percentiles\":\""
                                    + bad
                                    + "\"},"
                                    + "\"inputs\":["
                                    + input("x", "FP64", new long[] {2}, new double[] {1, 2})
                                    + "]}");
            assertThat(reply.status()).as(bad).isEqualTo(400);
            assertThat(reply.error()).as(bad).contains("percentiles");
        }
    }

    private static byte[] toBytes(long[] values, int count) {
        byte[] b = new byte[count];
        for (int i = 0; i < count; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    private static void assertClose(double[] actual, double[] expected, double tolerance) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            double allowed = tolerance * Math.max(1, Math.abs(expected[i]));
            assertThat(Math.abs(actual[i] - expected[i]))
                    .as("element %d: %s vs %s", i, actual[i], expected[i])
                    .isLessThanOrEqualTo(allowed);
        }
    }
}
