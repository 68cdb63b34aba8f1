package dev.ncs.inference;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Limits on what a request may carry.
 *
 * @param maxRequestSize largest request body accepted; larger ones get 413
 */
@ConfigurationProperties("ncs.limits")
public record LimitsProperties(@DefaultValue("64MB") DataSize maxRequestSize) {
}
