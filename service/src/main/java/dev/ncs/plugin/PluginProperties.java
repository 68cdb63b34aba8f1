package dev.ncs.plugin;

import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Kernel libraries loaded at start-up.
 *
 * @param directory every {@code *.so} in it is loaded (unset: none); it and its files must not be
 *     group- or world-writable
 */
@ConfigurationProperties("ncs.plugins")
public record PluginProperties(Path directory) {}
