package dev.ncs.grpc;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import inference.GrpcService.ModelInferRequest;
import io.grpc.Detachable;
import io.grpc.HasByteBuffer;
import io.grpc.MethodDescriptor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Reads {@code ModelInferRequest} without putting its raw tensors on the heap. The transport has
 * the whole message in its (direct) buffers when it is parsed; the parse takes those buffers over
 * ({@link Detachable}), reads every field but {@code raw_input_contents} into a small heap message
 * and notes the raw tensors' sizes. The raw tensors are read later, when the kernel layer receives
 * the request, straight from the transport's buffers into native ones ({@link HasByteBuffer}). A
 * message that is not valid protobuf is not refused here (a parse failure would end the call as
 * UNKNOWN): the call carries the failure, and the RPC answers INVALID_ARGUMENT.
 */
final class InferCallMarshaller implements MethodDescriptor.Marshaller<InferCall> {

    private static final int RAW_INPUT_CONTENTS = ModelInferRequest.RAW_INPUT_CONTENTS_FIELD_NUMBER;

    @Override
    public InputStream stream(InferCall value) {
        throw new UnsupportedOperationException(
                "the server reads ModelInferRequest, it never sends one");
    }

    @Override
    public InferCall parse(InputStream message) {
        InputStream owned =
                message instanceof Detachable detachable ? detachable.detach() : message;
        try {
            if (!owned.markSupported()) {
                try (owned) {
                    return InferCall.of(ModelInferRequest.parseFrom(owned));
                }
            }
            owned.mark(Integer.MAX_VALUE);
            CodedInputStream fields = CodedInputStream.newInstance(owned);
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            CodedOutputStream headerFields = CodedOutputStream.newInstance(header);
            List<Long> rawSizes = new ArrayList<>();
            for (int tag = fields.readTag(); tag != 0; tag = fields.readTag()) {
                if (WireFormat.getTagFieldNumber(tag) == RAW_INPUT_CONTENTS
                        && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                    int size = fields.readRawVarint32();
                    if (size < 0) {
                        throw new InvalidProtocolBufferException(
                                "a raw_input_contents has a negative length");
                    }
                    fields.skipRawBytes(size);
                    rawSizes.add((long) size);
                } else {
                    fields.skipField(tag, headerFields);
                }
            }
            headerFields.flush();
            ModelInferRequest parsed = ModelInferRequest.parseFrom(header.toByteArray());
            owned.reset();
            return new Streamed(
                    parsed, rawSizes.stream().mapToLong(Long::longValue).toArray(), owned);
        } catch (IOException e) {
            closeQuietly(owned);
            return new Malformed(e.getMessage());
        }
    }

    private static void closeQuietly(InputStream stream) {
        try {
            stream.close();
        } catch (IOException ignored) {
            // the buffers are released either way
        }
    }

    /**
     * A message that is not a valid ModelInferRequest: every use of it is refused as invalid input.
     */
    private record Malformed(String problem) implements InferCall {

        @Override
        public ModelInferRequest header() {
            throw new InvalidInputException(
                    "the message is not a valid ModelInferRequest (" + problem + ")");
        }

        @Override
        public int rawCount() {
            return 0;
        }

        @Override
        public long rawSize(int index) {
            throw new IndexOutOfBoundsException(index);
        }

        @Override
        public TensorSource raw(int index, String name, DataType type, long count) {
            throw new IndexOutOfBoundsException(index);
        }

        @Override
        public void close() {}
    }

    /**
     * A message whose raw tensors are still in the transport's buffers, read in order by one
     * cursor.
     */
    private static final class Streamed implements InferCall {

        private final ModelInferRequest header;
        private final long[] rawSizes;
        private final InputStream message;
        private int nextRaw;

        Streamed(ModelInferRequest header, long[] rawSizes, InputStream message) {
            this.header = header;
            this.rawSizes = rawSizes;
            this.message = message;
        }

        @Override
        public ModelInferRequest header() {
            return header;
        }

        @Override
        public int rawCount() {
            return rawSizes.length;
        }

        @Override
        public long rawSize(int index) {
            return rawSizes[index];
        }

        @Override
        public TensorSource raw(int index, String name, DataType type, long count) {
            return new TensorSource() {
                @Override
                public boolean inMemory() {
                    return false;
                }

                @Override
                public long byteSize() {
                    return rawSizes[index];
                }

                @Override
                public void writeTo(MemorySegment target) {
                    writeTo(target, end -> {});
                }

                @Override
                public void writeTo(MemorySegment target, LongConsumer beforeWriting) {
                    copyRaw(index, target, beforeWriting);
                    RawTensors.check(name, type, count, target);
                }
            };
        }

        /**
         * Skips to raw tensor {@code index} (the next one: they are read in order) and copies it
         * into {@code target}.
         */
        private void copyRaw(int index, MemorySegment target, LongConsumer beforeWriting) {
            if (index != nextRaw) {
                throw new IllegalStateException(
                        "raw tensor " + index + " read out of order (next is " + nextRaw + ")");
            }
            nextRaw++;
            try {
                long size = skipToRaw();
                if (size != target.byteSize()) {
                    throw new IllegalStateException(
                            "raw tensor "
                                    + index
                                    + " is "
                                    + size
                                    + " bytes, not "
                                    + target.byteSize());
                }
                long done = 0;
                while (done < size) {
                    ByteBuffer next =
                            message instanceof HasByteBuffer buffers
                                            && buffers.byteBufferSupported()
                                    ? buffers.getByteBuffer()
                                    : null;
                    long n;
                    if (next != null) {
                        n = Math.min(next.remaining(), size - done);
                        beforeWriting.accept(done + n);
                        MemorySegment.copy(MemorySegment.ofBuffer(next), 0, target, done, n);
                        skipFully(n);
                    } else {
                        byte[] chunk = new byte[(int) Math.min(1 << 16, size - done)];
                        n = readFully(chunk);
                        beforeWriting.accept(done + n);
                        MemorySegment.copy(MemorySegment.ofArray(chunk), 0, target, done, n);
                    }
                    done += n;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /**
         * Reads tags up to the next raw_input_contents (skipping other fields) and returns its
         * length.
         */
        private long skipToRaw() throws IOException {
            while (true) {
                int tag = (int) readVarint();
                int wireType = WireFormat.getTagWireType(tag);
                if (WireFormat.getTagFieldNumber(tag) == RAW_INPUT_CONTENTS
                        && wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                    return readVarint();
                }
                switch (wireType) {
                    case WireFormat.WIRETYPE_VARINT -> readVarint();
                    case WireFormat.WIRETYPE_FIXED64 -> skipFully(8);
                    case WireFormat.WIRETYPE_LENGTH_DELIMITED -> skipFully(readVarint());
                    case WireFormat.WIRETYPE_FIXED32 -> skipFully(4);
                    default ->
                            throw new IOException(
                                    "unexpected wire type " + wireType); // checked by the parse
                }
            }
        }

        private long readVarint() throws IOException {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                int b = message.read();
                if (b < 0) {
                    throw new IOException("the message ended inside a varint");
                }
                value |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
            }
            throw new IOException("a varint longer than 10 bytes");
        }

        private void skipFully(long n) throws IOException {
            long left = n;
            while (left > 0) {
                long skipped = message.skip(left);
                if (skipped <= 0) {
                    throw new IOException("the message ended " + left + " bytes early");
                }
                left -= skipped;
            }
        }

        private int readFully(byte[] chunk) throws IOException {
            int read = message.readNBytes(chunk, 0, chunk.length);
            if (read < chunk.length) {
                throw new IOException(
                        "the message ended " + (chunk.length - read) + " bytes early");
            }
            return read;
        }

        @Override
        public void close() {
            closeQuietly(message);
        }
    }
}
