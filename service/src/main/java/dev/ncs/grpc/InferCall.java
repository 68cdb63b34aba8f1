package dev.ncs.grpc;

import com.google.protobuf.ByteString;
import dev.ncs.kernel.TensorSource;
import dev.ncs.nativelib.DataType;
import inference.GrpcService.ModelInferRequest;

/**
 * A {@code ModelInferRequest} as the server holds it: the message's small fields on the heap
 * ({@link #header()}, with no {@code raw_input_contents}), and each raw tensor as a source the
 * kernel layer reads into native memory. Close it when the call is done (it may hold the
 * transport's buffers).
 */
interface InferCall extends AutoCloseable {

    /** The message without its raw tensors. */
    ModelInferRequest header();

    /** How many {@code raw_input_contents} the message has. */
    int rawCount();

    /** The size in bytes of raw tensor {@code index}. */
    long rawSize(int index);

    /**
     * The source of raw tensor {@code index} for input {@code name}; sources are read in index
     * order, once. Once written, the tensor's BYTES framing and BOOL values are checked as HTTP's
     * binary tensors are.
     */
    TensorSource raw(int index, String name, DataType type, long count);

    @Override
    void close();

    /** A message parsed whole onto the heap (the streaming RPC's requests). */
    static InferCall of(ModelInferRequest request) {
        return new InferCall() {
            @Override
            public ModelInferRequest header() {
                return request.toBuilder().clearRawInputContents().build();
            }

            @Override
            public int rawCount() {
                return request.getRawInputContentsCount();
            }

            @Override
            public long rawSize(int index) {
                return request.getRawInputContents(index).size();
            }

            @Override
            public TensorSource raw(int index, String name, DataType type, long count) {
                ByteString bytes = request.getRawInputContents(index);
                return new RawTensorSource(bytes, name, type, count);
            }

            @Override
            public void close() {}
        };
    }
}
