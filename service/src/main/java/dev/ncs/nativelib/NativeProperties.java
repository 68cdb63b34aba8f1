package dev.ncs.nativelib;

import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * libncs settings.
 *
 * @param memoryLimit live native bytes allowed at once (0 = unlimited); a request that would go past
 *     it gets 507
 * @param library explicit path of libncs.so; unset means the system library path, then the jar's copy
 */
@ConfigurationProperties("ncs.native")
public record NativeProperties(@DefaultValue("4GB") DataSize memoryLimit, Path library) {

    public NativeProperties {
        if (memoryLimit.isNegative()) {
            throw new IllegalArgumentException("ncs.native.memory-limit must be >= 0, got " + memoryLimit);
        }
    }
}
