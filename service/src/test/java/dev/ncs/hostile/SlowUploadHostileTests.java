package dev.ncs.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Bodies that arrive a byte a second. They may not hold worker or queue slots (admission comes
 * after the body), and below {@code ncs.limits.min-upload-rate} they are dropped with 408 and a
 * message.
 */
@ParameterizedClass
@EnumSource(Configuration.class)
@Timeout(120)
class SlowUploadHostileTests extends HostileCase {

    /** The minimum upload rate's grace plus the time to fall below it, with room. */
    static final Duration DROPPED_WITHIN = Duration.ofSeconds(45);

    SlowUploadHostileTests(Configuration configuration) {
        super(configuration);
    }

    @Test
    void eightyUploadsTricklingAByteASecondDoNotStarveRealRequests() throws Exception {
        byte[] body =
                ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[16],"
                                + "\"data\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}")
                        .getBytes(StandardCharsets.UTF_8);
        byte[] head =
                ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                + "Content-Length: "
                                + body.length
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1);
        try (Probe probe = probe();
                RawConnections trickle = RawConnections.open(ncs.port, 80)) {
            trickle.sendAll(head);
            long end = System.nanoTime() + DROPPED_WITHIN.toNanos();
            for (int i = 0;
                    i < body.length - 1
                            && System.nanoTime() < end
                            && !trickle.await(RawConnections.Connection::answered, Duration.ZERO);
                    i++) {
                for (RawConnections.Connection connection : trickle.all()) {
                    if (!connection.answered()) {
                        trickle.send(connection, new byte[] {body[i]});
                    }
                }
                if (i == 3) {
                    assertHeapHolds(80);
                }
                Thread.sleep(1000);
            }
            assertThat(trickle.await(RawConnections.Connection::answered, Duration.ofSeconds(1)))
                    .as(
                            "dropped by the server with an answer: %s",
                            trickle.failing(RawConnections.Connection::answered))
                    .isTrue();
            assertThat(trickle.all()).allSatisfy(DeclaredSizeHostileTests::droppedAsTooSlow);
        }
    }
}
