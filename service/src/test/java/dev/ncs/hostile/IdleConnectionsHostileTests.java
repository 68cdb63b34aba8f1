package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Connections that hold a slot and do nothing: idle keep-alive connections, connections that never
 * send a byte, and request heads sent a byte at a time (slowloris). None may keep a new client from
 * connecting and being answered within a second.
 */
@ParameterizedClass
@EnumSource(Configuration.class)
@Timeout(90)
class IdleConnectionsHostileTests extends HostileCase {

    /**
     * server.tomcat.connection-timeout and ncs.connections.head-timeout as shipped (10 s), plus
     * slack: Tomcat looks for timed-out connections about once a second, heads are checked once a
     * second, and connections opened in a burst may wait in the accept queue first. Tomcat's own
     * default was 60 s.
     */
    private static final Duration CLOSED_WITHIN = Duration.ofSeconds(15);

    IdleConnectionsHostileTests(Configuration configuration) {
        super(configuration);
    }

    @Test
    void aThousandIdleKeepAliveConnectionsLeaveRoomForNewClients() throws Exception {
        byte[] ready =
                "GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections idle = new RawConnections()) {
            // Opened at RawConnections.OPEN_RATE, not all within 80 ms: a probe queued behind a
            // burst of 1,000
            // waited 1.0-1.3 s for their buffers to be allocated (see RawConnections.open).
            for (int i = 0; i < 1000; i++) {
                idle.send(idle.add(ncs.port), ready);
                Thread.sleep(1000 / RawConnections.OPEN_RATE);
            }
            // each was answered (some then closed as idle to make room, beyond the connection
            // limit)
            assertThat(idle.await(RawConnections.Connection::answered, Duration.ofSeconds(30)))
                    .as(
                            "every keep-alive request answered: %s",
                            idle.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(idle.all()).allSatisfy(c -> assertThat(c.status()).isEqualTo(200));
            assertHeapHolds(0);
            Thread.sleep(3000); // idle, at the limit or below it, while the probe keeps connecting
        }
    }

    @Test
    void connectionsThatSendNothingAreClosedWithinTheConnectionTimeout() throws Exception {
        try (Probe probe = probe();
                RawConnections silent = RawConnections.open(ncs.port, 600)) {
            assertHeapHolds(0);
            assertThat(
                            silent.await(
                                    RawConnections.Connection::closed,
                                    CLOSED_WITHIN.plusSeconds(5)))
                    .as(
                            "closed by the server: %s",
                            silent.failing(RawConnections.Connection::closed))
                    .isTrue();
            // closed without an answer (there was no request) and not held past the timeout
            Predicate<RawConnections.Connection> inTime =
                    c -> c.silent() && c.closedAfter().compareTo(CLOSED_WITHIN) <= 0;
            assertThat(silent.all())
                    .as("closed in time: %s", silent.failing(inTime))
                    .allMatch(inTime);
        }
    }

    @Test
    void slowlorisHeadsAreClosedWithinTheHeadTimeout() throws Exception {
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                + "X-Slow: ")
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections slow = RawConnections.open(ncs.port, 200)) {
            slow.sendAll(new byte[] {head[0]});
            long end = System.nanoTime() + CLOSED_WITHIN.plusSeconds(5).toNanos();
            // a byte a second on each: every read succeeds, so only a limit on the whole head ends
            // it
            for (int i = 1;
                    System.nanoTime() < end
                            && !slow.await(RawConnections.Connection::closed, Duration.ZERO);
                    i++) {
                for (RawConnections.Connection connection : slow.all()) {
                    slow.send(connection, new byte[] {i < head.length ? head[i] : (byte) 'a'});
                }
                if (i == 3) {
                    assertHeapHolds(200);
                }
                Thread.sleep(1000);
            }
            assertThat(slow.await(RawConnections.Connection::closed, Duration.ZERO))
                    .as("closed by the server: %s", slow.failing(RawConnections.Connection::closed))
                    .isTrue();
            Predicate<RawConnections.Connection> inTime =
                    c -> c.silent() && c.closedAfter().compareTo(CLOSED_WITHIN) <= 0;
            assertThat(slow.all()).as("closed in time: %s", slow.failing(inTime)).allMatch(inTime);
        }
    }
}
