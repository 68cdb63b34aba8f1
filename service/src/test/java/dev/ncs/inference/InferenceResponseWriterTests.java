package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelOutput;
import dev.ncs.kernel.KernelRequest;
import dev.ncs.kernel.KernelResult;
import dev.ncs.kernel.OutputCheck;
import dev.ncs.kernel.TensorSpec;
import dev.ncs.nativelib.DataType;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;
import org.springframework.util.unit.DataSize;
import tools.jackson.databind.json.JsonMapper;

/**
 * The bound on an output's JSON text, checked against what the writer really writes for each
 * datatype's longest values: the bound must never be below it, or a response that passed the check
 * could break the limit.
 */
class InferenceResponseWriterTests {

    private static final int N = 5;

    private final LimitsProperties limits =
            new LimitsProperties(
                    DataSize.ofGigabytes(1),
                    null,
                    32,
                    1 << 20,
                    1000,
                    256,
                    64,
                    64,
                    1L << 30,
                    DataSize.ofKilobytes(64),
                    Duration.ofSeconds(10),
                    null,
                    DataSize.ofMegabytes(64),
                    DataSize.ofMegabytes(1),
                    Duration.ofSeconds(10));
    private final InferenceResponseWriter writer =
            new InferenceResponseWriter(
                    JsonMapper.builder().build(),
                    new Downloads(limits, new SimpleMeterRegistry()),
                    limits);

    @ParameterizedTest
    @EnumSource(DataType.class)
    void theBoundCoversTheLongestTextOfEveryDatatype(DataType type) throws Exception {
        MemorySegment data = longest(type);
        long[] shape = {N};
        String text = writeAsJson(new KernelOutput("y", type, shape, data));

        int start = text.indexOf("\"data\":[") + "\"data\":[".length();
        String array =
                text.substring(start, text.indexOf(']', start)); // no element's text holds a ']'
        long written =
                array.getBytes(StandardCharsets.UTF_8).length
                        + 1; // the last element's comma is missing
        long bound =
                InferenceResponseWriter.maxJsonBytes(
                        new OutputCheck.PreparedOutput("y", type, shape, data.byteSize()));
        assertThat(written).as(type + " written as " + array).isLessThanOrEqualTo(bound);
        if (!type.isFloatingPoint() && type != DataType.BYTES || type == DataType.FP64) {
            assertThat(written)
                    .as("the bound is the longest element's text, not more")
                    .isEqualTo(bound);
        }
    }

    /**
     * N elements, each the longest text of its datatype (BYTES: control bytes, each escaped in 6
     * characters; the 16- and 32-bit floats: long forms, if not the longest, which the bound allows
     * for with 9 digits).
     */
    private static MemorySegment longest(DataType type) {
        MemorySegment s = Arena.ofAuto().allocate(type == DataType.BYTES ? N * 7L : 8L * N);
        ValueLayout.OfShort i16 =
                ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfInt i32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfLong i64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < N; i++) {
            switch (type) {
                case BOOL -> s.set(ValueLayout.JAVA_BYTE, i, (byte) 0);
                case INT8 -> s.set(ValueLayout.JAVA_BYTE, i, Byte.MIN_VALUE);
                case UINT8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) -1);
                case INT16 -> s.set(i16, 2L * i, Short.MIN_VALUE);
                case UINT16 -> s.set(i16, 2L * i, (short) -1);
                case INT32 -> s.set(i32, 4L * i, Integer.MIN_VALUE);
                case UINT32 -> s.set(i32, 4L * i, -1);
                case INT64 -> s.set(i64, 8L * i, Long.MIN_VALUE);
                case UINT64 -> s.set(i64, 8L * i, -1L);
                case FP16 ->
                        s.set(
                                i16,
                                2L * i,
                                Float.floatToFloat16(-6.1035156E-5f)); // the smallest normal
                case BF16 ->
                        s.set(i16, 2L * i, (short) (Float.floatToIntBits(-1.1754944E-38f) >>> 16));
                case FP32 -> s.set(i32, 4L * i, Float.floatToIntBits(-1.17549435E-38f));
                case FP64 -> s.set(i64, 8L * i, Double.doubleToLongBits(-Double.MIN_NORMAL));
                case BYTES -> {
                    s.set(i32, 7L * i, 3);
                    s.asSlice(7L * i + 4, 3).fill((byte) 1);
                }
            }
        }
        return type == DataType.BYTES ? s : s.asSlice(0, (long) N * type.elementSize());
    }

    private String writeAsJson(KernelOutput output) {
        KernelMetadata kernel =
                new KernelMetadata(
                        "fake",
                        "a fake kernel",
                        "test",
                        true,
                        List.of(),
                        List.of(new TensorSpec("y", "any", List.of(output.dataType()), null)),
                        List.of());
        JsonInferenceCodec.Decoded request =
                new JsonInferenceCodec.Decoded(
                        new KernelRequest("fake", null, List.of(), Map.of()),
                        null,
                        List.of(new JsonInferenceCodec.RequestedOutput("y", false)));
        MockHttpServletResponse response = new MockHttpServletResponse();
        writer.write(
                kernel,
                request,
                new Outputs(List.of(output)),
                new MockHttpServletRequest(),
                response);
        return new String(response.getContentAsByteArray(), StandardCharsets.UTF_8);
    }

    private record Outputs(List<KernelOutput> outputs) implements KernelResult {
        @Override
        public void close() {}
    }
}
