package dev.ncs.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The request checks made before any native memory is taken: no Spring, no libncs. */
class RequestValidatorTests {

    private static final KernelMetadata MATMUL =
            new KernelMetadata(
                    "matmul",
                    "c = a b",
                    "builtin",
                    true,
                    List.of(spec("a", List.of(-1L, -1L)), spec("b", List.of(-1L, -1L))),
                    List.of(spec("c", List.of(-1L, -1L))),
                    List.of());
    private static final KernelMetadata DESCRIBE =
            new KernelMetadata(
                    "describe",
                    "statistics",
                    "builtin",
                    true,
                    List.of(spec("x", null)),
                    List.of(spec("count", List.of(1L))),
                    List.of(new ParameterSpec("percentiles", "string", "", "which percentiles")));

    @Test
    void mapsEachRequestInputToItsDescriptorSlotWhateverTheOrder() {
        int[] slots =
                RequestValidator.descriptorSlots(
                        MATMUL,
                        request(
                                "matmul",
                                Map.of(),
                                input("b", DataType.FP64, 3, 2),
                                input("a", DataType.FP32, 2, 3)));

        assertThat(slots).containsExactly(1, 0);
    }

    @Test
    void anyRankAcceptsEveryShapeIncludingScalarsAndEmptyDims() {
        assertThat(
                        RequestValidator.descriptorSlots(
                                DESCRIBE,
                                request(
                                        "describe",
                                        Map.of("percentiles", "50"),
                                        input("x", DataType.FP64))))
                .containsExactly(0);
        assertThat(
                        RequestValidator.descriptorSlots(
                                DESCRIBE,
                                request(
                                        "describe",
                                        Map.of(),
                                        input("x", DataType.FP32, 0, 7, 1, 1))))
                .containsExactly(0);
    }

    @Test
    void refusesAnUnknownInputNamingTheKernelsInputs() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request(
                                        "matmul",
                                        Map.of(),
                                        input("a", DataType.FP64, 1, 1),
                                        input("B", DataType.FP64, 1, 1))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("kernel 'matmul' has no input 'B'; its inputs are: a, b");
    }

    @Test
    void refusesAnInputGivenTwice() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request(
                                        "matmul",
                                        Map.of(),
                                        input("a", DataType.FP64, 1, 1),
                                        input("a", DataType.FP64, 1, 1))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("input 'a' is given more than once");
    }

    @Test
    void refusesAMissingInputSayingWhatTheRequestHad() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request("matmul", Map.of(), input("a", DataType.FP64, 1, 1))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("kernel 'matmul' needs input 'b' (doc of b); the request has only a");
        assertThatThrownBy(
                        () -> RequestValidator.descriptorSlots(MATMUL, request("matmul", Map.of())))
                .hasMessageEndingWith("the request has no inputs");
    }

    @Test
    void refusesADatatypeTheKernelDoesNotTake() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request(
                                        "matmul",
                                        Map.of(),
                                        input("a", DataType.INT8, 1, 1),
                                        input("b", DataType.FP64, 1, 1))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("input 'a' of kernel 'matmul' must be FP64 or FP32, not INT8");
    }

    @Test
    void refusesAWrongRank() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request(
                                        "matmul",
                                        Map.of(),
                                        input("a", DataType.FP64, 4),
                                        input("b", DataType.FP64, 1, 1))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage(
                        "input 'a' of kernel 'matmul' must have shape [-1, -1] (-1: any size), got [4]");
    }

    @Test
    void refusesAFixedDimensionOfAnotherSize() {
        KernelMetadata fixed =
                new KernelMetadata(
                        "pairs",
                        "doc",
                        "test",
                        true,
                        List.of(spec("x", List.of(-1L, 2L))),
                        List.of(),
                        List.of());
        assertThat(
                        RequestValidator.descriptorSlots(
                                fixed, request("pairs", Map.of(), input("x", DataType.FP64, 5, 2))))
                .containsExactly(0);
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                fixed, request("pairs", Map.of(), input("x", DataType.FP64, 5, 3))))
                .hasMessageContaining("must have shape [-1, 2]");
    }

    @Test
    void refusesAnUnknownParameterListingTheKnownOnes() {
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                DESCRIBE,
                                request(
                                        "describe",
                                        Map.of("percentile", "5"),
                                        input("x", DataType.FP64, 3))))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage(
                        "kernel 'describe' has no parameter 'percentile'; its parameters are: percentiles");
        assertThatThrownBy(() ->
                        RequestValidator.descriptorSlots(
                                MATMUL,
                                request(
                                        "matmul",
                                        Map.of("alpha", "2"),
                                        input("a", DataType.FP64, 1, 1),
                                        input("b", DataType.FP64, 1, 1))))
                .hasMessage("kernel 'matmul' has no parameter 'alpha'; it takes none");
    }

    private static TensorSpec spec(String name, List<Long> shape) {
        return new TensorSpec(name, "doc of " + name, List.of(DataType.FP64, DataType.FP32), shape);
    }

    private static KernelRequest request(
            String kernel, Map<String, String> parameters, KernelInput... inputs) {
        return new KernelRequest(kernel, null, List.of(inputs), parameters);
    }

    private static KernelInput input(String name, DataType type, long... shape) {
        return new KernelInput(
                name,
                type,
                shape,
                new TensorSource() {
                    @Override
                    public boolean inMemory() {
                        return true;
                    }

                    @Override
                    public long byteSize() {
                        return 0;
                    }

                    @Override
                    public void writeTo(MemorySegment target) {
                        throw new AssertionError("validation reads no data");
                    }
                });
    }
}
