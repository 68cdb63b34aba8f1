package dev.ncs.nativelib;

import java.util.Optional;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Loads libncs at start-up, applies its configuration, and offers its parts by job as beans. */
@Configuration(proxyBeanMethods = false)
class NativeConfiguration {

    @Bean
    NativeRuntime nativeRuntime(NativeProperties properties, LeakDetectionProperties leaks) {
        NativeRuntime runtime = NativeRuntime.load(Optional.ofNullable(properties.library()));
        runtime.memory().setMemoryLimit(properties.memoryLimit().toBytes());
        runtime.memory().setBufferCacheLimit(properties.bufferCache().size().toBytes());
        runtime.leaks().setLeakDetection(leaks.level(), leaks.samplingInterval());
        return runtime;
    }

    @Bean
    NativeMemory nativeMemory(NativeRuntime runtime) {
        return runtime.memory();
    }

    @Bean
    NativeKernels nativeKernels(NativeRuntime runtime) {
        return runtime.kernels();
    }

    @Bean
    LeakReports leakReports(NativeRuntime runtime) {
        return runtime.leaks();
    }
}
