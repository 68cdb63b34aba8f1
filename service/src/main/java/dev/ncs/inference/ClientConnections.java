package dev.ncs.inference;

import dev.ncs.execution.Cancellation;
import dev.ncs.kernel.RequestsProperties;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * Notices clients that hang up while their request is queued or running, so that its native work
 * is cancelled at once instead of running on for nobody.
 *
 * <p>A blocking servlet learns of a closed connection only when it next reads or writes, and a
 * request waiting for its kernel does neither. So one thread looks at the kernel's TCP table
 * ({@code /proc/net/tcp} and {@code tcp6}, one read per interval for all watched requests): a
 * connection the client closed is in {@code CLOSE_WAIT}, one it reset is gone. Where that table
 * does not exist the check is off. A client that half-closes (shuts down only its sending side)
 * while waiting for its answer looks like one that left; HTTP clients do not do that.
 */
@Component
class ClientConnections implements DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(ClientConnections.class);
    private static final List<Path> TABLES = List.of(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));
    private static final int CLOSE_WAIT = 0x08;

    /** The open connection a request came on, as the kernel's table names it. */
    record Connection(int localPort, InetAddress remoteAddress, int remotePort) {
    }

    /** One watched request; close it when the request's native work is over. */
    final class Watch implements AutoCloseable {
        private final Connection connection;
        private final Cancellation cancellation;
        private boolean seen;

        private Watch(Connection connection, Cancellation cancellation) {
            this.connection = connection;
            this.cancellation = cancellation;
        }

        @Override
        public void close() {
            watches.remove(this);
        }
    }

    private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService scanner;

    ClientConnections(RequestsProperties properties) {
        long interval = properties.disconnectCheckInterval().toMillis();
        if (interval <= 0 || !Files.isReadable(TABLES.getFirst())) {
            scanner = null;
            if (interval > 0) {
                log.info("{} is not readable: requests of clients that hang up are not cancelled", TABLES.getFirst());
            }
            return;
        }
        scanner = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("ncs-disconnects").daemon()
                .factory());
        scanner.scheduleWithFixedDelay(this::scan, interval, interval, TimeUnit.MILLISECONDS);
    }

    /** Watches {@code request}'s connection: if its client hangs up, {@code cancellation} is cancelled. */
    Watch watch(HttpServletRequest request, Cancellation cancellation) {
        Connection connection = null;
        if (scanner != null) {
            try {
                connection = new Connection(request.getLocalPort(), InetAddress.ofLiteral(request.getRemoteAddr()),
                        request.getRemotePort());
            } catch (IllegalArgumentException e) {
                log.debug("not watching a request from {}: {}", request.getRemoteAddr(), e.getMessage());
            }
        }
        Watch watch = new Watch(connection, cancellation);
        if (connection != null) {
            watches.add(watch);
        }
        return watch;
    }

    private void scan() {
        if (watches.isEmpty()) {
            return;
        }
        try {
            Set<Integer> ports = new HashSet<>();
            watches.forEach(watch -> ports.add(watch.connection.localPort()));
            Map<Connection, Integer> states = readStates(ports);
            for (Watch watch : watches) {
                Integer state = states.get(watch.connection);
                if (state == null ? watch.seen : state == CLOSE_WAIT) {
                    watches.remove(watch);
                    watch.cancellation.cancel("the client closed the connection");
                } else if (state != null) {
                    watch.seen = true;
                }
            }
        } catch (IOException | RuntimeException e) {
            log.warn("checking for clients that hung up failed", e);
        }
    }

    /**
     * The state of every TCP connection on one of {@code localPorts}, by its local port and remote end.
     * A busy server's table lists thousands of connections (most in TIME_WAIT), so lines on other ports
     * are skipped before they are split.
     */
    static Map<Connection, Integer> readStates(Set<Integer> localPorts) throws IOException {
        Map<Connection, Integer> states = new HashMap<>();
        for (Path table : TABLES) {
            if (Files.isReadable(table)) {
                parse(Files.readAllLines(table), localPorts, states);
            }
        }
        return states;
    }

    /** Parses lines of {@code /proc/net/tcp} or {@code tcp6} ({@code sl local rem st ...}, header first). */
    static void parse(List<String> lines, Set<Integer> localPorts, Map<Connection, Integer> into) {
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            int localColon = line.indexOf(':', line.indexOf(':') + 1);
            if (localColon < 0 || localColon + 5 > line.length()) {
                continue;
            }
            int localPort;
            try {
                localPort = Integer.parseInt(line, localColon + 1, localColon + 5, 16);
            } catch (NumberFormatException e) {
                continue;
            }
            if (!localPorts.contains(localPort)) {
                continue;
            }
            String[] fields = line.trim().split("\\s+");
            int remoteColon = fields.length < 4 ? -1 : fields[2].indexOf(':');
            if (remoteColon < 0) {
                continue;
            }
            try {
                InetAddress remote = address(fields[2].substring(0, remoteColon));
                int remotePort = Integer.parseInt(fields[2].substring(remoteColon + 1), 16);
                into.put(new Connection(localPort, remote, remotePort), Integer.parseInt(fields[3], 16));
            } catch (IllegalArgumentException | UnknownHostException e) {
                log.debug("unreadable TCP table line: {}", lines.get(i));
            }
        }
    }

    /**
     * An address as the table prints it: 32-bit words in hex, each in the host's (little-endian) byte
     * order. An IPv4-mapped IPv6 address comes back as the IPv4 address, as the servlet reports it.
     */
    static InetAddress address(String hex) throws UnknownHostException {
        byte[] bytes = HexFormat.of().parseHex(hex);
        for (int word = 0; word + 4 <= bytes.length; word += 4) {
            for (int i = 0; i < 2; i++) {
                byte swap = bytes[word + i];
                bytes[word + i] = bytes[word + 3 - i];
                bytes[word + 3 - i] = swap;
            }
        }
        return InetAddress.getByAddress(bytes);
    }

    @Override
    public void destroy() {
        if (scanner != null) {
            scanner.shutdownNow();
        }
    }
}
