package dev.ncs.system;

import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * Socket buffers sized for tensors. Tomcat reads a body through an 8 KiB heap buffer by default, which
 * the JDK then fills through a temporary direct buffer: a 256 MiB tensor takes 32,768 reads and an
 * extra copy. Direct 64 KiB buffers cut both; bigger ones gain little and cost every connection
 * (even an idle one) their size in direct memory, plus the same on the heap for Tomcat's input buffer.
 */
@Component
class TomcatTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    static final int SOCKET_BUFFER = 256 * 1024;
    /** The kernel's socket buffers (SO_RCVBUF, SO_SNDBUF): kernel memory, not the JVM's. */
    static final int KERNEL_BUFFER = 4 * 1024 * 1024;

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        factory.addConnectorCustomizers(connector -> {
            connector.setProperty("socket.directBuffer", "true");
            connector.setProperty("socket.appReadBufSize", Integer.toString(SOCKET_BUFFER));
            connector.setProperty("socket.appWriteBufSize", Integer.toString(SOCKET_BUFFER));
            connector.setProperty("socket.rxBufSize", Integer.toString(KERNEL_BUFFER));
            connector.setProperty("socket.txBufSize", Integer.toString(KERNEL_BUFFER));
        });
    }
}
