package dev.ncs.inference;

import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.RequestsProperties;
import dev.ncs.nativelib.NativeRuntime;
import jakarta.servlet.http.HttpServletRequest;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * Notices clients that hang up while their request is queued or running, so that its native work is
 * cancelled at once instead of running on for nobody.
 *
 * <p>A blocking servlet learns of a closed connection only when it next reads or writes, and a
 * request waiting for its kernel does neither. So one thread asks the kernel, every interval, for
 * the state of each watched request's connection ({@link NativeRuntime#tcpState}: one exact
 * NETLINK_SOCK_DIAG lookup each, microseconds; reading {@code /proc/net/tcp} instead walks the
 * whole connection table, milliseconds per read, and took 5–10% off a two-core matmul). A
 * connection the client reset is gone. Where the lookup is not available the check turns itself
 * off.
 *
 * <p>A connection in {@code CLOSE_WAIT} received the client's FIN: either it closed the socket (a
 * hang-up) or it only shut down its sending side after a complete request (a half-close) and still
 * reads. Only bytes sent tell them apart: a closed socket answers them with a reset, a half-closed
 * one takes them. Before the answer HTTP/1.1 allows only 1xx interim responses, so such a
 * connection is sent one {@code 103 Early Hints} (RFC 8297; clients must skip a 1xx they do not
 * expect, RFC 9110 §15.2) and checked again soon after: gone means a hang-up (cancelled), still
 * {@code CLOSE_WAIT} a half-close (it gets its answer). Only connections that already sent their
 * FIN see the probe; the clients that choke on an unexpected 1xx — geventhttpclient (Triton's
 * Python client) refuses any, Python's http.client takes a 103 for the answer — never half-close.
 * HTTP/1.0 clients may not be sent a 1xx (RFC 9110 §15.2) and TLS connections cannot be written to
 * from outside their TLS engine: theirs is taken for a hang-up, as before.
 *
 * <p>Tomcat 11 buffers an early hint (sendError(103)) until the response is flushed, and flushing
 * commits the response; so the probe goes straight onto the connection's socket ({@link
 * NativeRuntime#tcpSend}), before anything of the response was written. It is sent from the
 * checking thread while the request's thread waits for its kernel; the watch's lock keeps the two
 * apart: the request's thread closes the watch (under the lock) before it writes its answer, and a
 * closed watch is never probed, so the probe never interleaves with the response, and never reaches
 * a socket Tomcat has closed (or reused).
 */
@Component
class ClientConnections implements DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(ClientConnections.class);
    private static final int ESTABLISHED = 1;
    private static final int CLOSE_WAIT = 8;
    private static final byte[] PROBE =
            "HTTP/1.1 103 Early Hints\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    /**
     * How soon after a probe its connection is checked again: a loopback reset takes microseconds.
     */
    private static final long PROBE_RECHECK_MILLIS = 10;

    /** The open connection a request came on. */
    record Connection(
            InetAddress localAddress, int localPort, InetAddress remoteAddress, int remotePort) {}

    /**
     * One watched request; close it when the request's native work is over, before writing the
     * answer.
     */
    final class Watch implements AutoCloseable {
        private final Connection connection;
        private final Cancellation cancellation;

        /** Whether a probe may be sent (HTTP/1.1 without TLS). */
        private final boolean probeable;

        /** Checking thread only. */
        private boolean seen;

        private boolean probed;

        /** Guarded by this watch. */
        private boolean closed;

        private Watch(Connection connection, Cancellation cancellation, boolean probeable) {
            this.connection = connection;
            this.cancellation = cancellation;
            this.probeable = probeable;
        }

        /**
         * Sends the 103 unless the request's thread has taken its connection back; false if it
         * could not.
         */
        private synchronized boolean probe() {
            if (closed) {
                return true;
            }
            Connection c = connection;
            return runtime.tcpSend(
                            c.localAddress(),
                            c.localPort(),
                            c.remoteAddress(),
                            c.remotePort(),
                            PROBE)
                    == PROBE.length;
        }

        @Override
        public void close() {
            synchronized (this) {
                closed = true;
            }
            watches.remove(this);
        }
    }

    private final NativeRuntime runtime;
    private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService scanner;
    private volatile boolean available = true;

    ClientConnections(RequestsProperties properties, NativeRuntime runtime) {
        this.runtime = runtime;
        long interval = properties.disconnectCheckInterval().toMillis();
        if (interval <= 0) {
            scanner = null;
            return;
        }
        scanner =
                Executors.newSingleThreadScheduledExecutor(
                        Thread.ofPlatform().name("ncs-disconnects").daemon().factory());
        scanner.scheduleWithFixedDelay(this::check, interval, interval, TimeUnit.MILLISECONDS);
    }

    /**
     * Watches {@code request}'s connection: if its client hangs up, {@code cancellation} is
     * cancelled.
     */
    Watch watch(HttpServletRequest request, Cancellation cancellation) {
        Connection connection = null;
        if (scanner != null && available) {
            try {
                connection =
                        new Connection(
                                InetAddress.ofLiteral(request.getLocalAddr()),
                                request.getLocalPort(),
                                InetAddress.ofLiteral(request.getRemoteAddr()),
                                request.getRemotePort());
            } catch (IllegalArgumentException e) {
                log.debug(
                        "not watching a request from {}: {}",
                        request.getRemoteAddr(),
                        e.getMessage());
            }
        }
        Watch watch =
                new Watch(
                        connection,
                        cancellation,
                        "HTTP/1.1".equals(request.getProtocol()) && !request.isSecure());
        if (connection != null) {
            watches.add(watch);
        }
        return watch;
    }

    private void check() {
        boolean probed = false;
        try {
            for (Watch watch : watches) {
                Connection c = watch.connection;
                int state =
                        runtime.tcpState(
                                c.localAddress(), c.localPort(), c.remoteAddress(), c.remotePort());
                if (state < 0) {
                    available = false;
                    watches.clear();
                    log.info(
                            "this system cannot tell a connection's state: requests of clients that hang up are "
                                    + "not cancelled");
                    return;
                }
                if (state == ESTABLISHED) {
                    watch.seen = true;
                } else if (state == CLOSE_WAIT && watch.probeable && !watch.probed) {
                    watch.probed = true;
                    watch.seen = true;
                    if (watch.probe()) {
                        probed = true;
                    } else {
                        watches.remove(watch);
                        watch.cancellation.cancel("the client closed the connection");
                    }
                } else if (state == CLOSE_WAIT && watch.probed) {
                    continue; // took the probe: a half-close, answered when the kernel is done
                } else if (watch.seen || state != 0) {
                    watches.remove(watch);
                    watch.cancellation.cancel("the client closed the connection");
                }
            }
        } catch (RuntimeException e) {
            log.warn("checking for clients that hung up failed", e);
        }
        if (probed && !scanner.isShutdown()) {
            try {
                scanner.schedule(this::check, PROBE_RECHECK_MILLIS, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException shuttingDown) {
                // the service is stopping: no more checks
            }
        }
    }

    @Override
    public void destroy() {
        if (scanner != null) {
            scanner.shutdownNow();
        }
    }
}
