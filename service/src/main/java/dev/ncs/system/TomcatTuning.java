package dev.ncs.system;

import org.apache.catalina.core.StandardHost;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * Socket buffers sized for tensors, a connection cap that keeps them affordable, and a protocol
 * that keeps room under the cap.
 *
 * <p>Tomcat reads a body through an 8 KiB buffer by default: a 256 MiB tensor takes 32,768 reads.
 * Bigger buffers cut the reads (a 256 MiB upload over loopback: 0.74–0.83 GB/s with 64 KiB; with
 * 256 KiB and 1 MiB alike, medians 1.45 and 1.44 GB/s in five alternating runs), but every open
 * connection, even one that never sends a byte, holds its read and write buffers as direct memory
 * from accept to close (measured: 2 MiB per idle connection with 1 MiB buffers), plus Tomcat's heap
 * input buffer while a request is read. Direct memory is limited to the heap size by default, and
 * when it runs out Tomcat's acceptor thread dies. So the buffer is sized from the heap ({@code
 * maxHeap / 4096}, between 64 KiB and 256 KiB: 256 KiB from a 1 GiB heap) unless {@code
 * ncs.connections.socket-buffer} is set, and, unless {@code server.tomcat.max-connections} is set,
 * connections are capped so that their buffers can take at most about 3/8 of the heap ({@code
 * maxHeap / (8 × buffer)}: 512 from a 1 GiB heap). Beyond the cap Tomcat stops accepting until a
 * connection closes; {@link ConnectionReapingProtocol} closes idle ones before that happens.
 *
 * <p>Errors Tomcat answers itself (oversized headers) get JSON bodies through {@link
 * JsonErrorReportValve}. A request with {@code Expect: 100-continue} is told to send its body only
 * when the service reads it.
 */
@Component
class TomcatTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    static final int MIN_SOCKET_BUFFER = 64 * 1024;
    static final int MAX_SOCKET_BUFFER = 256 * 1024;

    /** The kernel's socket buffers (SO_RCVBUF, SO_SNDBUF): kernel memory, not the JVM's. */
    static final int KERNEL_BUFFER = 4 * 1024 * 1024;

    /** Tomcat's own default connection limit; never raised above it. */
    static final int TOMCAT_MAX_CONNECTIONS = 8192;

    private final Environment environment;
    private final ConnectionsProperties connections;

    TomcatTuning(Environment environment, ConnectionsProperties connections) {
        this.environment = environment;
        this.connections = connections;
    }

    /** The application socket buffer for a heap of {@code maxHeap} bytes: a power of two. */
    static int socketBuffer(long maxHeap) {
        long wanted = Math.clamp(maxHeap / 4096, MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER);
        return Integer.highestOneBit((int) wanted);
    }

    /** The most connections whose buffers fit in about 3/8 of the heap, at least 16. */
    static int maxConnections(long maxHeap, int socketBuffer) {
        return (int) Math.clamp(maxHeap / (8L * socketBuffer), 16, TOMCAT_MAX_CONNECTIONS);
    }

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        long maxHeap = Runtime.getRuntime().maxMemory();
        int buffer =
                connections.socketBuffer() != null
                        ? Math.toIntExact(connections.socketBuffer().toBytes())
                        : socketBuffer(maxHeap);
        boolean capConnections = !environment.containsProperty("server.tomcat.max-connections");
        factory.setProtocol(ConnectionReapingProtocol.class.getName());
        factory.addEngineValves(new EndConnectionValve());
        factory.addContextCustomizers(context -> {
            if (context.getParent() instanceof StandardHost host) {
                host.setErrorReportValveClass(JsonErrorReportValve.class.getName());
            }
        });
        factory.addConnectorCustomizers(connector -> {
            if (connector.getProtocolHandler() instanceof ConnectionReapingProtocol protocol) {
                protocol.setConnections(connections);
            }
            connector.setProperty("socket.directBuffer", "true");
            connector.setProperty("socket.appReadBufSize", Integer.toString(buffer));
            connector.setProperty("socket.appWriteBufSize", Integer.toString(buffer));
            connector.setProperty("socket.rxBufSize", Integer.toString(KERNEL_BUFFER));
            connector.setProperty("socket.txBufSize", Integer.toString(KERNEL_BUFFER));
            // Tomcat's default sends "100 Continue" before the servlet runs, inviting the body of a
            // request that
            // is then refused unread (413 on its Content-Length, 404, 401). On read, only a body
            // that is wanted is.
            connector.setProperty("continueResponseTiming", "onRead");
            if (capConnections) {
                connector.setProperty(
                        "maxConnections", Integer.toString(maxConnections(maxHeap, buffer)));
            }
        });
    }
}
