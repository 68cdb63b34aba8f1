package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The extension that gives tests libncs's configured settings back, checked on a runtime a test
 * disturbed.
 */
@ExtendWith(NativeGlobals.class)
class NativeGlobalsTests {

    private static final long MIB = 1024 * 1024;

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());
    private final long liveBefore = runtime.memory().stats().liveBuffers();

    @AfterEach
    void nothingStaysAllocated() {
        assertThat(runtime.memory().stats().liveBuffers()).isEqualTo(liveBefore);
    }

    @Test
    void aDisturbedRuntimeGetsTheConfiguredBudgetCacheAndLeakDetectionBack() {
        NativeGlobals.Settings defaults = NativeGlobals.applicationDefaults();
        runtime.memory()
                .allocate(8 * MIB, "globals-test")
                .close(); // a large block, kept by the cache
        assertThat(runtime.memory().stats().cachedBytes()).isGreaterThanOrEqualTo(8 * MIB);
        runtime.memory().setMemoryLimit(MIB);
        runtime.memory()
                .setBufferCacheLimit(0); // gives the cached block back, and keeps none from now on
        runtime.leaks().setLeakDetection(LeakDetection.DISABLED, 7);

        NativeGlobals.restore(runtime, defaults);

        assertThat(runtime.memory().stats().limitBytes())
                .isEqualTo(defaults.nativeProperties().memoryLimit().toBytes());
        assertThat(runtime.leaks().level()).isEqualTo(defaults.leakDetection().level());
        assertThat(runtime.leaks().samplingInterval())
                .isEqualTo(defaults.leakDetection().samplingInterval());
        runtime.memory().allocate(8 * MIB, "globals-test").close();
        assertThat(runtime.memory().stats().cachedBytes())
                .as("the cache keeps blocks again")
                .isGreaterThanOrEqualTo(8 * MIB);

        NativeGlobals.restore(runtime, defaults);

        assertThat(runtime.memory().stats().cachedBytes())
                .as("restoring empties the cache")
                .isZero();
    }
}
