package dev.ncs.inference;

import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.nativelib.NativeRuntime;
import java.util.List;
import java.util.Map;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** Server-level endpoints: health, server metadata, the repository index. */
@RestController
@RequestMapping("/v2")
public class ServerController {

    /** The server's name in its metadata. */
    public static final String NAME = "ncs";

    /** Protocol extensions implemented in full (gRPC's server metadata lists them too). */
    public static final List<String> EXTENSIONS = List.of("binary_tensor_data", "parameters");

    private final KernelCatalog catalog;
    private final String version;

    ServerController(KernelCatalog catalog, NativeRuntime runtime) {
        this.catalog = catalog;
        this.version = runtime.version();
    }

    @GetMapping("/health/live")
    Map<String, Boolean> live() {
        return Map.of("live", true);
    }

    @GetMapping("/health/ready")
    Map<String, Boolean> ready() {
        return Map.of("ready", true);
    }

    @GetMapping({"", "/"})
    Map<String, Object> server() {
        return Map.of("name", NAME, "version", version, "extensions", EXTENSIONS);
    }

    /**
     * Triton's repository index; accepts an optional body such as {"ready": true}, which changes
     * nothing here.
     */
    @GetMapping("/repository/index")
    List<RepositoryEntry> index() {
        return catalog.all().stream().map(RepositoryEntry::of).toList();
    }

    @PostMapping("/repository/index")
    List<RepositoryEntry> indexPost() {
        return index();
    }

    record RepositoryEntry(String name, String version, String state) {
        static RepositoryEntry of(KernelMetadata kernel) {
            return new RepositoryEntry(kernel.name(), KernelMetadata.VERSION, "READY");
        }
    }
}
