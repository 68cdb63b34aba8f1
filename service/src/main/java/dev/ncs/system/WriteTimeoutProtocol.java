package dev.ncs.system;

import java.nio.channels.SocketChannel;
import org.apache.coyote.http11.Http11NioProtocol;
import org.apache.tomcat.util.net.NioEndpoint;
import org.apache.tomcat.util.net.SocketWrapperBase;

/**
 * Tomcat's HTTP/1.1 connector with a write timeout of its own. Tomcat gives every connection its
 * {@code connectionTimeout} (60 s) as the longest a blocked write may wait without progress; a
 * client that reads nothing would hold its response's native memory that long. This endpoint sets
 * the write timeout of each accepted connection to {@link #setWriteTimeoutMillis} instead (read
 * timeouts are untouched). Set by {@link SlowReaderTuning} to {@code ncs.limits.download-grace};
 * the protocol installed is its subclass {@link ConnectionReapingProtocol} ({@link TomcatTuning}).
 */
public class WriteTimeoutProtocol extends Http11NioProtocol {

    private final Endpoint endpoint;

    public WriteTimeoutProtocol() {
        this(new Endpoint());
    }

    private WriteTimeoutProtocol(Endpoint endpoint) {
        super(endpoint);
        this.endpoint = endpoint;
    }

    /**
     * The longest a write may wait for the client to take any byte; 0 or less: the connection
     * timeout.
     */
    public void setWriteTimeoutMillis(long millis) {
        endpoint.writeTimeout = millis;
    }

    public long getWriteTimeoutMillis() {
        return endpoint.writeTimeout;
    }

    private static final class Endpoint extends NioEndpoint {
        private volatile long writeTimeout;

        @Override
        protected boolean setSocketOptions(SocketChannel socket) {
            if (!super.setSocketOptions(socket)) {
                return false;
            }
            // Right after the connection is registered: before its first response, short of a race
            // that would
            // only leave that one response with the connection timeout.
            SocketWrapperBase<?> wrapper = connections.get(socket);
            long timeout = writeTimeout;
            if (wrapper != null && timeout > 0) {
                wrapper.setWriteTimeout(timeout);
            }
            return true;
        }
    }
}
