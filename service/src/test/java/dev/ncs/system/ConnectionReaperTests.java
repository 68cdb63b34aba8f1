package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.system.ConnectionReaper.Connection;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConnectionReaperTests {

    private final ConnectionReaper reaper = new ConnectionReaper(10_000, 4, 1_000);

    @Test
    void aHeadArrivingForLongerThanTheTimeoutIsClosedWhateverTheLoad() {
        List<Connection<String>> open =
                List.of(
                        new Connection<>("slowloris", 500, true, 10_001),
                        new Connection<>("slow but within", 500, true, 9_000),
                        new Connection<>("idle", 50_000, true, -1));
        assertThat(reaper.toClose(open, 1000)).containsExactly("slowloris");
    }

    @Test
    void nearTheLimitTheLongestIdleAreClosedUntilTwiceTheReserveIsFree() {
        List<Connection<String>> open =
                List.of(
                        new Connection<>("idle 2s", 2_000, true, -1),
                        new Connection<>("idle 9s", 9_000, true, -1),
                        new Connection<>("busy", 60_000, false, -1),
                        new Connection<>("just used", 200, true, -1),
                        new Connection<>("head 5s", 5_000, true, 5_000),
                        new Connection<>("idle 7s", 7_000, true, -1),
                        new Connection<>("idle 3s", 3_000, true, -1));
        // 3 free, reserve 4: close until 8 are free, longest-quiet first, never the busy or the
        // recently used
        assertThat(reaper.toClose(open, 3))
                .containsExactly("idle 9s", "idle 7s", "head 5s", "idle 3s", "idle 2s");
        assertThat(new ConnectionReaper(10_000, 2, 1_000).toClose(open, 1))
                .containsExactly("idle 9s", "idle 7s", "head 5s");
    }

    @Test
    void withRoomUnderTheLimitIdleConnectionsStay() {
        List<Connection<String>> open = List.of(new Connection<>("idle", 19_000, true, -1));
        assertThat(reaper.toClose(open, 4)).isEmpty();
    }

    @Test
    void closingStalledHeadsCountsTowardsTheReserve() {
        List<Connection<String>> open =
                List.of(
                        new Connection<>("slowloris", 1_000, true, 11_000),
                        new Connection<>("idle", 5_000, true, -1));
        assertThat(reaper.toClose(open, 2)).containsExactly("slowloris", "idle");
        assertThat(ConnectionReaper.defaultReserve(512)).isEqualTo(64);
        assertThat(ConnectionReaper.defaultReserve(16)).isEqualTo(4);
    }
}
