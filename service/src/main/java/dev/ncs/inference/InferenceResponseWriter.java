package dev.ncs.inference;

import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelOutput;
import dev.ncs.kernel.KernelResult;
import dev.ncs.kernel.OutputCheck;
import dev.ncs.kernel.OutputRefusedException;
import dev.ncs.nativelib.DataType;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.ServletResponseWrapper;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.StreamWriteFeature;
import tools.jackson.core.exc.JacksonIOException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes an inference response straight from the outputs' native memory, as it is produced: JSON
 * outputs are streamed element by element (no Java array of a whole tensor, no whole JSON text);
 * with the binary tensor extension, the JSON header comes first and the binary outputs follow in
 * its order, copied from native memory to the socket. Only the fields Triton's clients know are
 * written, so strict clients parse the response.
 *
 * <p>The JSON outputs' size is bounded before the kernel runs ({@link #jsonLimit}), and a client
 * that takes its response too slowly is dropped ({@link Downloads}).
 */
@Component
class InferenceResponseWriter {

    /**
     * Bytes per write from native memory: bounded, in case a stream copies through a heap array.
     */
    private static final int SLICE = 1 << 20;

    /**
     * A binary response's JSON header up to this size is generated once, into a buffer; a larger
     * one twice, first only to count its bytes (for {@code Inference-Header-Content-Length}), then
     * to the socket.
     */
    static final int HEADER_BUFFER = 64 * 1024;

    private final JsonMapper json;
    private final Downloads downloads;
    private final long maxJsonResponseSize;

    InferenceResponseWriter(JsonMapper json, Downloads downloads, LimitsProperties limits) {
        // Closing the generator neither closes nor flushes the servlet's stream: a response that
        // fits the
        // server's buffer then goes out in one write, with its Content-Length, when the request
        // completes
        // (a flush would commit it early and send it chunked, in two writes); a larger one streams
        // as the
        // buffer fills.
        this.json =
                json.rebuild()
                        .disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
                        .disable(StreamWriteFeature.FLUSH_PASSED_TO_STREAM)
                        .build();
        this.downloads = downloads;
        this.maxJsonResponseSize = limits.maxJsonResponseSize().toBytes();
    }

    /**
     * The check that refuses, once the call is prepared and before it runs, outputs asked for as
     * JSON whose text could exceed {@code ncs.limits.max-json-response-size}: an upper bound per
     * element, so a request that passes never meets the limit while its response is written.
     */
    OutputCheck jsonLimit(JsonInferenceCodec.Decoded request) {
        return outputs -> {
            long total = 0;
            StringBuilder which = new StringBuilder();
            for (OutputCheck.PreparedOutput output : outputs) {
                boolean asJson =
                        request.outputs().stream()
                                .anyMatch(o -> o.name().equals(output.name()) && !o.binary());
                if (!asJson) {
                    continue;
                }
                long bound = maxJsonBytes(output);
                total = saturatedAdd(total, bound);
                which.append(which.isEmpty() ? "" : ", ")
                        .append('\'')
                        .append(output.name())
                        .append("' (")
                        .append(output.dataType())
                        .append(' ')
                        .append(Arrays.toString(output.shape()))
                        .append(") up to ")
                        .append(bound)
                        .append(" bytes");
            }
            if (total > maxJsonResponseSize) {
                throw new OutputRefusedException(
                        "the outputs asked for as JSON could take "
                                + total
                                + " bytes of JSON text: "
                                + which
                                + "; the limit (ncs.limits.max-json-response-size) is "
                                + maxJsonResponseSize
                                + " bytes: ask for large outputs in binary (\"parameters\": "
                                + "{\"binary_data\": true} on the output, or \"binary_data_output\": true in the request's "
                                + "parameters) or send a smaller request");
            }
        };
    }

    /**
     * The most bytes of JSON an output's data can take: the longest text of each element, and a
     * comma.
     */
    static long maxJsonBytes(OutputCheck.PreparedOutput output) {
        long elements = output.elementCount();
        if (output.dataType() == DataType.BYTES) {
            // Each byte at most 6 characters (a control byte is escaped in 6; an invalid one,
            // U+FFFD, takes 3),
            // plus two quotes and a comma per element; the 4-byte lengths are not written.
            long text = saturatedMultiply(Math.max(0, output.byteSize() - 4 * elements), 6);
            return saturatedAdd(text, saturatedMultiply(elements, 3));
        }
        return saturatedMultiply(elements, maxElementChars(output.dataType()) + 1);
    }

    /**
     * The longest JSON text of one element (non-finite floats are the strings "-Infinity" and
     * "NaN").
     */
    private static int maxElementChars(DataType type) {
        return switch (type) {
            case BOOL -> "false".length();
            case INT8 -> "-128".length();
            case UINT8 -> "255".length();
            case INT16 -> "-32768".length();
            case UINT16 -> "65535".length();
            case INT32 -> "-2147483648".length();
            case UINT32 -> "4294967295".length();
            case INT64 -> "-9223372036854775808".length();
            case UINT64 -> "18446744073709551615".length();
            case FP16, BF16, FP32 -> "-1.17549435E-38".length(); // sign, 9 digits, point, exponent
            case FP64 -> "-2.2250738585072014E-308".length(); // sign, 17 digits, point, exponent
            case BYTES -> throw new IllegalArgumentException("BYTES have no fixed element size");
        };
    }

    private static long saturatedMultiply(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        long low = a * b;
        return high != 0 || low < 0 ? Long.MAX_VALUE : low;
    }

    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * Writes the response. A client that takes it too slowly, or goes away, has its response
     * abandoned here (connection closed, counted); the caller frees the outputs either way.
     */
    void write(
            KernelMetadata kernel,
            JsonInferenceCodec.Decoded request,
            KernelResult result,
            HttpServletRequest httpRequest,
            HttpServletResponse response) {
        List<KernelOutput> outputs = new ArrayList<>();
        List<Boolean> inBinary = new ArrayList<>();
        List<MemorySegment> binary = new ArrayList<>();
        for (JsonInferenceCodec.RequestedOutput wanted : request.outputs()) {
            KernelOutput output =
                    result.outputs().stream()
                            .filter(o -> o.name().equals(wanted.name()))
                            .findFirst()
                            .orElseThrow();
            outputs.add(output);
            inBinary.add(wanted.binary());
            if (wanted.binary()) {
                binary.add(output.data());
            }
        }
        response.setStatus(HttpServletResponse.SC_OK);
        Header header = out -> writeHeader(out, kernel, request, outputs, inBinary);
        Downloads.Download download = null;
        try {
            if (binary.isEmpty()) {
                response.setContentType(MediaType.APPLICATION_JSON_VALUE);
                download = downloads.start();
                header.writeTo(new PacedStream(response.getOutputStream(), download));
                return;
            }
            HeaderBuffer first = new HeaderBuffer();
            header.writeTo(first);
            long headerSize = first.count;
            response.setContentType(MediaType.APPLICATION_OCTET_STREAM_VALUE);
            response.setHeader(InferenceService.BINARY_HEADER, Long.toString(headerSize));
            response.setContentLengthLong(
                    headerSize + binary.stream().mapToLong(MemorySegment::byteSize).sum());
            ServletOutputStream out = unwrapped(response).getOutputStream();
            download = downloads.start();
            PacedStream paced = new PacedStream(out, download);
            if (first.bytes != null) {
                paced.write(first.bytes, 0, (int) headerSize);
            } else {
                header.writeTo(paced);
                if (download.written() != headerSize) {
                    throw new IllegalStateException(
                            "the JSON header took "
                                    + download.written()
                                    + " bytes written, "
                                    + headerSize
                                    + " counted");
                }
            }
            for (MemorySegment data : binary) {
                for (long offset = 0; offset < data.byteSize(); offset += SLICE) {
                    long length = Math.min(SLICE, data.byteSize() - offset);
                    out.write(data.asSlice(offset, length).asByteBuffer());
                    download.wrote(length);
                }
            }
        } catch (JacksonIOException e) {
            downloads.abandon(httpRequest, e.getCause(), download != null ? download.written() : 0);
        } catch (IOException e) {
            downloads.abandon(httpRequest, e, download != null ? download.written() : 0);
        }
    }

    /**
     * Writes the JSON part of one response to a stream; run once or twice (to count, then to send).
     */
    @FunctionalInterface
    private interface Header {
        void writeTo(OutputStream out);
    }

    /**
     * Keeps what is written up to {@link #HEADER_BUFFER} bytes; past that drops it all and only
     * counts. Never holds more than that, whatever the header's size.
     */
    private static final class HeaderBuffer extends OutputStream {
        private byte[] bytes = new byte[256];
        private long count;

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            if (bytes != null && count + len <= HEADER_BUFFER) {
                if (count + len > bytes.length) {
                    bytes =
                            Arrays.copyOf(
                                    bytes,
                                    (int)
                                            Math.min(
                                                    HEADER_BUFFER,
                                                    Math.max(2 * bytes.length, count + len)));
                }
                System.arraycopy(b, off, bytes, (int) count, len);
            } else {
                bytes = null;
            }
            count += len;
        }
    }

    /**
     * The response's stream, with each write's progress given to its {@link Downloads.Download}.
     */
    private static final class PacedStream extends FilterOutputStream {
        private final Downloads.Download download;

        PacedStream(OutputStream out, Downloads.Download download) {
            super(out);
            this.download = download;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            download.wrote(1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            download.wrote(len);
        }
    }

    /**
     * The server's own response. Spring MVC wraps it in a stream that copies a ByteBuffer write
     * through a heap array; the server's stream writes a direct buffer straight into its socket
     * buffer.
     */
    private static ServletResponse unwrapped(ServletResponse response) {
        while (response instanceof ServletResponseWrapper wrapper) {
            response = wrapper.getResponse();
        }
        return response;
    }

    private void writeHeader(
            OutputStream out,
            KernelMetadata kernel,
            JsonInferenceCodec.Decoded request,
            List<KernelOutput> outputs,
            List<Boolean> inBinary) {
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
            case UINT64 ->
                    g.writeNumber(
                            new BigInteger(Long.toUnsignedString(s.get(LittleEndian.I64, i * 8))));
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
