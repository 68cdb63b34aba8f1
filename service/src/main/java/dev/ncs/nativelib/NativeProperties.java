package dev.ncs.nativelib;

import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * libncs settings.
 *
 * @param memoryLimit live native bytes allowed at once (0 = unlimited); a request that would go
 *     past it gets 507
 * @param library explicit path of libncs; unset means its SONAME (libncs.so.0) on the system
 *     library path, then the jar's copy. Whichever is found must be the version this jar was built
 *     for
 * @param bufferCache freed large buffers kept for reuse
 */
@ConfigurationProperties("ncs.native")
public record NativeProperties(
        @DefaultValue("4GB") DataSize memoryLimit,
        Path library,
        @DefaultValue BufferCache bufferCache) {

    public NativeProperties {
        if (memoryLimit.isNegative()) {
            throw new IllegalArgumentException(
                    "ncs.native.memory-limit must be >= 0, got " + memoryLimit);
        }
    }

    /**
     * The memory of freed buffers of 4 MiB and more, kept for the next buffer of the same size
     * instead of being given back to the system and touched fresh again (see "The buffer cache" in
     * ncs.h).
     *
     * @param size most bytes kept (0 = none); they count within the memory limit and are given back
     *     first when an allocation needs the room
     * @param idle how long a kept block may go unused before it is given back
     */
    public record BufferCache(
            @DefaultValue("256MB") DataSize size, @DefaultValue("30s") Duration idle) {

        public BufferCache {
            if (size.isNegative()) {
                throw new IllegalArgumentException(
                        "ncs.native.buffer-cache.size must be >= 0, got " + size);
            }
            if (idle.isNegative() || idle.compareTo(Duration.ofDays(365)) > 0) {
                throw new IllegalArgumentException(
                        "ncs.native.buffer-cache.idle must be between 0 and 365 days, got " + idle);
            }
        }
    }
}
