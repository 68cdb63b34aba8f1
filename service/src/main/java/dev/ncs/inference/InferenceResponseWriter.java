package dev.ncs.inference;

import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelOutput;
import dev.ncs.kernel.KernelResult;
import dev.ncs.nativelib.DataType;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.ServletResponseWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.StreamWriteFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes an inference response straight from the outputs' native memory. JSON outputs are streamed
 * element by element (no Java array of a whole tensor); with the binary tensor extension, the JSON
 * header comes first and the binary outputs follow in its order, copied from native memory to the
 * socket. Only the fields Triton's clients know are written, so strict clients parse the response.
 */
@Component
class InferenceResponseWriter {

    /** Bytes per write from native memory: bounded, in case a stream copies through a heap array. */
    private static final int SLICE = 1 << 20;

    private final JsonMapper json;

    InferenceResponseWriter(JsonMapper json) {
        // Closing the generator neither closes nor flushes the servlet's stream: a response that fits the
        // server's buffer then goes out in one write, with its Content-Length, when the request completes
        // (a flush would commit it early and send it chunked, in two writes); a larger one streams as the
        // buffer fills.
        this.json = json.rebuild().disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
                .disable(StreamWriteFeature.FLUSH_PASSED_TO_STREAM).build();
    }

    void write(KernelMetadata kernel, JsonInferenceCodec.Decoded request, KernelResult result,
            HttpServletResponse response) throws IOException {
        List<KernelOutput> outputs = new ArrayList<>();
        List<Boolean> inBinary = new ArrayList<>();
        List<MemorySegment> binary = new ArrayList<>();
        for (JsonInferenceCodec.RequestedOutput wanted : request.outputs()) {
            KernelOutput output = result.outputs().stream().filter(o -> o.name().equals(wanted.name())).findFirst()
                    .orElseThrow();
            outputs.add(output);
            inBinary.add(wanted.binary());
            if (wanted.binary()) {
                binary.add(output.data());
            }
        }
        response.setStatus(HttpServletResponse.SC_OK);
        if (binary.isEmpty()) {
            response.setContentType(MediaType.APPLICATION_JSON_VALUE);
            writeHeader(response.getOutputStream(), kernel, request, outputs, inBinary);
            return;
        }
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        writeHeader(header, kernel, request, outputs, inBinary);
        response.setContentType(MediaType.APPLICATION_OCTET_STREAM_VALUE);
        response.setHeader(InferenceService.BINARY_HEADER, Integer.toString(header.size()));
        response.setContentLengthLong(header.size() + binary.stream().mapToLong(MemorySegment::byteSize).sum());
        ServletOutputStream out = unwrapped(response).getOutputStream();
        header.writeTo(out);
        for (MemorySegment data : binary) {
            for (long offset = 0; offset < data.byteSize(); offset += SLICE) {
                out.write(data.asSlice(offset, Math.min(SLICE, data.byteSize() - offset)).asByteBuffer());
            }
        }
    }

    /**
     * The server's own response. Spring MVC wraps it in a stream that copies a ByteBuffer write through
     * a heap array; the server's stream writes a direct buffer straight into its socket buffer.
     */
    private static ServletResponse unwrapped(ServletResponse response) {
        while (response instanceof ServletResponseWrapper wrapper) {
            response = wrapper.getResponse();
        }
        return response;
    }

    private void writeHeader(OutputStream out, KernelMetadata kernel, JsonInferenceCodec.Decoded request,
            List<KernelOutput> outputs, List<Boolean> inBinary) {
        try (JsonGenerator g = json.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringProperty("model_name", kernel.name());
            g.writeStringProperty("model_version", KernelMetadata.VERSION);
            if (request.id() != null) {
                g.writeStringProperty("id", request.id());
            }
            g.writeName("outputs");
            g.writeStartArray();
            for (int i = 0; i < outputs.size(); i++) {
                KernelOutput output = outputs.get(i);
                g.writeStartObject();
                g.writeStringProperty("name", output.name());
                g.writeStringProperty("datatype", output.dataType().name());
                g.writeName("shape");
                g.writeArray(output.shape(), 0, output.shape().length);
                if (inBinary.get(i)) {
                    g.writeName("parameters");
                    g.writeStartObject();
                    g.writeNumberProperty("binary_data_size", output.data().byteSize());
                    g.writeEndObject();
                } else {
                    g.writeName("data");
                    writeData(g, output);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
    }

    /** One output as a flat JSON array, read element by element from native memory. */
    private static void writeData(JsonGenerator g, KernelOutput output) {
        MemorySegment s = output.data();
        long n = output.elementCount();
        DataType type = output.dataType();
        g.writeStartArray();
        if (type == DataType.BYTES) {
            BytesEncoding.forEachString(s, n, g::writeString);
        } else {
            for (long i = 0; i < n; i++) {
                writeElement(g, type, s, i);
            }
        }
        g.writeEndArray();
    }

    private static void writeElement(JsonGenerator g, DataType type, MemorySegment s, long i) {
        switch (type) {
            case BOOL -> g.writeBoolean(s.get(ValueLayout.JAVA_BYTE, i) != 0);
            case INT8 -> g.writeNumber(s.get(ValueLayout.JAVA_BYTE, i));
            case UINT8 -> g.writeNumber(Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, i)));
            case INT16 -> g.writeNumber(s.get(LittleEndian.I16, i * 2));
            case UINT16 -> g.writeNumber(Short.toUnsignedInt(s.get(LittleEndian.I16, i * 2)));
            case INT32 -> g.writeNumber(s.get(LittleEndian.I32, i * 4));
            case UINT32 -> g.writeNumber(Integer.toUnsignedLong(s.get(LittleEndian.I32, i * 4)));
            case INT64 -> g.writeNumber(s.get(LittleEndian.I64, i * 8));
            case UINT64 -> g.writeNumber(new BigInteger(Long.toUnsignedString(s.get(LittleEndian.I64, i * 8))));
            case FP16 -> writeFloat(g, Float.float16ToFloat(s.get(LittleEndian.I16, i * 2)));
            case BF16 -> writeFloat(g, Float.intBitsToFloat(s.get(LittleEndian.I16, i * 2) << 16));
            case FP32 -> writeFloat(g, s.get(LittleEndian.F32, i * 4));
            case FP64 -> writeDouble(g, s.get(LittleEndian.F64, i * 8));
            case BYTES -> throw new IllegalStateException("BYTES are written as strings");
        }
    }

    /** JSON has no NaN or infinity: they are written as the strings Python and numpy read back. */
    private static void writeFloat(JsonGenerator g, float v) {
        if (Float.isFinite(v)) {
            g.writeNumber(v);
        } else {
            g.writeString(nonFinite(v));
        }
    }

    private static void writeDouble(JsonGenerator g, double v) {
        if (Double.isFinite(v)) {
            g.writeNumber(v);
        } else {
            g.writeString(nonFinite(v));
        }
    }

    private static String nonFinite(double v) {
        return Double.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    }
}
