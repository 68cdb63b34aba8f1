package dev.ncs.inference;

import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * The protocol's per-model endpoints; each kernel is a model. Bodies are accepted with any or no
 * Content-Type, as Triton's clients send none.
 */
@RestController
@RequestMapping("/v2/models/{model}")
class InferenceController {

    private final InferenceService inference;
    private final KernelCatalog catalog;
    private final LimitsProperties limits;

    InferenceController(
            InferenceService inference, KernelCatalog catalog, LimitsProperties limits) {
        this.inference = inference;
        this.catalog = catalog;
        this.limits = limits;
    }

    /**
     * Inference; the service writes the response itself, since binary outputs stream from native
     * memory.
     */
    @PostMapping({"/infer", "/versions/{version}/infer"})
    void infer(
            @PathVariable String model,
            @PathVariable(required = false) String version,
            HttpServletRequest request,
            HttpServletResponse response)
            throws IOException {
        checkPath(model, version);
        inference.infer(model, version, request, response);
    }

    @GetMapping({"", "/versions/{version}"})
    ModelMetadata metadata(
            @PathVariable String model, @PathVariable(required = false) String version) {
        checkPath(model, version);
        return ModelMetadata.of(catalog.get(model, version));
    }

    @GetMapping({"/ready", "/versions/{version}/ready"})
    Map<String, Object> ready(
            @PathVariable String model, @PathVariable(required = false) String version) {
        checkPath(model, version);
        KernelMetadata kernel = catalog.get(model, version);
        return Map.of("name", kernel.name(), "ready", true);
    }

    private void checkPath(String model, String version) {
        limits.checkName("model name", model);
        if (version != null) {
            limits.checkName("model version", version);
        }
    }
}
