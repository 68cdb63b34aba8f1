package dev.ncs.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.execution.NativeExecutor;
import dev.ncs.inference.TestTensors;
import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeCall;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.nativelib.NativeStatus;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * ncs.native.memory-limit: a request the budget cannot hold now gets 507 (retry later); one that
 * needs more than the whole budget gets 413 (it can never run here). Either way nothing stays
 * allocated. What a request needs is its whole peak, known at prepare: inputs, outputs and the
 * kernel's workspace, where matmul keeps every part's packing buffers, so the answer does not
 * depend on whether the parts happen to run at the same time. The figures below come from matmul's
 * rule ({@link #matmulNeeds}).
 */
class MemoryBudgetIntegrationTests extends IntegrationTestSupport {

    private static final long BUDGET = 1024 * 1024;

    @Autowired NativeRuntime runtime;

    @Autowired NativeExecutor executor;

    /**
     * This class's budget, for each test (the configured one comes back after it: NativeGlobals).
     */
    @BeforeEach
    void applyTheBudget() {
        runtime.memory().setMemoryLimit(BUDGET);
    }

    @Test
    void aRequestTheBudgetCannotHoldNowGets507() throws Exception {
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}");
        String body =
                matmul(128); // 131,072 bytes each for a, b and c; 790,528 with two parts' packing
        long otherWork = 600_000;
        assertThat(matmulNeeds(128)).isLessThanOrEqualTo(BUDGET).isGreaterThan(BUDGET - otherWork);
        try (NativeBuffer held = runtime.memory().allocate(otherWork, "other-work")) {
            Reply reply = post("/v2/models/matmul/infer", body);

            assertThat(reply.status()).as(reply.text()).isEqualTo(507);
            assertThat(reply.error()).contains("budget").contains(Long.toString(BUDGET));
        }
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}"))
                .isEqualTo(rejectedBefore + 1);
        assertThat(post("/v2/models/matmul/infer", body).status()).isEqualTo(200);
    }

    @Test
    void aRequestLargerThanTheWholeBudgetGets413() throws Exception {
        Reply reply =
                post("/v2/models/matmul/infer", matmul(300)); // 720,000 bytes each: 1.44 MB in all

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(reply.error())
                .contains("more than the whole budget")
                .contains(Long.toString(BUDGET));
    }

    /**
     * The inputs fit the budget, but the output with them does not: the same 413, from prepare's
     * figures. The work is too small to split, so the figure is one part's on every CPU.
     */
    @Test
    void aRequestWhoseOutputsOverflowTheWholeBudgetGets413() throws Exception {
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}");
        int m = 120;
        int k = 16;
        int n = 1024; // a, b: 146,432 bytes; c: 983,040
        assertThat(8L * (m * k + k * n)).isLessThan(BUDGET);

        Reply reply = post("/v2/models/matmul/infer", matmul(m, k, n));

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(matmulNeeds(m, k, n))
                .isEqualTo(matmulNeeds(m, k, n, 1))
                .isEqualTo(1_129_472 + 8 * (k * n + m * k));
        assertThat(reply.error())
                .contains("needs " + matmulNeeds(m, k, n) + " bytes")
                .contains("more than the whole budget of " + BUDGET);
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}"))
                .isEqualTo(rejectedBefore);
        assertThat(post("/v2/models/matmul/infer", matmul(128)).status()).isEqualTo(200);
    }

    /**
     * a, b and c fit the budget with room to spare; two parts' packing buffers do not, one part's
     * do. Each part packs its own slices, so the request is run in one part rather than refused.
     */
    @Test
    void aRequestWhosePartsPackingOverflowsTheBudgetRunsInOnePart() throws Exception {
        if (executor.threads() > 1) {
            assertThat(matmulNeeds(160))
                    .isEqualTo(3 * 204_800 + 2 * (204_800 + 107_520))
                    .isGreaterThan(BUDGET);
        }
        Reply reply = post("/v2/models/matmul/infer", matmul(160)); // a, b, c: 614,400 bytes in all

        assertThat(reply.status()).as(reply.text()).isEqualTo(200);
        assertThat(TestTensors.doubles(TestTensors.output(reply.json(), "c")))
                .hasSize(160 * 160)
                .containsOnly(160.0);
    }

    /**
     * a, b and c fit; even one part's packing buffers with them do not: 413, with the one-part
     * figure.
     */
    @Test
    void aRequestWhosePackingOverflowsTheBudgetEvenInOnePartGets413() throws Exception {
        int m = 120;
        int k = 256;
        int n = 160;
        assertThat(8L * (m * k + k * n + m * n)).isLessThan(BUDGET);

        Reply reply = post("/v2/models/matmul/infer", matmul(m, k, n));

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(matmulNeeds(m, k, n, 1))
                .isEqualTo(727_040 + 8 * (k * n + m * k))
                .isGreaterThan(BUDGET);
        assertThat(reply.error())
                .contains("needs " + matmulNeeds(m, k, n, 1) + " bytes")
                .contains("more than the whole budget of " + BUDGET);
    }

    /**
     * A budget of exactly what the call says it needs runs it with its two parts started together
     * (a barrier releases both threads at once, repeated until their runs are seen to overlap), and
     * allocates nothing more while they run; a byte less refuses it at prepare, with the same
     * figure.
     */
    @Test
    void aCallRunsWithinWhatItNeedsWhileItsPartsOverlap() throws Exception {
        int m = 240;
        int k = 256;
        int n = 1024; // two parts of 120 rows, about 63 MFLOP each
        long needed = matmulNeeds(m, k, n);
        runtime.memory().setMemoryLimit(needed - 1);
        try (NativeBuffer a = ones(m * k);
                NativeBuffer b = ones(k * n);
                NativeCall call = matmul(a, b, m, k, n)) {
            assertThatThrownBy(() -> call.prepare(executor.threads()))
                    .isInstanceOfSatisfying(
                            NativeException.class,
                            e -> assertThat(e.status()).isEqualTo(NativeStatus.OUT_OF_MEMORY));
            assertThat(call.bytesNeeded()).isEqualTo(needed);
        }

        runtime.memory().setMemoryLimit(needed);
        boolean overlapped = false;
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try (NativeBuffer a = ones(m * k);
                NativeBuffer b = ones(k * n)) {
            for (int attempt = 0; attempt < 10 && !overlapped; attempt++) {
                try (NativeCall call = matmul(a, b, m, k, n)) {
                    assertThat(call.prepare(executor.threads())).isEqualTo(2);
                    assertThat(call.bytesNeeded()).isEqualTo(needed);
                    long[][] spans = new long[2][2];
                    CyclicBarrier start = new CyclicBarrier(2);
                    Future<?> first = threads.submit(() -> runPart(call, 0, start, spans[0]));
                    Future<?> second = threads.submit(() -> runPart(call, 1, start, spans[1]));
                    first.get();
                    second.get();
                    overlapped =
                            Math.max(spans[0][0], spans[1][0]) < Math.min(spans[0][1], spans[1][1]);
                    assertThat(runtime.memory().stats().liveBytes()).isEqualTo(needed);
                    call.finish();
                    try (NativeBuffer c = call.takeOutput(0);
                            NativeBuffer.Access access = c.open()) {
                        MemorySegment product = access.segment();
                        for (long i = 0; i < (long) m * n; i++) {
                            assertThat(product.getAtIndex(ValueLayout.JAVA_DOUBLE, i)).isEqualTo(k);
                        }
                    }
                }
            }
        } finally {
            threads.shutdown();
        }
        assertThat(overlapped)
                .as("the two parts ran at the same time in one of the attempts")
                .isTrue();
    }

    /**
     * Runs {@code part} once both threads are at {@code start}, and notes when it began and ended.
     */
    private static Void runPart(NativeCall call, int part, CyclicBarrier start, long[] span)
            throws Exception {
        start.await();
        span[0] = System.nanoTime();
        call.runPart(part);
        span[1] = System.nanoTime();
        return null;
    }

    /**
     * What matmul of an n x n by an n x n FP64 matrix needs at once, by the kernel's rule
     * (native/src/kernels/matmul.c): a, b and c, and for each part a packed block of b (k x n) and
     * one of a (the largest part's rows x k).
     */
    private long matmulNeeds(int n) {
        return matmulNeeds(n, n, n);
    }

    /**
     * The same for a [m,k] by b [k,n]. Parts: one per worker, at most one per 2 MFLOP and one per
     * 6-row tile; the first gets the extra tile. The sizes stay where no CPU's cache blocks cut or
     * pad the problem (k at most 256, at most 120 rows per part, k and n multiples of 16), so the
     * figure is the same on every CPU, AVX-512 or not.
     */
    private long matmulNeeds(int m, int k, int n) {
        long tiles = (m + 5) / 6;
        return matmulNeeds(
                m,
                k,
                n,
                Math.max(
                        1,
                        Math.min(
                                executor.threads(),
                                Math.min((long) (2.0 * m * k * n / 2e6), tiles))));
    }

    /** The same, split in {@code parts}. */
    private long matmulNeeds(int m, int k, int n, long parts) {
        long tiles = (m + 5) / 6;
        long rows = (tiles + parts - 1) / parts * 6;
        assertThat(k <= 256 && rows <= 120 && k % 16 == 0 && n % 16 == 0)
                .as("sizes the rule below covers")
                .isTrue();
        long data = 8L * ((long) m * k + (long) k * n + (long) m * n);
        return data + parts * 8L * ((long) k * n + rows * k);
    }

    private NativeBuffer ones(long count) {
        NativeBuffer buffer = runtime.memory().allocate(8 * count, "matmul");
        try (NativeBuffer.Access access = buffer.open()) {
            for (long i = 0; i < count; i++) {
                access.segment().setAtIndex(ValueLayout.JAVA_DOUBLE, i, 1.0);
            }
        }
        return buffer;
    }

    private NativeCall matmul(NativeBuffer a, NativeBuffer b, int m, int k, int n) {
        NativeCall call = runtime.kernels().newCall("matmul");
        call.setInput(0, DataType.FP64, new long[] {m, k}, a);
        call.setInput(1, DataType.FP64, new long[] {k, n}, b);
        return call;
    }

    private static String matmul(int n) {
        return matmul(n, n, n);
    }

    /** a [m,k] and b [k,n], all ones (so every element of c is k). */
    private static String matmul(int m, int k, int n) {
        return "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":["
                + m
                + ","
                + k
                + "],\"data\":["
                + String.join(",", Collections.nCopies(m * k, "1.0"))
                + "]},{\"name\":\"b\",\"datatype\":\"FP64\","
                + "\"shape\":["
                + k
                + ","
                + n
                + "],\"data\":["
                + String.join(",", Collections.nCopies(k * n, "1.0"))
                + "]}]}";
    }
}
