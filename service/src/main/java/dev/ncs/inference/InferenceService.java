package dev.ncs.inference;

import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelResult;
import dev.ncs.kernel.KernelService;
import dev.ncs.kernel.Upload;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.springframework.http.HttpHeaders;
import org.springframework.stereotype.Service;

/**
 * The inference endpoint's work: open the body within limits, decode it (JSON, with binary tensors
 * left in the body for the kernel service to stream into native memory), run the kernel (once its
 * outputs are known to fit the response's limits), and write the response while the outputs are still
 * in native memory.
 */
@Service
class InferenceService {

    static final String BINARY_HEADER = "Inference-Header-Content-Length";

    private final KernelCatalog catalog;
    private final KernelService kernels;
    private final JsonInferenceCodec codec;
    private final InferenceResponseWriter writer;
    private final LimitsProperties limits;
    private final ClientConnections connections;
    private final JsonInFlight jsonInFlight;

    InferenceService(KernelCatalog catalog, KernelService kernels, JsonInferenceCodec codec,
            InferenceResponseWriter writer, LimitsProperties limits, ClientConnections connections) {
        this.catalog = catalog;
        this.kernels = kernels;
        this.codec = codec;
        this.writer = writer;
        this.limits = limits;
        this.connections = connections;
        this.jsonInFlight = new JsonInFlight(limits.effectiveMaxJsonInFlight());
    }

    void infer(String model, String version, HttpServletRequest request, HttpServletResponse response)
            throws IOException {
        KernelMetadata kernel = catalog.get(model, version);
        RequestBody body = RequestBody.open(request.getInputStream(), request.getHeader(HttpHeaders.CONTENT_ENCODING),
                request.getContentLengthLong(), limits.maxRequestSize().toBytes(), limits.effectiveMaxJsonSize(),
                limits.uploadPace(), jsonInFlight);
        // The whole body is read before the request is admitted: a slow upload holds what it sent, not a worker
        // slot or a queue place. The JSON text is read before the decoding permit is taken, for the same reason.
        try {
            JsonInferenceCodec.Decoded decoded;
            try {
                JsonInferenceCodec.JsonPart json = codec.readJson(body, request.getHeader(BINARY_HEADER));
                decoded = kernels.decode(() -> codec.decode(kernel, version, json, body));
            } finally {
                body.releaseJson();
            }
            try (Upload upload = kernels.receive(decoded.request());
                    KernelService.Admission admission = kernels.admit(kernel)) {
                Cancellation cancellation = new Cancellation();
                KernelResult result;
                try (ClientConnections.Watch watch = connections.watch(request, cancellation)) {
                    result = kernels.infer(admission, upload.request().withOutputCheck(writer.jsonLimit(decoded)),
                            cancellation);
                }
                try (result) {
                    writer.write(kernel, decoded, result, request, response); // a client too slow to read it is dropped
                }
            }
        } finally {
            body.releaseDecoded();
        }
    }
}
