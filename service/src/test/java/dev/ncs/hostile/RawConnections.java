package dev.ncs.hostile;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Many raw HTTP/1.1 connections driven from one thread: what hostile clients put on the wire
 * (nothing, a byte at a time, a head that lies about its body), and what came back on each, read
 * without blocking.
 */
final class RawConnections implements AutoCloseable {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** One connection and everything the server has sent on it. */
    static final class Connection {
        private final SocketChannel channel;
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private final long openedNanos = System.nanoTime();
        private long closedNanos = -1;

        private Connection(SocketChannel channel) {
            this.channel = channel;
        }

        /** The server closed (or reset) the connection. */
        boolean closed() {
            return closedNanos >= 0;
        }

        /** How long after it was opened the server closed it; null while open. */
        Duration closedAfter() {
            return closed() ? Duration.ofNanos(closedNanos - openedNanos) : null;
        }

        /** The status of the first response, -1 until its status line has arrived. */
        int status() {
            byte[] bytes = received.toByteArray();
            if (bytes.length < 12
                    || !new String(bytes, 0, 5, StandardCharsets.ISO_8859_1).equals("HTTP/")) {
                return -1;
            }
            return Integer.parseInt(new String(bytes, 9, 3, StandardCharsets.ISO_8859_1));
        }

        boolean answered() {
            return status() >= 0;
        }

        /** Nothing at all came back. */
        boolean silent() {
            return received.size() == 0;
        }

        /**
         * The "error" of the first response's JSON body (chunked or not), null when there is none.
         */
        String error() {
            String text = received.toString(StandardCharsets.ISO_8859_1);
            int end = text.indexOf("\r\n\r\n");
            if (end < 0) {
                return null;
            }
            String body = text.substring(end + 4);
            if (text.substring(0, end)
                    .toLowerCase(Locale.ROOT)
                    .contains("transfer-encoding: chunked")) {
                body = body.substring(body.indexOf("\r\n") + 2);
            }
            int close = body.lastIndexOf('}');
            try {
                JsonNode json =
                        JSON.readTree(
                                body.substring(0, close + 1).getBytes(StandardCharsets.ISO_8859_1));
                return json.path("error").asString(null);
            } catch (RuntimeException notJson) {
                return null;
            }
        }

        @Override
        public String toString() {
            String text = received.toString(StandardCharsets.ISO_8859_1);
            return (closed() ? "closed after " + closedAfter().toMillis() + " ms, " : "open, ")
                    + (text.isEmpty()
                            ? "nothing received"
                            : "received: " + text.substring(0, Math.min(300, text.length())));
        }
    }

    private final List<Connection> connections = new ArrayList<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocate(64 * 1024);

    /**
     * Opens {@code count} connections to 127.0.0.1:{@code port}, one after the other, at most
     * {@link #OPEN_RATE} a second: as a crowd of clients would, not a burst within milliseconds.
     * Every connection Tomcat accepts gets 512 KiB of fresh direct memory, touched at 0.6 GB/s in
     * this machine kind's VMs, so a real client queued behind hundreds opened at once waits about a
     * millisecond for each (see README, Connections).
     */
    static RawConnections open(int port, int count) throws IOException, InterruptedException {
        RawConnections group = new RawConnections();
        for (int i = 0; i < count; i++) {
            group.add(port);
            Thread.sleep(1000 / OPEN_RATE);
        }
        return group;
    }

    /** Connections opened per second by {@link #open}. */
    static final int OPEN_RATE = 500;

    /**
     * Opens one more connection (a blocking connect: the server may have it wait in its backlog).
     */
    Connection add(int port) throws IOException {
        SocketChannel channel = SocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 16 * 1024);
            channel.connect(new InetSocketAddress("127.0.0.1", port));
            channel.configureBlocking(false);
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        Connection connection = new Connection(channel);
        connections.add(connection);
        return connection;
    }

    List<Connection> all() {
        return connections;
    }

    /** Sends {@code bytes} on every connection the server has not closed. */
    void sendAll(byte[] bytes) throws IOException {
        for (Connection connection : connections) {
            send(connection, bytes);
        }
    }

    /** Sends {@code bytes} on one connection, unless the server closed it; false if it did. */
    boolean send(Connection connection, byte[] bytes) throws IOException {
        if (connection.closed()) {
            return false;
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        try {
            while (buffer.hasRemaining()) {
                if (connection.channel.write(buffer) == 0) {
                    if (System.nanoTime() > end) {
                        throw new IOException("the server took no bytes for 5 s: " + connection);
                    }
                    Thread.sleep(1);
                }
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (IOException reset) {
            if (connection.channel.isOpen() && !reset.getMessage().startsWith("the server took")) {
                connection.closedNanos = System.nanoTime();
                return false;
            }
            throw reset;
        }
    }

    /**
     * Half-closes one connection: the server sees the end of the request's bytes, the answer can
     * still come.
     */
    void shutdownOutput(Connection connection) throws IOException {
        if (!connection.closed()) {
            connection.channel.shutdownOutput();
        }
    }

    /** Reads what has arrived on every connection, noting those the server closed. */
    void poll() {
        for (Connection connection : connections) {
            poll(connection);
        }
    }

    private void poll(Connection connection) {
        if (connection.closed()) {
            return;
        }
        try {
            for (int n; (n = connection.channel.read(readBuffer.clear())) != 0; ) {
                if (n < 0) {
                    connection.closedNanos = System.nanoTime();
                    return;
                }
                connection.received.write(readBuffer.array(), 0, n);
            }
        } catch (IOException reset) {
            connection.closedNanos = System.nanoTime();
        }
    }

    /**
     * Polls until every connection satisfies {@code condition}; false if some still do not at the
     * end.
     */
    boolean await(Predicate<Connection> condition, Duration within) throws InterruptedException {
        long end = System.nanoTime() + within.toNanos();
        while (true) {
            poll();
            if (connections.stream().allMatch(condition)) {
                return true;
            }
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(20);
        }
    }

    /** Connections that do not satisfy {@code condition}, described, at most five. */
    String failing(Predicate<Connection> condition) {
        List<Connection> failing = connections.stream().filter(condition.negate()).toList();
        return failing.size()
                + " of "
                + connections.size()
                + ", e.g. "
                + failing.stream().limit(5).toList();
    }

    @Override
    public void close() throws IOException {
        for (Connection connection : connections) {
            connection.channel.close();
        }
    }
}
