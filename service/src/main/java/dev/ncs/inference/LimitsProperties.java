package dev.ncs.inference;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Limits on what a request may carry.
 *
 * @param maxRequestSize largest request body accepted (after decompression); larger ones get 413
 * @param maxJsonSize largest JSON part of a body (all of a JSON request, the header of a binary one);
 *     JSON is parsed into a tree several times its size on the heap, so it has its own, lower limit.
 *     Unset: 1/32 of the maximum heap, at most 64 MB
 */
@ConfigurationProperties("ncs.limits")
public record LimitsProperties(@DefaultValue("1GB") DataSize maxRequestSize, DataSize maxJsonSize) {

    static final long DEFAULT_MAX_JSON = 64L * 1024 * 1024;

    long effectiveMaxJsonSize() {
        return maxJsonSize != null ? maxJsonSize.toBytes()
                : Math.min(DEFAULT_MAX_JSON, Runtime.getRuntime().maxMemory() / 32);
    }
}
