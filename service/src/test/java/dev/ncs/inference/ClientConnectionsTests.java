package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.nativelib.NativeRuntime;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** libncs's connection-state lookup, as ClientConnections uses it, on real loopback connections. */
class ClientConnectionsTests {

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());

    @Test
    void aConnectionIsEstablishedThenClosedByTheClientThenGone() throws Exception {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket server = new ServerSocket(0, 1, loopback)) {
            Socket client = new Socket(loopback, server.getLocalPort());
            try (Socket accepted = server.accept()) {
                assertThat(state(accepted)).isEqualTo(1); // ESTABLISHED
                assertThat(
                                runtime.tcpState(
                                        loopback,
                                        server.getLocalPort(),
                                        loopback,
                                        client.getLocalPort() ^ 1))
                        .as("a connection that does not exist")
                        .isZero();
                client.close();
                Thread.sleep(50);
                assertThat(state(accepted)).isEqualTo(8); // CLOSE_WAIT: the client closed its side
            }
        }
    }

    /**
     * The premise of the probe: data sent to a closed client resets the connection; a half-closed
     * one takes it.
     */
    @Test
    void dataSentAfterTheClientsFinResetsAClosedClientButNotAHalfClosedOne() throws Exception {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket server = new ServerSocket(0, 2, loopback)) {
            Socket closing = new Socket(loopback, server.getLocalPort());
            try (Socket halfClosing = new Socket(loopback, server.getLocalPort());
                    Socket toClosing = server.accept();
                    Socket toHalfClosing = server.accept()) {
                closing.close();
                halfClosing.shutdownOutput();
                Thread.sleep(50);
                assertThat(state(toClosing)).isEqualTo(8);
                assertThat(state(toHalfClosing)).isEqualTo(8);

                byte[] probe =
                        "HTTP/1.1 103 Early Hints\r\n\r\n"
                                .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                toClosing.getOutputStream().write(probe);
                toHalfClosing.getOutputStream().write(probe);
                Thread.sleep(50);

                assertThat(state(toClosing)).as("reset: gone").isZero();
                assertThat(state(toHalfClosing)).as("still reading: CLOSE_WAIT").isEqualTo(8);
                assertThat(halfClosing.getInputStream().readNBytes(probe.length)).isEqualTo(probe);
            }
        }
    }

    @Test
    void addressesOfDifferentFamiliesCannotBeTold() throws Exception {
        assertThat(
                        runtime.tcpState(
                                InetAddress.ofLiteral("127.0.0.1"),
                                1,
                                InetAddress.ofLiteral("::1"),
                                2))
                .isEqualTo(-1);
    }

    private int state(Socket accepted) {
        return runtime.tcpState(
                accepted.getLocalAddress(),
                accepted.getLocalPort(),
                accepted.getInetAddress(),
                accepted.getPort());
    }
}
