package dev.ncs.system;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Which open connections to close, from a snapshot of them: the decision, apart from Tomcat.
 *
 * <p>Two rules. A connection whose request head (request line and headers) has been arriving for
 * longer than the head timeout is closed whatever the load: a client that sends a header a byte at
 * a time (slowloris) otherwise holds its slot for as long as it keeps trickling, since Tomcat's
 * timeouts are per read. And when fewer than {@code reserve} slots are free, idle connections —
 * waiting between requests, never used, or in a request head — that have been quiet for at least
 * {@code minIdle} are closed, the longest-quiet first, until {@code 2 × reserve} slots are free: an
 * idle connection costs its holder nothing to reopen, while a client that cannot connect gets
 * nothing at all. Connections with a request being read, run or answered are never chosen.
 */
final class ConnectionReaper {

    /**
     * One open connection.
     *
     * @param handle what the caller closes
     * @param quietMillis time since the last byte read or written
     * @param idle no request past its head: between requests, never used, or sending its head
     * @param headMillis time since the first byte of a request head still arriving; -1 when none is
     */
    record Connection<T>(T handle, long quietMillis, boolean idle, long headMillis) {}

    private final long headTimeoutMillis;
    private final int reserve;
    private final long minIdleMillis;

    ConnectionReaper(long headTimeoutMillis, int reserve, long minIdleMillis) {
        this.headTimeoutMillis = headTimeoutMillis;
        this.reserve = reserve;
        this.minIdleMillis = minIdleMillis;
    }

    /** The free slots kept by default for a connection limit: an eighth of it, at least 4. */
    static int defaultReserve(int maxConnections) {
        return Math.max(4, maxConnections / 8);
    }

    /** The connections to close, given the open ones and how many more the limit allows now. */
    <T> List<T> toClose(List<Connection<T>> open, long freeSlots) {
        List<T> close = new ArrayList<>();
        List<Connection<T>> idle = new ArrayList<>();
        for (Connection<T> connection : open) {
            if (connection.headMillis() > headTimeoutMillis) {
                close.add(connection.handle());
            } else if (connection.idle() && connection.quietMillis() >= minIdleMillis) {
                idle.add(connection);
            }
        }
        long free = freeSlots + close.size();
        if (free < reserve) {
            idle.sort(Comparator.comparingLong(Connection<T>::quietMillis).reversed());
            for (int i = 0; i < idle.size() && free < 2L * reserve; i++, free++) {
                close.add(idle.get(i).handle());
            }
        }
        return close;
    }
}
