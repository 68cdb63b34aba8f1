package dev.ncs.system;

import dev.ncs.inference.Downloads;
import dev.ncs.inference.LimitsProperties;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * Tomcat's side of dropping clients that do not read their responses ({@link Downloads}):
 *
 * <ul>
 *   <li>a write that waits longer than {@code ncs.limits.download-grace} for the client to take a
 *       byte fails (Tomcat's own limit, the 60 s connection timeout, would let a client that reads
 *       nothing hold native memory for a minute; see {@link WriteTimeoutProtocol});
 *   <li>a response abandoned mid-way has its connection closed at once, without flushing what is
 *       buffered ({@link EndConnectionValve}).
 * </ul>
 */
@Component
class SlowReaderTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    private final long writeTimeoutMillis;

    SlowReaderTuning(LimitsProperties limits) {
        this.writeTimeoutMillis = limits.downloadGrace().toMillis();
    }

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        factory.addConnectorCustomizers(connector -> {
            if (connector.getProtocolHandler() instanceof WriteTimeoutProtocol protocol) {
                protocol.setWriteTimeoutMillis(writeTimeoutMillis);
            }
        });
    }
}
