package dev.ncs.kernel;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Per-request behaviour.
 *
 * @param defaultTimeout how long a request may wait for a worker and run, when it does not say (the
 *     protocol's {@code timeout} parameter, in microseconds); 0 means no limit
 * @param disconnectCheckInterval how often the connections of requests that are queued or running
 *     are checked for a client that hung up (whose work is then cancelled); 0 turns the check off
 */
@ConfigurationProperties("ncs.requests")
public record RequestsProperties(
        @DefaultValue("60s") Duration defaultTimeout,
        @DefaultValue("100ms") Duration disconnectCheckInterval) {}
