package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.ValueLayout;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Who keeps a call's inputs alive. Parts hold no references of their own: {@code
 * ncs_call_set_input} takes the call's reference to the buffer, kept until the call is destroyed,
 * and a call cannot be closed while a part runs ({@link NativeCall#close} refuses). So a buffer is
 * never freed under a running part, even when every Java owner let go of it before the parts
 * started.
 */
class NativeCallTests {

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());
    private final long liveBefore = runtime.memory().stats().liveBuffers();

    @AfterEach
    void nothingStaysAllocated() {
        assertThat(runtime.memory().stats().liveBuffers()).isEqualTo(liveBefore);
    }

    @Test
    void partsRunOnInputsWhoseJavaOwnersReleasedThemFirst() throws Exception {
        int n = 1 << 20;
        try (NativeCall call = runtime.kernels().newCall("describe");
                ExecutorService threads = Executors.newFixedThreadPool(2)) {
            NativeBuffer x = runtime.memory().allocate(8L * n, "test");
            try (NativeBuffer.Access access = x.open()) {
                for (int i = 0; i < n; i++) {
                    access.segment().setAtIndex(ValueLayout.JAVA_DOUBLE, i, i);
                }
            }
            call.setInput(0, DataType.FP64, new long[] {n}, x);
            x.close(); // the only Java reference: the call's own keeps the memory

            int parts = call.prepare(2);
            assertThat(parts).isEqualTo(2);
            Future<?> first = threads.submit(() -> call.runPart(0));
            Future<?> second = threads.submit(() -> call.runPart(1));
            first.get();
            second.get();
            call.finish();

            try (NativeBuffer count = call.takeOutput(0);
                    NativeBuffer mean = call.takeOutput(1);
                    NativeBuffer.Access c = count.open();
                    NativeBuffer.Access m = mean.open()) {
                assertThat(c.segment().get(ValueLayout.JAVA_LONG, 0)).isEqualTo(n);
                assertThat(m.segment().get(ValueLayout.JAVA_DOUBLE, 0)).isEqualTo((n - 1) / 2.0);
            }
            assertThat(runtime.memory().stats().liveBuffers())
                    .isGreaterThan(liveBefore); // x, until the call goes
        }
    }
}
