package dev.ncs.plugin;

import dev.ncs.nativelib.NativeKernels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Loads every kernel library of {@code ncs.plugins.directory} once, at start-up, before the kernel
 * catalog is read. A library that libncs refuses (ABI, failed init, permissions, clashing names) is
 * logged and skipped; the service starts and serves the rest. Nothing loads a library later, and no
 * endpoint takes a path.
 */
@Component(PluginLoader.BEAN)
public class PluginLoader {

    /**
     * The bean's name, for {@code @DependsOn}: whatever reads the set of kernels or libraries (the
     * catalog, the lock metrics) starts after the plugins are loaded.
     */
    public static final String BEAN = "pluginLoader";

    private static final Logger log = LoggerFactory.getLogger(PluginLoader.class);
    private static final Set<PosixFilePermission> WRITABLE_BY_OTHERS =
            Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

    /** What happened to one file: loaded, or why not. */
    public record Outcome(Path file, boolean loaded, String reason) {}

    private final List<Outcome> outcomes;

    public PluginLoader(PluginProperties properties, NativeKernels kernels) {
        this.outcomes =
                properties.directory() == null
                        ? List.of()
                        : loadAll(properties.directory(), kernels);
    }

    public List<Outcome> outcomes() {
        return outcomes;
    }

    private static List<Outcome> loadAll(Path directory, NativeKernels kernels) {
        List<Outcome> results = new ArrayList<>();
        String refusal = refuseDirectory(directory);
        if (refusal != null) {
            log.error("plugins: not loading any library from {}: {}", directory, refusal);
            return List.of(new Outcome(directory, false, refusal));
        }
        List<String> loaded = kernels.libraryNames();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file :
                    files.filter(f -> f.getFileName().toString().endsWith(".so"))
                            .sorted()
                            .toList()) {
                String library = libraryName(file);
                if (loaded.contains(library)) {
                    log.info("plugins: {} is already loaded in this process", file);
                    results.add(new Outcome(file, true, "already loaded"));
                    continue;
                }
                Optional<String> refused = kernels.loadPlugin(file.toAbsolutePath());
                if (refused.isEmpty()) {
                    log.info("plugins: loaded {} (library '{}')", file, library);
                } else {
                    log.error("plugins: refused {}: {}", file, refused.get());
                }
                results.add(new Outcome(file, refused.isEmpty(), refused.orElse(null)));
            }
        } catch (IOException e) {
            log.error("plugins: cannot list {}: {}", directory, e.getMessage());
            results.add(new Outcome(directory, false, e.getMessage()));
        }
        return List.copyOf(results);
    }

    private static String refuseDirectory(Path directory) {
        if (!Files.isDirectory(directory)) {
            return "not a directory";
        }
        try {
            if (Files.getPosixFilePermissions(directory).stream()
                    .anyMatch(WRITABLE_BY_OTHERS::contains)) {
                return "the directory is group- or world-writable (chmod go-w it)";
            }
        } catch (IOException | UnsupportedOperationException e) {
            return "cannot read its permissions: " + e.getMessage();
        }
        return null;
    }

    /** libncs names a library after its file: libfoo.so is "foo". */
    private static String libraryName(Path file) {
        String name = file.getFileName().toString();
        name = name.substring(0, name.length() - ".so".length());
        return name.startsWith("lib") ? name.substring(3) : name;
    }
}
