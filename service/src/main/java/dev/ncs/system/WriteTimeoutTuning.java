package dev.ncs.system;

import dev.ncs.inference.LimitsProperties;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * A write that waits longer than {@code ncs.limits.download-grace} for the client to take a byte fails, and
 * the response is abandoned (its outputs freed): Tomcat's own limit, the 60 s connection timeout, would let a
 * client that reads nothing hold native memory for a minute. See {@link WriteTimeoutProtocol}.
 */
@Component
class WriteTimeoutTuning implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    private final long writeTimeoutMillis;

    WriteTimeoutTuning(LimitsProperties limits) {
        this.writeTimeoutMillis = limits.downloadGrace().toMillis();
    }

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        factory.setProtocol(WriteTimeoutProtocol.class.getName());
        factory.addConnectorCustomizers(connector -> {
            if (connector.getProtocolHandler() instanceof WriteTimeoutProtocol protocol) {
                protocol.setWriteTimeoutMillis(writeTimeoutMillis);
            }
        });
    }
}
