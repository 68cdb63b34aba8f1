package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * What every hostile case shares: NCS in a separate JVM of the case's {@link Configuration}, a
 * {@link Probe} to run beside the attack, and the checks after it: the process is alive, a real
 * request is answered within a second, live native buffers and bytes are back to 0, no Java-side
 * leak was counted, and the heap holds no more than before.
 *
 * <p>A case class is {@code @ParameterizedClass @EnumSource(Configuration.class)} and takes the
 * configuration in its constructor. Inside a case: {@code try (Probe probe = probe();
 * RawConnections attack = ...) { ...; assertHeapHolds(...); }} — the attack's sockets close first,
 * then the probe is checked.
 *
 * <p>The heap bound: after a full collection, with the attack still holding its connections, the
 * heap may hold at most {@link #HEAP_SLACK} plus {@link #HEAP_PER_REQUEST} for each connection with
 * a request under way and for each of the {@link #PROCESSOR_CACHE} request processors Tomcat keeps
 * for reuse, more than before the attack. A processor holds Tomcat's heap input buffer (the 8 KiB
 * header limit plus the 256 KiB socket buffer) and a few KiB of request objects; an idle connection
 * holds only direct buffers (measured: no heap). So 200 slow heads leave about 53 MiB of processors
 * cached after they are gone, a bounded and reused amount; anything reserved on a client's declared
 * size (64 MB JSON headers, 1 GB binary inputs) is hundreds of megabytes more.
 */
abstract class HostileCase {

    static final long MIB = 1024 * 1024;
    static final long HEAP_PER_REQUEST = 320 * 1024;

    /** Tomcat's processor cache, server.tomcat.processor-cache as shipped (Tomcat's default). */
    static final int PROCESSOR_CACHE = 200;

    static final long HEAP_SLACK = 32 * MIB;

    protected final Configuration configuration;
    protected NcsProcess ncs;
    private long heapBefore;
    private Probe probe;

    HostileCase(Configuration configuration) {
        this.configuration = configuration;
    }

    @BeforeEach
    void startNcs() throws Exception {
        ncs = NcsProcess.of(configuration);
        assertNativeMemoryBackToZero();
        heapBefore = ncs.liveHeap();
    }

    /** A real client that runs until closed; closing it asserts what it saw. */
    protected Probe probe() {
        probe = new Probe(ncs);
        return probe;
    }

    /**
     * The heap, after a full collection, holds no more than allowed for {@code requests}
     * connections with a request under way.
     */
    protected void assertHeapHolds(int requests) throws Exception {
        long grown = (probe != null ? probe.between(ncs::liveHeap) : ncs.liveHeap()) - heapBefore;
        assertThat(grown)
                .as(
                        "heap held by the attack (after a full GC), bytes, with %d requests under way",
                        requests)
                .isLessThanOrEqualTo(HEAP_SLACK + (PROCESSOR_CACHE + requests) * HEAP_PER_REQUEST);
    }

    @AfterEach
    void serviceRecovered() throws Exception {
        probe = null;
        assertThat(ncs.isAlive()).as("NCS is still running; log:\n%s", ncs.logTail()).isTrue();
        assertThat(Probe.ask(ncs.port)).as("a real request after the attack").isNull();
        assertNativeMemoryBackToZero();
        assertThat(NcsProcess.total(ncs.scrape(), "ncs_leaks_total{source=\"java\"}"))
                .as("Java-side leaks")
                .isZero();
        assertHeapHolds(0);
    }

    private void assertNativeMemoryBackToZero() throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        String metrics;
        do {
            metrics = ncs.scrape();
            if (NcsProcess.total(metrics, "ncs_native_buffers_live") == 0
                    && NcsProcess.total(metrics, "ncs_native_memory_live_bytes") == 0) {
                return;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < end);
        assertThat(NcsProcess.total(metrics, "ncs_native_buffers_live"))
                .as("ncs_native_buffers_live")
                .isZero();
        assertThat(NcsProcess.total(metrics, "ncs_native_memory_live_bytes"))
                .as("ncs_native_memory_live_bytes")
                .isZero();
    }
}
