package dev.ncs.nativelib;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Java-side leak detection (see {@link LeakDetection}).
 *
 * @param level disabled, simple, advanced or paranoid
 * @param samplingInterval at advanced, one buffer in this many records where it was created and
 *     used
 */
@ConfigurationProperties("ncs.leak-detection")
public record LeakDetectionProperties(
        @DefaultValue("simple") LeakDetection level, @DefaultValue("128") int samplingInterval) {}
