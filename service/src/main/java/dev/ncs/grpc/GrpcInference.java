package dev.ncs.grpc;

import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelRequest;
import dev.ncs.kernel.KernelResult;
import dev.ncs.kernel.KernelService;
import dev.ncs.kernel.Protocol;
import dev.ncs.kernel.Upload;
import inference.GrpcService.ModelInferRequest;
import java.time.Duration;
import java.util.function.Consumer;
import org.springframework.stereotype.Service;

/**
 * One gRPC inference, through the kernel layer exactly as over HTTP: decode the message, receive
 * its raw tensors into native memory (from the transport's buffers, see {@link
 * InferCallMarshaller}), take a place in the queue, run the kernel with the call's cancellation,
 * and write the response from the outputs while they are still in native memory.
 */
@Service
class GrpcInference {

    private final KernelCatalog catalog;
    private final KernelService kernels;
    private final GrpcInferenceCodec codec;

    GrpcInference(KernelCatalog catalog, KernelService kernels, GrpcInferenceCodec codec) {
        this.catalog = catalog;
        this.kernels = kernels;
        this.codec = codec;
    }

    /**
     * Runs {@code request}. {@code callDeadline} is the time left until the call's gRPC deadline
     * (null without one); the kernel is cancelled at it or at the {@code timeout} parameter,
     * whichever is sooner. The answer is handed to {@code send} while the outputs are still open,
     * on this thread.
     */
    void infer(
            InferCall call,
            Duration callDeadline,
            Cancellation cancellation,
            Consumer<InferAnswer> send) {
        ModelInferRequest request = call.header();
        KernelMetadata kernel =
                catalog.get(request.getModelName(), GrpcInferenceCodec.version(request));
        GrpcInferenceCodec.Decoded decoded = kernels.decode(() -> codec.decode(kernel, call));
        KernelRequest kernelRequest = decoded.request();
        try (Upload upload = kernels.receive(kernelRequest);
                KernelService.Admission admission = kernels.admit(kernel, Protocol.GRPC)) {
            KernelRequest received = upload.request();
            Duration timeout = sooner(received.timeout(), callDeadline);
            KernelRequest run =
                    new KernelRequest(
                            received.kernel(),
                            received.version(),
                            received.inputs(),
                            received.parameters(),
                            timeout,
                            codec.responseLimit(decoded));
            try (KernelResult result = kernels.infer(admission, run, cancellation)) {
                send.accept(codec.encode(kernel, request, decoded, result.outputs()));
            }
        }
    }

    private static Duration sooner(Duration a, Duration b) {
        if (a == null) {
            return b;
        }
        return b == null || a.compareTo(b) <= 0 ? a : b;
    }
}
