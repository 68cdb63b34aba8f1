package dev.ncs.inference;

import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelResult;
import dev.ncs.kernel.KernelService;
import dev.ncs.kernel.Protocol;
import dev.ncs.kernel.Upload;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.springframework.http.HttpHeaders;
import org.springframework.stereotype.Service;

/**
 * The inference endpoint's work: open the body within limits, decode it (JSON, with binary tensors
 * left in the body for the kernel service to stream into native memory), run the kernel (once its
 * outputs are known to fit the response's limits), and write the response while the outputs are
 * still in native memory.
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

    InferenceService(
            KernelCatalog catalog,
            KernelService kernels,
            JsonInferenceCodec codec,
            InferenceResponseWriter writer,
            LimitsProperties limits,
            ClientConnections connections) {
        this.catalog = catalog;
        this.kernels = kernels;
        this.codec = codec;
        this.writer = writer;
        this.limits = limits;
        this.connections = connections;
        this.jsonInFlight = new JsonInFlight(limits.effectiveMaxJsonInFlight());
    }

    void infer(
            String model, String version, HttpServletRequest request, HttpServletResponse response)
            throws IOException {
        KernelMetadata kernel = catalog.get(model, version);
        String headerLength = singleHeader(request, BINARY_HEADER);
        RequestBody body =
                RequestBody.open(
                        request.getInputStream(),
                        contentEncoding(request),
                        request.getContentLengthLong(),
                        limits.maxRequestSize().toBytes(),
                        limits.effectiveMaxJsonSize(),
                        limits.uploadPace(),
                        jsonInFlight);
        // The whole body is read before the request is admitted: a slow upload holds what it sent,
        // not a worker
        // slot or a queue place. The JSON text is read before the decoding permit is taken, for the
        // same reason.
        try {
            JsonInferenceCodec.Decoded decoded;
            try {
                JsonInferenceCodec.JsonPart json = codec.readJson(body, headerLength);
                decoded = kernels.decode(() -> codec.decode(kernel, version, json, body));
            } finally {
                body.releaseJson();
            }
            try (Upload upload = kernels.receive(decoded.request());
                    KernelService.Admission admission = kernels.admit(kernel, Protocol.HTTP)) {
                Cancellation cancellation = new Cancellation();
                KernelResult result;
                try (ClientConnections.Watch watch = connections.watch(request, cancellation)) {
                    result =
                            kernels.infer(
                                    admission,
                                    upload.request().withOutputCheck(writer.jsonLimit(decoded)),
                                    cancellation);
                }
                try (result) {
                    writer.write(
                            kernel, decoded, result, request,
                            response); // a client too slow to read it is dropped
                }
            }
        } finally {
            body.releaseDecoded();
        }
    }

    /**
     * The one value of a header that may appear once. Repeated, even with the same value, it is
     * refused: which one counts would be a guess (Triton takes the first, a proxy may keep the last
     * or join them), as Tomcat refuses a repeated Content-Length.
     */
    private static String singleHeader(HttpServletRequest request, String name) {
        List<String> values = Collections.list(request.getHeaders(name));
        if (values.size() > 1) {
            throw new InvalidInputException(
                    "the request has "
                            + values.size()
                            + " "
                            + name
                            + " headers ("
                            + String.join(", ", values)
                            + "); send exactly one");
        }
        return values.isEmpty() ? null : values.getFirst();
    }

    /**
     * The body's one content coding, from every Content-Encoding header: a body coded twice (or
     * codings in two headers, of which a plain read would see only the first) is refused rather
     * than half decoded.
     */
    private static String contentEncoding(HttpServletRequest request) {
        List<String> codings =
                Collections.list(request.getHeaders(HttpHeaders.CONTENT_ENCODING)).stream()
                        .flatMap(value -> Arrays.stream(value.split(",")))
                        .map(String::trim)
                        .filter(coding -> !coding.isEmpty() && !coding.equalsIgnoreCase("identity"))
                        .toList();
        if (codings.size() > 1) {
            throw new UnsupportedEncodingException(
                    "the request body has several content codings ("
                            + String.join(", ", codings)
                            + "); compress it once, with gzip or deflate");
        }
        return codings.isEmpty() ? null : codings.getFirst();
    }
}
