package dev.ncs.system;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * How HTTP connections are held: their buffers, and when one is closed to make room.
 *
 * @param socketBuffer Tomcat's application read and write buffers, each; every open connection
 *     holds both, as direct memory, from accept to close. Unset: {@code max heap / 4096}, between
 *     64 KiB and 256 KiB (256 KiB from a 1 GiB heap)
 * @param headTimeout longest time from the first byte of a request to the end of its headers; a
 *     connection still sending its request line or headers after it is closed, whatever its pace
 * @param reserve connection slots kept free: when fewer are free, idle connections (between
 *     requests, never used, or stalled in a request head) are closed, longest-idle first, until
 *     twice this many are free. 0 = an eighth of the connection limit, at least 4
 * @param minIdle a connection counts as idle only after this long without a byte either way, so a
 *     client that has just connected, or is between two quick requests, keeps its connection;
 *     short, because while a burst of silent connections fills the limit nobody new gets in for
 *     this long
 */
@ConfigurationProperties("ncs.connections")
public record ConnectionsProperties(
        DataSize socketBuffer,
        @DefaultValue("10s") Duration headTimeout,
        @DefaultValue("0") int reserve,
        @DefaultValue("250ms") Duration minIdle) {}
