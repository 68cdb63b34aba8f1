package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.kernel.References;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import triton.client.InferInput;
import triton.client.InferRequestedOutput;
import triton.client.InferResult;
import triton.client.InferenceException;
import triton.client.InferenceServerClient;
import triton.client.pojo.DataType;

/** Triton's own Java client, in JSON mode, against NCS unchanged. */
class TritonJavaClientIntegrationTests extends IntegrationTestSupport {

    private InferenceServerClient client;

    @BeforeEach
    void connect() throws Exception {
        client = new InferenceServerClient("127.0.0.1:" + port, 5000, 30000);
        client.setRetryCnt(1);
    }

    @AfterEach
    void disconnect() throws Exception {
        client.close();
    }

    @ParameterizedTest(name = "binary={0}")
    @ValueSource(booleans = {false, true})
    void matmulFp64(boolean binary) throws Exception {
        int m = 37;
        int k = 19;
        int n = 23;
        Random random = new Random(7);
        double[] a = random.doubles(m * k).toArray();
        double[] b = random.doubles(k * n).toArray();
        InferInput inputA = new InferInput("a", new long[] {m, k}, DataType.FP64);
        inputA.setData(a, binary);
        InferInput inputB = new InferInput("b", new long[] {k, n}, DataType.FP64);
        inputB.setData(b, binary);

        InferResult result =
                client.infer(
                        "matmul",
                        List.of(inputA, inputB),
                        List.of(new InferRequestedOutput("c", binary)));

        assertThat(result.getResponse().getOutputByName("c").getShape()).containsExactly(m, n);
        double[] c = result.getOutputAsDouble("c");
        double[] expected = References.matmul(a, b, m, k, n);
        for (int i = 0; i < c.length; i++) {
            assertThat(c[i]).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-12));
        }
    }

    @Test
    void sortInt64AndDescribeFp32() throws Exception {
        long[] x = new Random(3).longs(1001).toArray();
        InferInput input = new InferInput("x", new long[] {x.length}, DataType.INT64);
        input.setData(x, false);
        InferResult sorted =
                client.infer(
                        "sort", List.of(input), List.of(new InferRequestedOutput("sorted", false)));
        assertThat(sorted.getOutputAsLong("sorted")).containsExactly(References.sort(x, false));

        float[] values = {1.5f, -2f, 4f, 0.25f};
        InferInput floats = new InferInput("x", new long[] {2, 2}, DataType.FP32);
        floats.setData(values, false);
        InferResult described =
                client.infer(
                        "describe",
                        List.of(floats),
                        List.of(
                                new InferRequestedOutput("count", false),
                                new InferRequestedOutput("mean", false),
                                new InferRequestedOutput("max", false)));
        assertThat(described.getOutputAsLong("count")).containsExactly(4);
        assertThat(described.getOutputAsDouble("mean")).containsExactly(0.9375);
        assertThat(described.getOutputAsDouble("max")).containsExactly(4.0);
    }

    @Test
    void binaryModeCarriesIntegersBooleansAndStrings() throws Exception {
        int[] ints = new Random(4).ints(777).toArray();
        InferInput x = new InferInput("x", new long[] {ints.length}, DataType.INT32);
        x.setData(ints, true);
        InferResult sorted =
                client.infer("sort", List.of(x), List.of(new InferRequestedOutput("sorted", true)));
        int[] expected = ints.clone();
        java.util.Arrays.sort(expected);
        assertThat(sorted.getOutputAsInt("sorted")).containsExactly(expected);

        boolean[] flags = {true, false, false, true};
        InferInput bools = new InferInput("x", new long[] {2, 2}, DataType.BOOL);
        bools.setData(flags, true);
        InferResult same =
                client.infer(
                        "identity", List.of(bools), List.of(new InferRequestedOutput("y", true)));
        assertThat(same.getOutputAsBool("y")).containsExactly(flags);
        assertThat(same.getResponse().getOutputByName("y").getShape()).containsExactly(2, 2);
    }

    @Test
    void serverErrorsReachTheClientAsItsException() throws Exception {
        InferInput a = new InferInput("a", new long[] {2, 3}, DataType.FP64);
        a.setData(new double[] {1, 2, 3, 4, 5, 6}, false);
        InferInput b = new InferInput("b", new long[] {2, 3}, DataType.FP64);
        b.setData(new double[] {1, 2, 3, 4, 5, 6}, false);

        assertThatThrownBy(() ->
                        client.infer(
                                "matmul",
                                List.of(a, b),
                                List.of(new InferRequestedOutput("c", false))))
                .isInstanceOf(InferenceException.class)
                .cause()
                .hasMessageContaining("'b'");
    }
}
