package dev.ncs.execution;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The native worker pool.
 *
 * @param threads platform threads running native code; 0 means one per available core
 * @param queueCapacity requests that may wait for a worker; beyond it requests get 503
 */
@ConfigurationProperties("ncs.workers")
public record WorkersProperties(
        @DefaultValue("0") int threads, @DefaultValue("64") int queueCapacity) {

    public WorkersProperties {
        if (threads < 0) {
            throw new IllegalArgumentException(
                    "ncs.workers.threads must be >= 0 (0 = one per core), got " + threads);
        }
        if (queueCapacity < 0) {
            throw new IllegalArgumentException(
                    "ncs.workers.queue-capacity must be >= 0, got " + queueCapacity);
        }
    }

    public int effectiveThreads() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }
}
