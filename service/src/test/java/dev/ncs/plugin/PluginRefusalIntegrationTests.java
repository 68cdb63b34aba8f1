package dev.ncs.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A plugin directory of libraries libncs must refuse (a newer ABI, an init that fails, no entry
 * point, a world-writable file): each is refused with its reason and the service starts and serves
 * the rest.
 */
class PluginRefusalIntegrationTests extends IntegrationTestSupport {

    static final Path DIRECTORY = refusedPlugins();

    @DynamicPropertySource
    static void plugins(DynamicPropertyRegistry registry) {
        registry.add("ncs.plugins.directory", DIRECTORY::toString);
    }

    @Autowired PluginLoader loader;

    @Test
    void eachBadLibraryIsRefusedWithItsReasonAndTheServiceServes() throws Exception {
        Map<String, String> reasons =
                loader.outcomes().stream()
                        .collect(
                                Collectors.toMap(
                                        o -> o.file().getFileName().toString(),
                                        o -> o.loaded() ? "LOADED" : o.reason()));

        assertThat(reasons)
                .containsOnlyKeys(
                        "libnewer_minor.so",
                        "libentry_fails.so",
                        "libno_entry.so",
                        "libworld_writable.so");
        assertThat(reasons.values()).doesNotContain("LOADED");
        assertThat(reasons.get("libworld_writable.so")).containsIgnoringCase("writable");
        assertThat(reasons.get("libno_entry.so")).contains("ncs_plugin_register");
        assertThat(get("/v2/health/ready").status()).isEqualTo(200);
        assertThat(
                        post(
                                        "/v2/models/sort/infer",
                                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                                                + "\"data\":[2,1]}]}")
                                .status())
                .isEqualTo(200);
    }

    private static Path refusedPlugins() {
        try {
            Path built =
                    Path.of("..", "native", "target", "build", "test-plugins")
                            .toAbsolutePath()
                            .normalize();
            Path directory = Files.createTempDirectory("ncs-refused-plugins");
            for (String name :
                    new String[] {"libnewer_minor.so", "libentry_fails.so", "libno_entry.so"}) {
                Files.copy(
                        built.resolve(name),
                        directory.resolve(name),
                        StandardCopyOption.REPLACE_EXISTING);
            }
            Path writable = directory.resolve("libworld_writable.so");
            Files.copy(PluginsIntegrationTests.PLUGINS.resolve("libsmallest.so"), writable);
            Files.setPosixFilePermissions(writable, PosixFilePermissions.fromString("rwxrwxrwx"));
            return directory;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
