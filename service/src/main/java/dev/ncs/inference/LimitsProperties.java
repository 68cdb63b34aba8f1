package dev.ncs.inference;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Limits on what a request may carry.
 *
 * @param maxRequestSize largest request body accepted (after decompression); larger ones get 413
 * @param maxJsonSize largest JSON part of a body (all of a JSON request, the header of a binary one);
 *     JSON is parsed into a tree several times its size on the heap, so it has its own, lower limit
 */
@ConfigurationProperties("ncs.limits")
public record LimitsProperties(@DefaultValue("1GB") DataSize maxRequestSize, @DefaultValue("64MB") DataSize maxJsonSize) {
}
