package dev.ncs.nativelib;

import java.util.Optional;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Loads libncs at start-up and applies its configuration. */
@Configuration(proxyBeanMethods = false)
class NativeConfiguration {

    @Bean
    NativeRuntime nativeRuntime(NativeProperties properties, LeakDetectionProperties leaks) {
        NativeRuntime runtime = NativeRuntime.load(Optional.ofNullable(properties.library()));
        runtime.setMemoryLimit(properties.memoryLimit().toBytes());
        runtime.setBufferCacheLimit(properties.bufferCache().size().toBytes());
        runtime.setLeakDetection(leaks.level(), leaks.samplingInterval());
        return runtime;
    }
}
