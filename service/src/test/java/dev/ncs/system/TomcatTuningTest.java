package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TomcatTuningTest {

    private static final long MIB = 1024 * 1024;

    @Test
    void bufferGrowsWithTheHeapBetween64KiBAnd256KiB() {
        assertThat(TomcatTuning.socketBuffer(32 * MIB)).isEqualTo(64 * 1024);
        assertThat(TomcatTuning.socketBuffer(512 * MIB)).isEqualTo(128 * 1024);
        assertThat(TomcatTuning.socketBuffer(1024 * MIB)).isEqualTo(256 * 1024);
        assertThat(TomcatTuning.socketBuffer(6 * 1024 * MIB)).isEqualTo(256 * 1024);
    }

    @Test
    void connectionBuffersFitInAboutThreeEighthsOfTheHeap() {
        for (long heap :
                new long[] {32 * MIB, 128 * MIB, 1024 * MIB, 6 * 1024 * MIB, 64 * 1024 * MIB}) {
            int buffer = TomcatTuning.socketBuffer(heap);
            int connections = TomcatTuning.maxConnections(heap, buffer);
            assertThat(connections).isBetween(16, TomcatTuning.TOMCAT_MAX_CONNECTIONS);
            if (connections > 16) {
                assertThat(3L * buffer * connections).isLessThanOrEqualTo(heap * 3 / 8);
            }
        }
        assertThat(TomcatTuning.maxConnections(1024 * MIB, 256 * 1024)).isEqualTo(512);
        assertThat(TomcatTuning.maxConnections(6 * 1024 * MIB, 256 * 1024)).isEqualTo(3072);
    }
}
