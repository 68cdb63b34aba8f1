package dev.ncs.inference;

import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelService;
import java.io.IOException;
import java.io.InputStream;
import org.springframework.http.HttpHeaders;
import org.springframework.stereotype.Service;

/** The inference endpoint's work: read the body within limits, decode it, run the kernel, encode the result. */
@Service
class InferenceService {

    static final String BINARY_HEADER = "Inference-Header-Content-Length";

    private final KernelCatalog catalog;
    private final KernelService kernels;
    private final JsonInferenceCodec codec;
    private final LimitsProperties limits;

    InferenceService(KernelCatalog catalog, KernelService kernels, JsonInferenceCodec codec, LimitsProperties limits) {
        this.catalog = catalog;
        this.kernels = kernels;
        this.codec = codec;
        this.limits = limits;
    }

    InferResponse infer(String model, String version, HttpHeaders headers, InputStream body) throws IOException {
        KernelMetadata kernel = catalog.get(model, version);
        String encoding = headers.getFirst(HttpHeaders.CONTENT_ENCODING);
        if (encoding != null && !encoding.equalsIgnoreCase("identity")) {
            throw new UnsupportedEncodingException("Content-Encoding '" + encoding
                    + "' is not supported yet; send the body uncompressed");
        }
        if (headers.containsHeader(BINARY_HEADER)) {
            throw new UnsupportedEncodingException("this server does not implement the binary tensor data extension "
                    + "yet (" + BINARY_HEADER + " was sent): send inputs as JSON \"data\"");
        }
        byte[] bytes = readLimited(body, headers.getContentLength());
        JsonInferenceCodec.Decoded decoded = codec.decode(kernel, version, bytes);
        return kernels.infer(decoded.request(), outputs -> codec.encode(kernel, decoded, outputs));
    }

    private byte[] readLimited(InputStream body, long contentLength) throws IOException {
        long max = limits.maxRequestSize().toBytes();
        if (contentLength > max) {
            throw tooLarge(contentLength + " bytes", max);
        }
        byte[] bytes = body.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
        if (bytes.length > max) {
            throw tooLarge("more than " + max + " bytes", max);
        }
        return bytes;
    }

    private static PayloadTooLargeException tooLarge(String size, long max) {
        return new PayloadTooLargeException("the request body is " + size + "; the limit (ncs.limits.max-request-size) is "
                + max + " bytes");
    }
}
