package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Reference counting, handle safety and leak reclamation of the binding, without Spring. */
@ExtendWith(NativeGlobals.class)
class NativeBufferTests {

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());
    private final long liveBefore = runtime.memory().stats().liveBuffers();

    @AfterEach
    void nothingStaysAllocated() {
        assertThat(runtime.memory().stats().liveBuffers()).isEqualTo(liveBefore);
    }

    @Test
    void startsWithOneReferenceAndFreesOnTheLastRelease() {
        NativeStats before = runtime.memory().stats();
        NativeBuffer buffer = runtime.memory().allocate(100, "test");
        assertThat(buffer.refCnt()).isEqualTo(1);
        assertThat(runtime.memory().stats().liveBytes()).isEqualTo(before.liveBytes() + 100);

        buffer.retain();
        assertThat(buffer.refCnt()).isEqualTo(2);
        assertThat(buffer.release()).isFalse();
        assertThat(buffer.release()).isTrue();

        assertThat(buffer.refCnt()).isZero();
        NativeStats after = runtime.memory().stats();
        assertThat(after.liveBytes()).isEqualTo(before.liveBytes());
        assertThat(after.retains() - before.retains()).isEqualTo(1);
        assertThat(after.releases() - before.releases()).isEqualTo(2);
        assertThat(after.frees() - before.frees()).isEqualTo(1);
    }

    @Test
    void closeIsIdempotentAndUseAfterReleaseThrows() {
        NativeBuffer buffer = runtime.memory().allocate(8, "test");
        MemorySegment segment;
        try (NativeBuffer.Access access = buffer.open()) {
            access.segment().set(ValueLayout.JAVA_DOUBLE, 0, 2.5);
            segment = access.segment();
        }
        try (NativeBuffer.Access access = buffer.open()) {
            assertThat(access.segment().get(ValueLayout.JAVA_DOUBLE, 0)).isEqualTo(2.5);
        }
        buffer.close();
        buffer.close();

        assertThatThrownBy(() -> segment.get(ValueLayout.JAVA_DOUBLE, 0))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(buffer::open)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("released");
        assertThatThrownBy(buffer::retain).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(buffer::release).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aSegmentIsUnusableOnceItsAccessIsClosedEvenWhileTheBufferLives() {
        try (NativeBuffer buffer = runtime.memory().allocate(8, "test")) {
            NativeBuffer.Access access = buffer.open();
            MemorySegment segment = access.segment();
            access.close();
            access.close();

            assertThatThrownBy(() -> segment.get(ValueLayout.JAVA_BYTE, 0))
                    .isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void theLastReferenceCannotBeReleasedWhileAnAccessIsOpen() {
        NativeBuffer buffer = runtime.memory().allocate(8, "test");
        NativeBuffer.Access access = buffer.open();
        buffer.retain();
        assertThat(buffer.release()).isFalse(); // not the last: fine while open

        assertThatThrownBy(buffer::release)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("access(es) to its memory are open");
        access.segment()
                .set(
                        ValueLayout.JAVA_LONG,
                        0,
                        42); // still allocated: the refused release freed nothing

        access.close();
        assertThat(buffer.release()).isTrue();
    }

    @Test
    void anAccessIsConfinedToTheThreadThatOpenedIt() throws Exception {
        try (NativeBuffer buffer = runtime.memory().allocate(8, "test");
                var other = Executors.newSingleThreadExecutor()) {
            NativeBuffer.Access access = buffer.open();
            MemorySegment segment = access.segment();
            Future<?> read = other.submit(() -> segment.get(ValueLayout.JAVA_BYTE, 0));
            assertThatThrownBy(read::get).hasCauseInstanceOf(WrongThreadException.class);
            assertThatThrownBy(other.submit(access::close)::get)
                    .hasCauseInstanceOf(WrongThreadException.class);
            access.close();
        }
    }

    @Test
    void virtualThreadsMayReadAndWriteWithoutNativeCalls() throws Exception {
        try (NativeBuffer buffer = runtime.memory().allocate(8, "test");
                var virtualThreads = Executors.newVirtualThreadPerTaskExecutor()) {
            virtualThreads
                    .submit(() -> {
                        try (NativeBuffer.Access access = buffer.open()) {
                            access.segment().set(ValueLayout.JAVA_DOUBLE, 0, 1.25);
                        }
                    })
                    .get();
            try (NativeBuffer.Access access = buffer.open()) {
                assertThat(access.segment().get(ValueLayout.JAVA_DOUBLE, 0)).isEqualTo(1.25);
            }
        }
    }

    @Test
    void atParanoidLevelUseAfterReleaseSaysWhereTheBufferWasReleasedAndCreated() {
        runtime.leaks().setLeakDetection(LeakDetection.PARANOID, 1);
        NativeBuffer buffer = runtime.memory().allocate(8, "test");
        buffer.retain();
        buffer.release();
        buffer.close();

        assertThatThrownBy(buffer::open)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("released at:")
                .hasMessageContaining("created at:")
                .hasMessageContaining("NativeBufferTests.atParanoidLevel");
    }

    @Test
    void withDetectionDisabledADroppedBufferIsNotReclaimed() throws InterruptedException {
        runtime.leaks().setLeakDetection(LeakDetection.DISABLED, 128);
        long handle = runtime.memory().allocate(64, "disabled-test").handle();
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(runtime.leaks().javaLeaks("disabled-test")).isZero();
        assertThat(NcsLibrary.ncs_buffer_release(handle))
                .isZero(); // still alive: release it by hand
    }

    @Test
    void aReleasedHandleIsRefusedAsStaleAndCounted() {
        long[] handle = new long[1];
        assertThat(NcsLibrary.ncs_buffer_alloc(16, handle)).isZero();
        assertThat(NcsLibrary.ncs_buffer_release(handle[0])).isZero();
        NativeStats before = runtime.memory().stats();

        assertThat(NativeStatus.of(NcsLibrary.ncs_buffer_retain(handle[0])))
                .isEqualTo(NativeStatus.STALE_HANDLE);
        assertThat(NativeStatus.of(NcsLibrary.ncs_buffer_data(handle[0], new long[1], new long[1])))
                .isEqualTo(NativeStatus.STALE_HANDLE);

        assertThat(runtime.memory().stats().staleHandleUses() - before.staleHandleUses())
                .isEqualTo(2);
    }

    @Test
    void aDoubleReleaseIsRefusedAndCounted() {
        long[] handle = new long[1];
        assertThat(NcsLibrary.ncs_buffer_alloc(16, handle)).isZero();
        assertThat(NcsLibrary.ncs_buffer_release(handle[0])).isZero();
        NativeStats before = runtime.memory().stats();

        assertThat(NativeStatus.of(NcsLibrary.ncs_buffer_release(handle[0])))
                .isEqualTo(NativeStatus.DOUBLE_RELEASE);

        NativeStats after = runtime.memory().stats();
        assertThat(after.doubleReleases() - before.doubleReleases()).isEqualTo(1);
        assertThat(after.frees()).isEqualTo(before.frees());
    }

    @Test
    void anUnreachableUnreleasedBufferIsReclaimedAndCountedAsAJavaLeak()
            throws InterruptedException {
        long leaksBefore = runtime.leaks().javaLeaks("leak-test");
        runtime.leaks().setLeakDetection(LeakDetection.PARANOID, 1);
        runtime.memory().allocate(1024, "leak-test");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (runtime.leaks().javaLeaks("leak-test") == leaksBefore
                && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(runtime.leaks().javaLeaks("leak-test")).isEqualTo(leaksBefore + 1);
    }

    @Test
    void nativeCallsAreRefusedOnVirtualThreads() throws Exception {
        try (var virtualThreads = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<?> attempt = virtualThreads.submit(() -> runtime.memory().allocate(8, "test"));
            assertThatThrownBy(attempt::get)
                    .hasCauseInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("virtual thread");
        }
    }

    @Test
    void aFailedLoadListsEveryPlaceTried() {
        assertThatThrownBy(() ->
                        NativeLibraryLoader.load(Optional.of(Path.of("/nonexistent/libncs.so"))))
                .isInstanceOf(UnsatisfiedLinkError.class)
                .hasMessageContaining("ncs.native.library=/nonexistent/libncs.so");
    }

    @Test
    void statusStringsAreStable() {
        assertThat(NcsLibrary.ncs_status_str(0)).isNotBlank();
        assertThat(NativeStatus.of(3)).isEqualTo(NativeStatus.STALE_HANDLE);
        assertThat(NativeStatus.of(99)).isEqualTo(NativeStatus.INTERNAL);
    }
}
