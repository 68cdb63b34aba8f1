package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.TestPropertySource;

/**
 * {@link NativeGlobals} in a Spring test: a test that disturbs libncs's settings is followed by one
 * that finds this context's own configuration (a 96 MB budget, the fixture's paranoid leak
 * detection), not what the last test left nor the defaults other contexts use. The order of the two
 * is the point.
 */
@TestPropertySource(properties = "ncs.native.memory-limit=96MB")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NativeGlobalsIntegrationTests extends IntegrationTestSupport {

    @Autowired NativeRuntime runtime;

    @Autowired NativeProperties nativeProperties;

    @Test
    @Order(1)
    void aTestDisturbsTheSettings() {
        assertThat(nativeProperties.memoryLimit().toMegabytes()).isEqualTo(96);
        runtime.memory().setMemoryLimit(1 << 20);
        runtime.memory().setBufferCacheLimit(0);
        runtime.leaks().setLeakDetection(LeakDetection.DISABLED, 3);
    }

    @Test
    @Order(2)
    void theNextFindsItsContextsConfiguration() throws Exception {
        assertThat(runtime.memory().stats().limitBytes()).isEqualTo(96L << 20);
        assertThat(metric(scrape(), "ncs_native_memory_limit_bytes")).isEqualTo(96L << 20);
        assertThat(runtime.leaks().level()).isEqualTo(LeakDetection.PARANOID);
        assertThat(runtime.leaks().samplingInterval()).isEqualTo(128);
    }
}
