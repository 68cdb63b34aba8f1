package dev.ncs.system;

import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * Socket buffers sized for tensors. Tomcat reads a request body through an 8 KiB buffer by default:
 * a 256 MiB binary tensor would take 32,768 reads. Larger buffers let each read move more bytes from
 * the socket into the tensor's native memory.
 */
@Component
class TomcatTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    static final int READ_BUFFER = 1024 * 1024;

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        factory.addConnectorCustomizers(connector -> {
            connector.setProperty("socket.appReadBufSize", Integer.toString(READ_BUFFER));
            connector.setProperty("socket.appWriteBufSize", Integer.toString(READ_BUFFER));
            connector.setProperty("socket.directBuffer", "true");
            connector.setProperty("socket.rxBufSize", Integer.toString(4 * READ_BUFFER));
            connector.setProperty("socket.txBufSize", Integer.toString(4 * READ_BUFFER));
        });
    }
}
