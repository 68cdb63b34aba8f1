package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ClientConnectionsTests {

    @Test
    void readsIpv4AndIpv6TablesIncludingMappedAddresses() throws Exception {
        Map<ClientConnections.Connection, Integer> states = new HashMap<>();
        ClientConnections.parse(List.of(
                "  sl  local_address rem_address   st tx_queue rx_queue",
                "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0",
                "   1: 0100007F:1F90 0100007F:D431 08 00000000:00000000 00:00000000 00000000     0",
                "   2: 0A01A8C0:1F90 6401A8C0:0050 01 00000000:00000000 00:00000000 00000000     0",
                "   3: 0100007F:1F91 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0"), Set.of(8080), states);
        ClientConnections.parse(List.of(
                "  sl  local_address                         remote_address                        st",
                "   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:C350 01 0",
                "   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A000 08 0",
                "   2: garbage"), Set.of(8080), states);

        InetAddress loopback = InetAddress.ofLiteral("127.0.0.1");
        assertThat(states).containsEntry(new ClientConnections.Connection(8080, loopback, 0xD431), 0x08)
                .containsEntry(new ClientConnections.Connection(8080, InetAddress.ofLiteral("192.168.1.100"), 80), 0x01)
                .containsEntry(new ClientConnections.Connection(8080, InetAddress.ofLiteral("127.0.0.2"), 0xC350), 0x01)
                .containsEntry(new ClientConnections.Connection(8080, InetAddress.ofLiteral("::1"), 0xA000), 0x08)
                .hasSize(5) // the four above and the listening socket; the connection on port 8081 is skipped
                .doesNotContainKey(new ClientConnections.Connection(0x1F91, loopback, 0xD432));
    }

    @Test
    void theLiveTableListsAConnectionOfOurOwn() throws Exception {
        try (var server = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                var client = new java.net.Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
                var accepted = server.accept()) {
            var key = new ClientConnections.Connection(server.getLocalPort(), InetAddress.getLoopbackAddress(),
                    client.getLocalPort());
            assertThat(ClientConnections.readStates(Set.of(server.getLocalPort()))).containsEntry(key, 0x01);
            client.close();
            Thread.sleep(50);
            assertThat(ClientConnections.readStates(Set.of(server.getLocalPort()))).containsEntry(key, 0x08);
        }
    }
}
