package dev.ncs.inference;

import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.RequestsProperties;
import dev.ncs.nativelib.NativeRuntime;
import jakarta.servlet.http.HttpServletRequest;
import java.net.InetAddress;
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
 * request waiting for its kernel does neither. So one thread asks the kernel, every interval, for
 * the state of each watched request's connection ({@link NativeRuntime#tcpState}: one exact
 * NETLINK_SOCK_DIAG lookup each, microseconds; reading {@code /proc/net/tcp} instead walks the whole
 * connection table, milliseconds per read, and took 5–10% off a two-core matmul). A connection the
 * client closed is in {@code CLOSE_WAIT}; one it reset is gone. Where the lookup is not available the
 * check turns itself off.
 *
 * <p>A client that half-closes (shuts down only its sending side) after a complete request looks the same
 * ({@code CLOSE_WAIT}), and is cancelled too, with a 499 that says why. Only bytes sent to the client would
 * tell the two apart (a closed socket answers them with a reset), and before the answer HTTP/1.1 allows only
 * 1xx interim responses, which Triton's Python client (geventhttpclient) refuses whatever their code ("a new
 * response began before end of" the 1xx) and Python's http.client takes for the final answer when it is not
 * 100. Cancelling work nobody may read is the safer error: a kernel left running for a client that hung up
 * holds a worker until its deadline, and HTTP clients do not half-close.
 */
@Component
class ClientConnections implements DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(ClientConnections.class);
    private static final int ESTABLISHED = 1;

    /** The open connection a request came on. */
    record Connection(InetAddress localAddress, int localPort, InetAddress remoteAddress, int remotePort) {
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
        scanner = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("ncs-disconnects").daemon()
                .factory());
        scanner.scheduleWithFixedDelay(this::check, interval, interval, TimeUnit.MILLISECONDS);
    }

    /** Watches {@code request}'s connection: if its client hangs up, {@code cancellation} is cancelled. */
    Watch watch(HttpServletRequest request, Cancellation cancellation) {
        Connection connection = null;
        if (scanner != null && available) {
            try {
                connection = new Connection(InetAddress.ofLiteral(request.getLocalAddr()), request.getLocalPort(),
                        InetAddress.ofLiteral(request.getRemoteAddr()), request.getRemotePort());
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

    private void check() {
        try {
            for (Watch watch : watches) {
                Connection c = watch.connection;
                int state = runtime.tcpState(c.localAddress(), c.localPort(), c.remoteAddress(), c.remotePort());
                if (state < 0) {
                    available = false;
                    watches.clear();
                    log.info("this system cannot tell a connection's state: requests of clients that hang up are "
                            + "not cancelled");
                    return;
                }
                if (state == ESTABLISHED) {
                    watch.seen = true;
                } else if (watch.seen || state != 0) {
                    watches.remove(watch);
                    watch.cancellation.cancel("the client closed the connection (or shut down its sending side, which "
                            + "looks the same: keep it open until the answer)");
                }
            }
        } catch (RuntimeException e) {
            log.warn("checking for clients that hung up failed", e);
        }
    }

    @Override
    public void destroy() {
        if (scanner != null) {
            scanner.shutdownNow();
        }
    }
}
