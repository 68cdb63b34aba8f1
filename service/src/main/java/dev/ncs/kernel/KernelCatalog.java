package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.NativeKernels;
import dev.ncs.plugin.PluginLoader;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.springframework.context.annotation.DependsOn;
import org.springframework.stereotype.Component;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The kernels libncs registered, with their metadata, read once at start-up, after the plugins are
 * loaded.
 */
@Component
@DependsOn(PluginLoader.BEAN)
public class KernelCatalog {

    /**
     * Datatypes listed first when a tensor accepts several (the first is the protocol's
     * "datatype").
     */
    private static final List<DataType> PREFERRED =
            List.of(DataType.FP64, DataType.FP32, DataType.INT64, DataType.INT32);

    private final Map<String, KernelMetadata> kernels;

    public KernelCatalog(NativeKernels kernels, JsonMapper json) {
        Map<String, KernelMetadata> byName = new LinkedHashMap<>();
        for (String name : kernels.kernelNames().stream().sorted().toList()) {
            byName.put(name, parse(json.readTree(kernels.kernelMetadataJson(name))));
        }
        this.kernels = Collections.unmodifiableMap(byName);
    }

    public Collection<KernelMetadata> all() {
        return kernels.values();
    }

    public Optional<KernelMetadata> find(String name) {
        return Optional.ofNullable(kernels.get(name));
    }

    public KernelMetadata get(String name) {
        return find(name).orElseThrow(() -> UnknownKernelException.of(name, kernels.keySet()));
    }

    /** The kernel, checking that the requested version (if any) exists. */
    public KernelMetadata get(String name, String version) {
        KernelMetadata kernel = get(name);
        if (version != null && !version.equals(KernelMetadata.VERSION)) {
            throw new UnknownKernelException(
                    "kernel '"
                            + name
                            + "' has no version '"
                            + version
                            + "'; available versions: "
                            + KernelMetadata.VERSION);
        }
        return kernel;
    }

    private static KernelMetadata parse(JsonNode node) {
        List<ParameterSpec> parameters = new ArrayList<>();
        for (JsonNode p : node.path("parameters")) {
            parameters.add(
                    new ParameterSpec(
                            p.path("name").asString(),
                            p.path("type").asString(),
                            p.path("default").asString(),
                            p.path("doc").asString()));
        }
        return new KernelMetadata(
                node.path("name").asString(),
                node.path("doc").asString(),
                node.path("library").asString(),
                node.path("thread_safe").asBoolean(),
                tensors(node.path("inputs")),
                tensors(node.path("outputs")),
                List.copyOf(parameters));
    }

    private static List<TensorSpec> tensors(JsonNode array) {
        List<TensorSpec> specs = new ArrayList<>();
        for (JsonNode t : array) {
            List<DataType> types = new ArrayList<>();
            for (JsonNode d : t.path("datatypes")) {
                types.add(DataType.byName(d.asString()).orElseThrow());
            }
            List<Long> shape = null;
            if (t.path("shape").isArray()) {
                shape = new ArrayList<>();
                for (JsonNode d : t.path("shape")) {
                    shape.add(d.asLong());
                }
                shape = List.copyOf(shape);
            }
            types.sort(
                    Comparator.comparing(type ->
                            PREFERRED.contains(type) ? PREFERRED.indexOf(type) : PREFERRED.size()));
            specs.add(
                    new TensorSpec(
                            t.path("name").asString(),
                            t.path("doc").asString(),
                            List.copyOf(types),
                            shape));
        }
        return List.copyOf(specs);
    }
}
