package dev.ncs.inference;

import static dev.ncs.inference.Tensors.doubles;
import static dev.ncs.inference.Tensors.input;
import static dev.ncs.inference.Tensors.longs;
import static dev.ncs.inference.Tensors.output;
import static dev.ncs.inference.Tensors.request;
import static dev.ncs.inference.Tensors.shape;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.kernel.References;
import java.util.Random;
import java.util.stream.DoubleStream;
import java.util.stream.IntStream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/**
 * Every kernel through the HTTP API against the plain Java references, on random and edge-case
 * inputs.
 */
class KernelsIntegrationTests extends IntegrationTestSupport {

    private final Random random = new Random(42);

    @ParameterizedTest(name = "matmul {3} [{0}x{1}] x [{1}x{2}]")
    @CsvSource({
        "1, 1, 1, FP64",
        "1, 1, 1, FP32",
        "7, 13, 5, FP64",
        "7, 13, 5, FP32",
        "1000, 3, 2, FP64",
        "2, 3, 1000, FP32",
        "67, 129, 33, FP64",
        "67, 129, 33, FP32",
        "301, 257, 129, FP64",
        "301, 257, 129, FP32",
        "3, 0, 4, FP64",
        "0, 5, 4, FP64",
        "4, 5, 0, FP32"
    })
    void matmulMatchesTheTripleLoop(int m, int k, int n, String type) throws Exception {
        boolean fp32 = type.equals("FP32");
        double[] a = random(m * k, fp32);
        double[] b = random(k * n, fp32);
        Reply reply =
                post(
                        "/v2/models/matmul/infer",
                        request(
                                input("a", type, new long[] {m, k}, a),
                                input("b", type, new long[] {k, n}, b)));

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode c = output(reply.json(), "c");
        assertThat(c.path("datatype").asString()).isEqualTo(type);
        assertThat(shape(c)).containsExactly(m, n);
        assertClose(doubles(c), References.matmul(a, b, m, k, n), fp32 ? 1e-5 : 1e-12, k);
    }

    @Test
    void matmulPropagatesNanAndInfinity() throws Exception {
        double[] a = {1, Double.NaN, 2, 3, Double.POSITIVE_INFINITY, 0};
        double[] b = {1, 2, 3, 4, 5, 6};
        Reply reply =
                post(
                        "/v2/models/matmul/infer",
                        request(
                                input("a", "FP64", new long[] {2, 3}, a),
                                input("b", "FP64", new long[] {3, 2}, b)));

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        double[] c = doubles(output(reply.json(), "c"));
        double[] expected = References.matmul(a, b, 2, 3, 2);
        assertThat(c).containsExactly(expected);
    }

    @ParameterizedTest(name = "describe {0} of {1} elements")
    @CsvSource({"FP64, 0", "FP64, 1", "FP64, 60", "FP32, 61", "FP64, 1000003", "FP32, 700001"})
    void describeMatchesTheTwoPassReference(String type, int count) throws Exception {
        boolean fp32 = type.equals("FP32");
        double[] x = random(count, fp32);
        long[] shape = count == 60 ? new long[] {3, 4, 5} : new long[] {count};
        JsonNode response = describe(type, shape, x);

        double[] expected = References.describe(x);
        assertThat(longs(output(response, "count"))).containsExactly(count);
        for (String name : new String[] {"mean", "std", "min", "max"}) {
            assertThat(output(response, name).path("datatype").asString()).isEqualTo("FP64");
            assertThat(shape(output(response, name))).containsExactly(1);
        }
        double[] actual = {
            count,
            doubles(output(response, "mean"))[0],
            doubles(output(response, "std"))[0],
            doubles(output(response, "min"))[0],
            doubles(output(response, "max"))[0]
        };
        assertClose(actual, expected, 1e-10, 1);
    }

    @Test
    void describeIsNumericallyStableFarFromZero() throws Exception {
        double[] x = IntStream.range(0, 100_001).mapToDouble(i -> 1e9 + (i % 7) * 1e-3).toArray();
        JsonNode response = describe("FP64", new long[] {x.length}, x);

        // The reference works on x - 1e9, which is exact here (Sterbenz) and small, so its sums do
        // not
        // lose the digits that a naive sum of values near 1e9 would.
        double[] shifted = DoubleStream.of(x).map(v -> v - 1e9).toArray();
        double[] expected = References.describe(shifted);
        assertThat(doubles(output(response, "std"))[0])
                .isCloseTo(expected[2], Offset.offset(1e-12));
        assertThat(doubles(output(response, "mean"))[0])
                .isCloseTo(1e9 + expected[1], Offset.offset(1e-6));
    }

    @Test
    void describeGivesNanWhenAnyElementIsNanAndFollowsIeeeForInfinity() throws Exception {
        JsonNode withNan = describe("FP64", new long[] {3}, new double[] {1, Double.NaN, 3});
        assertThat(longs(output(withNan, "count"))).containsExactly(3);
        assertThat(doubles(output(withNan, "mean"))[0]).isNaN();
        assertThat(doubles(output(withNan, "std"))[0]).isNaN();
        assertThat(doubles(output(withNan, "min"))[0]).isNaN();
        assertThat(doubles(output(withNan, "max"))[0]).isNaN();

        JsonNode withInf =
                describe("FP64", new long[] {3}, new double[] {1, Double.POSITIVE_INFINITY, -2});
        assertThat(doubles(output(withInf, "mean"))[0]).isEqualTo(Double.POSITIVE_INFINITY);
        assertThat(doubles(output(withInf, "std"))[0]).isNaN();
        assertThat(doubles(output(withInf, "min"))[0]).isEqualTo(-2);
        assertThat(doubles(output(withInf, "max"))[0]).isEqualTo(Double.POSITIVE_INFINITY);
    }

    @ParameterizedTest(name = "sort {0} of {1} elements, descending={2}")
    @CsvSource({
        "FP64, 0, false",
        "FP64, 1, true",
        "FP64, 1001, false",
        "FP64, 1001, true",
        "FP32, 999, false",
        "FP32, 999, true",
        "FP64, 1000003, false",
        "FP32, 500001, true"
    })
    void sortFloatingPointMatchesArraysSort(String type, int count, boolean descending)
            throws Exception {
        boolean fp32 = type.equals("FP32");
        double[] x = random(count, fp32);
        double[] special = {
            Double.NaN, -0.0, 0.0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 1.5, 1.5
        };
        for (int i = 0; i < special.length && i < count / 2; i++) {
            x[random.nextInt(count)] = special[i];
        }
        Reply reply =
                post(
                        "/v2/models/sort/infer",
                        "{\"parameters\":{\"descending\":"
                                + descending
                                + "},"
                                + "\"inputs\":["
                                + input("x", type, new long[] {count}, x)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        JsonNode sorted = output(reply.json(), "sorted");
        assertThat(sorted.path("datatype").asString()).isEqualTo(type);
        double[] actual = doubles(sorted);
        double[] expected = References.sort(x, descending);
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            // FP32 values come back in float's shortest decimal form: compare them as floats.
            boolean equal =
                    fp32
                            ? Float.compare((float) actual[i], (float) expected[i]) == 0
                            : Double.compare(actual[i], expected[i]) == 0;
            if (!equal) {
                throw new AssertionError(
                        "element " + i + ": expected " + expected[i] + " but was " + actual[i]);
            }
        }
    }

    @ParameterizedTest(name = "sort {0} of {1} elements, descending={2}")
    @CsvSource({
        "INT32, 1, false",
        "INT32, 4097, true",
        "INT64, 0, false",
        "INT64, 333333, false",
        "INT64, 1025, true"
    })
    void sortIntegersMatchesArraysSort(String type, int count, boolean descending)
            throws Exception {
        long[] x = new long[count];
        for (int i = 0; i < count; i++) {
            x[i] = type.equals("INT32") ? random.nextInt() : random.nextLong();
        }
        if (count > 3) {
            x[0] = type.equals("INT32") ? Integer.MIN_VALUE : Long.MIN_VALUE;
            x[1] = type.equals("INT32") ? Integer.MAX_VALUE : Long.MAX_VALUE;
            x[2] = x[3];
        }
        Reply reply =
                post(
                        "/v2/models/sort/infer",
                        "{\"parameters\":{\"descending\":\""
                                + descending
                                + "\"},"
                                + "\"inputs\":["
                                + input("x", type, new long[] {count}, x)
                                + "]}");

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(longs(output(reply.json(), "sorted")))
                .containsExactly(References.sort(x, descending));
    }

    private JsonNode describe(String type, long[] shape, double[] x) throws Exception {
        Reply reply = post("/v2/models/describe/infer", request(input("x", type, shape, x)));
        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        return reply.json();
    }

    /** Random values in [-1, 1); for FP32, values a float holds exactly. */
    private double[] random(int count, boolean fp32) {
        double[] values = new double[count];
        for (int i = 0; i < count; i++) {
            double v = random.nextDouble() * 2 - 1;
            values[i] = fp32 ? (float) v : v;
        }
        return values;
    }

    /**
     * Equal where both are NaN or equal; else within {@code relative} of the magnitude, scaled by
     * the sum length.
     */
    private static void assertClose(
            double[] actual, double[] expected, double relative, int terms) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            if (Double.isNaN(expected[i]) || Double.isInfinite(expected[i])) {
                assertThat(Double.compare(actual[i], expected[i]))
                        .as("element %d: %s vs %s", i, actual[i], expected[i])
                        .isZero();
                continue;
            }
            double tolerance = relative * Math.max(1, terms) * Math.max(1, Math.abs(expected[i]));
            assertThat(Math.abs(actual[i] - expected[i]))
                    .as("element %d: %s vs %s", i, actual[i], expected[i])
                    .isLessThanOrEqualTo(tolerance);
        }
    }
}
