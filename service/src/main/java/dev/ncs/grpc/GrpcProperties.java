package dev.ncs.grpc;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The gRPC server (KServe V2 / Triton's {@code inference.GRPCInferenceService}).
 *
 * @param port the port; 0 picks a free one (tests), read back from {@link GrpcServer#port()}
 * @param address the address to listen on; unset, every interface
 * @param drainTimeout on shutdown, how long calls in progress may take to finish before they are
 *     cancelled
 */
@ConfigurationProperties("ncs.grpc")
public record GrpcProperties(
        @DefaultValue("8081") int port,
        String address,
        @DefaultValue("30s") Duration drainTimeout) {

    public GrpcProperties {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(
                    "ncs.grpc.port must be between 0 and 65535, got " + port);
        }
    }
}
