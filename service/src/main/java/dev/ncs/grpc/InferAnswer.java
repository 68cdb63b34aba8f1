package dev.ncs.grpc;

import com.google.protobuf.ByteString;
import inference.GrpcService.ModelInferResponse;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A {@code ModelInferResponse} whose {@code raw_output_contents} are still the outputs' native
 * memory: the small fields on the heap ({@code header}, without raw outputs), the tensors as
 * borrowed segments. Valid only while the call's result is open, on the thread that read it: the
 * transport drains it synchronously when the answer is sent.
 */
record InferAnswer(ModelInferResponse header, List<MemorySegment> raw) {

    private static final int RAW_TAG = ModelInferResponse.RAW_OUTPUT_CONTENTS_FIELD_NUMBER << 3 | 2;

    /** Bytes copied from native memory per write: the transport's streams take heap arrays only. */
    private static final int CHUNK = 64 << 10;

    /** The whole response on the heap (a streamed answer is a field of another message). */
    ModelInferResponse toMessage() {
        ModelInferResponse.Builder message = header.toBuilder();
        raw.forEach(segment ->
                message.addRawOutputContents(ByteString.copyFrom(segment.asByteBuffer())));
        return message.build();
    }

    /**
     * Writes answers as the protobuf encoding of the whole response, the raw tensors copied from
     * native memory.
     */
    static final class Marshaller implements MethodDescriptor.Marshaller<InferAnswer> {

        @Override
        public InputStream stream(InferAnswer answer) {
            return new Encoded(answer);
        }

        @Override
        public InferAnswer parse(InputStream stream) {
            throw new UnsupportedOperationException(
                    "the server sends ModelInferResponse, it never reads one");
        }
    }

    /**
     * The encoding as a stream of parts (the header's bytes, then per raw tensor its tag and
     * length, then its bytes), drained straight to the transport ({@link Drainable}) or read like
     * any stream.
     */
    private static final class Encoded extends InputStream implements Drainable, KnownLength {

        private final byte[][] prefixes;
        private final List<MemorySegment> raw;
        private long remaining;
        private int part;
        private long offset;

        Encoded(InferAnswer answer) {
            raw = answer.raw();
            prefixes = new byte[raw.size() + 1][];
            prefixes[0] = answer.header().toByteArray();
            long length = prefixes[0].length;
            for (int i = 0; i < raw.size(); i++) {
                prefixes[i + 1] = prefix(raw.get(i).byteSize());
                length += prefixes[i + 1].length + raw.get(i).byteSize();
            }
            remaining = length;
        }

        private static byte[] prefix(long size) {
            byte[] bytes = new byte[11];
            int n = 0;
            bytes[n++] = (byte) RAW_TAG;
            long value = size;
            while ((value & ~0x7fL) != 0) {
                bytes[n++] = (byte) ((value & 0x7f) | 0x80);
                value >>>= 7;
            }
            bytes[n++] = (byte) value;
            return java.util.Arrays.copyOf(bytes, n);
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int drained = (int) remaining;
            byte[] chunk = new byte[CHUNK];
            int n;
            while ((n = read(chunk, 0, chunk.length)) > 0) {
                target.write(chunk, 0, n);
            }
            return drained;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, remaining);
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) == 1 ? one[0] & 0xff : -1;
        }

        /**
         * Reads from the current part: the header (part 0), then per tensor its tag and length,
         * then its bytes.
         */
        @Override
        public int read(byte[] target, int at, int length) {
            while (part < 2 * raw.size() + 1) {
                byte[] prefix =
                        part == 0 ? prefixes[0] : part % 2 == 1 ? prefixes[(part + 1) / 2] : null;
                MemorySegment tensor = prefix == null ? raw.get(part / 2 - 1) : null;
                long size = prefix != null ? prefix.length : tensor.byteSize();
                if (offset < size && length > 0) {
                    int n = (int) Math.min(length, size - offset);
                    if (prefix != null) {
                        System.arraycopy(prefix, (int) offset, target, at, n);
                    } else {
                        MemorySegment.copy(tensor, ValueLayout.JAVA_BYTE, offset, target, at, n);
                    }
                    offset += n;
                    remaining -= n;
                    return n;
                }
                if (length == 0) {
                    return 0;
                }
                part++;
                offset = 0;
            }
            return length == 0 ? 0 : -1;
        }
    }
}
