package dev.ncs.system;

import org.apache.catalina.core.StandardHost;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * Socket buffers sized for tensors, and a connection cap that keeps them affordable.
 *
 * <p>Tomcat reads a body through an 8 KiB buffer by default: a 256 MiB tensor takes 32,768 reads.
 * Bigger buffers cut the reads (64 KiB: 0.77 GB/s, 1 MiB: 1.17 GB/s for a 256 MiB upload over
 * loopback), but every open connection, even an idle one, holds its buffers: about three times the
 * buffer size (direct read and write buffers, plus Tomcat's heap input buffer). So the buffer is
 * sized from the heap ({@code maxHeap / 1024}, between 64 KiB and 1 MiB: 1 MiB from a 1 GiB heap)
 * and, unless {@code server.tomcat.max-connections} is set, connections are capped so that their
 * buffers can take at most about 3/8 of the heap ({@code maxHeap / (8 × buffer)}). Beyond the cap
 * Tomcat stops accepting until a connection closes; the kernel queues the rest.
 *
 * <p>Errors Tomcat answers itself (oversized headers) get JSON bodies through {@link JsonErrorReportValve}. A
 * request with {@code Expect: 100-continue} is told to send its body only when the service reads it.
 */
@Component
class TomcatTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    static final int MIN_SOCKET_BUFFER = 64 * 1024;
    static final int MAX_SOCKET_BUFFER = 1024 * 1024;
    /** The kernel's socket buffers (SO_RCVBUF, SO_SNDBUF): kernel memory, not the JVM's. */
    static final int KERNEL_BUFFER = 4 * 1024 * 1024;
    /** Tomcat's own default connection limit; never raised above it. */
    static final int TOMCAT_MAX_CONNECTIONS = 8192;

    private final Environment environment;

    TomcatTuning(Environment environment) {
        this.environment = environment;
    }

    /** The application socket buffer for a heap of {@code maxHeap} bytes: a power of two. */
    static int socketBuffer(long maxHeap) {
        long wanted = Math.clamp(maxHeap / 1024, MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER);
        return Integer.highestOneBit((int) wanted);
    }

    /** The most connections whose buffers fit in about 3/8 of the heap, at least 16. */
    static int maxConnections(long maxHeap, int socketBuffer) {
        return (int) Math.clamp(maxHeap / (8L * socketBuffer), 16, TOMCAT_MAX_CONNECTIONS);
    }

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        long maxHeap = Runtime.getRuntime().maxMemory();
        int buffer = socketBuffer(maxHeap);
        boolean capConnections = !environment.containsProperty("server.tomcat.max-connections");
        factory.addEngineValves(new EndConnectionValve());
        factory.addContextCustomizers(context -> {
            if (context.getParent() instanceof StandardHost host) {
                host.setErrorReportValveClass(JsonErrorReportValve.class.getName());
            }
        });
        factory.addConnectorCustomizers(connector -> {
            connector.setProperty("socket.directBuffer", "true");
            connector.setProperty("socket.appReadBufSize", Integer.toString(buffer));
            connector.setProperty("socket.appWriteBufSize", Integer.toString(buffer));
            connector.setProperty("socket.rxBufSize", Integer.toString(KERNEL_BUFFER));
            connector.setProperty("socket.txBufSize", Integer.toString(KERNEL_BUFFER));
            // Tomcat's default sends "100 Continue" before the servlet runs, inviting the body of a request that
            // is then refused unread (413 on its Content-Length, 404, 401). On read, only a body that is wanted is.
            connector.setProperty("continueResponseTiming", "onRead");
            if (capConnections) {
                connector.setProperty("maxConnections", Integer.toString(maxConnections(maxHeap, buffer)));
            }
        });
    }
}
