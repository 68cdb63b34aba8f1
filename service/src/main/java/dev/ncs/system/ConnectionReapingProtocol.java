package dev.ncs.system;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.apache.coyote.Constants;
import org.apache.coyote.Processor;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.net.NioChannel;
import org.apache.tomcat.util.net.NioEndpoint;
import org.apache.tomcat.util.net.SocketEvent;
import org.apache.tomcat.util.net.SocketWrapperBase;

/**
 * Tomcat's NIO HTTP/1.1 protocol with its own write timeout ({@link WriteTimeoutProtocol}) plus a
 * check that closes the connections {@link ConnectionReaper} picks: heads that take too long, and
 * idle connections when the connection limit is near. The free slots are looked at every {@value
 * #CHECK_INTERVAL_MILLIS} ms, so that a burst of silent connections filling the limit (and the
 * accept queue behind it) is drained in tenths of a second; the connections themselves are walked
 * only then, or once a second for the head timeout.
 *
 * <p>A connection is closed the way Tomcat closes one whose read timed out: an {@code ERROR} event
 * is dispatched for it, and a worker handles it under the connection's lock, so a connection is
 * never closed under a request being processed on it (if a request slipped in just before, it is
 * answered first). Public because Tomcat instantiates its protocol by class name.
 */
public class ConnectionReapingProtocol extends WriteTimeoutProtocol {

    static final long CHECK_INTERVAL_MILLIS = 50;

    /** Heads are checked every this many intervals: a second. */
    static final int HEAD_CHECK_EVERY = 20;

    private static final Log log = LogFactory.getLog(ConnectionReapingProtocol.class);

    private volatile ConnectionsProperties settings;
    private ScheduledFuture<?> check;
    private int checks;

    void setConnections(ConnectionsProperties settings) {
        this.settings = settings;
    }

    @Override
    public void start() throws Exception {
        super.start();
        if (settings != null) {
            check =
                    getUtilityExecutor()
                            .scheduleWithFixedDelay(
                                    this::checkConnections,
                                    CHECK_INTERVAL_MILLIS,
                                    CHECK_INTERVAL_MILLIS,
                                    TimeUnit.MILLISECONDS);
        }
    }

    @Override
    public void stop() throws Exception {
        if (check != null) {
            check.cancel(false);
        }
        super.stop();
    }

    private void checkConnections() {
        try {
            int max = getMaxConnections();
            int reserve =
                    settings.reserve() > 0
                            ? settings.reserve()
                            : ConnectionReaper.defaultReserve(max);
            ConnectionReaper reaper =
                    new ConnectionReaper(
                            settings.headTimeout().toMillis(),
                            reserve,
                            settings.minIdle().toMillis());
            long free = max < 0 ? Long.MAX_VALUE : max - getEndpoint().getConnectionCount();
            if (free >= reserve && ++checks % HEAD_CHECK_EVERY != 0) {
                return;
            }
            List<SocketWrapperBase<NioChannel>> close = reaper.toClose(snapshot(), free);
            for (SocketWrapperBase<NioChannel> connection : close) {
                connection.processSocket(SocketEvent.ERROR, true);
            }
            if (!close.isEmpty() && log.isDebugEnabled()) {
                log.debug(
                        "closed "
                                + close.size()
                                + " idle or stalled connections; "
                                + free
                                + " slots were free");
            }
        } catch (RuntimeException e) {
            // the check runs again in CHECK_INTERVAL_MILLIS; a failure must not cancel the schedule
            log.warn("connection check failed", e);
        }
    }

    private List<ConnectionReaper.Connection<SocketWrapperBase<NioChannel>>> snapshot() {
        long now = System.currentTimeMillis();
        long nanoNow = System.nanoTime();
        List<ConnectionReaper.Connection<SocketWrapperBase<NioChannel>>> open = new ArrayList<>();
        for (SocketWrapperBase<NioChannel> wrapper : getEndpoint().getConnections()) {
            if (wrapper.isClosed() || !(wrapper instanceof NioEndpoint.NioSocketWrapper nio)) {
                continue;
            }
            long quiet = now - Math.max(nio.getLastRead(), nio.getLastWrite());
            Object current = wrapper.getCurrentProcessor();
            if (current == null) {
                open.add(new ConnectionReaper.Connection<>(wrapper, quiet, true, -1));
            } else if (current instanceof Processor processor && inHead(processor)) {
                long started = processor.getRequest().getStartTimeNanos();
                // -1 until the first byte of the request line has arrived
                long head =
                        started != -1 ? TimeUnit.NANOSECONDS.toMillis(nanoNow - started) : quiet;
                open.add(new ConnectionReaper.Connection<>(wrapper, quiet, true, head));
            }
        }
        return open;
    }

    /**
     * A processor kept on its connection while no request is under way: a head arrived in part
     * (Tomcat parses heads without blocking, returns the thread, and marks the stage ended until
     * more bytes come). Async and upgraded requests also keep their processor with the stage ended,
     * and are not idle.
     */
    private static boolean inHead(Processor processor) {
        int stage = processor.getRequest().getRequestProcessor().getStage();
        return !processor.isAsync()
                && !processor.isUpgrade()
                && (stage == Constants.STAGE_PARSE || stage == Constants.STAGE_ENDED);
    }
}
