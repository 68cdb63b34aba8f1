package dev.ncs.memory;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeMemory;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.boot.actuate.endpoint.InvalidEndpointRequestException;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.stereotype.Component;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code /actuator/nativememory} on the management port, like Python's {@code tracemalloc}
 * statistics: live native buffers grouped by owner ({@code java:<kernel>} for buffers the service
 * holds, {@code kernel:<name>} scratch, {@code kernel:<name>/output}, ...), with counts and bytes.
 * Each read is kept under an id; {@code /actuator/nativememory/{id}} is the difference from that
 * snapshot to now.
 */
@Component
@Endpoint(id = "nativememory")
class NativeMemoryEndpoint {

    private static final int KEPT = 32;

    /** One owner's live buffers. */
    record Group(String owner, long count, long bytes) {}

    record Snapshot(long id, Instant takenAt, long count, long bytes, List<Group> groups) {}

    record Difference(
            long since,
            Instant sinceTakenAt,
            Instant now,
            long countDiff,
            long bytesDiff,
            List<Group> groups) {}

    private final NativeMemory memory;
    private final NativeExecutor executor;
    private final JsonMapper json;
    private final AtomicLong ids = new AtomicLong();
    private final Map<Long, Snapshot> kept =
            new LinkedHashMap<>(KEPT, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<Long, Snapshot> eldest) {
                    return size() > KEPT;
                }
            };

    NativeMemoryEndpoint(NativeMemory memory, NativeExecutor executor, JsonMapper json) {
        this.memory = memory;
        this.executor = executor;
        this.json = json;
    }

    @ReadOperation
    Snapshot snapshot() {
        Snapshot snapshot = take();
        synchronized (kept) {
            kept.put(snapshot.id(), snapshot);
        }
        return snapshot;
    }

    /**
     * The change since snapshot {@code id}: per owner, count and bytes now minus then (zero rows
     * left out).
     */
    @ReadOperation
    Difference difference(@Selector long id) {
        Snapshot then;
        synchronized (kept) {
            then = kept.get(id);
        }
        if (then == null) {
            throw new InvalidEndpointRequestException(
                    "no snapshot " + id + " is kept (the last " + KEPT + " are)",
                    "unknown snapshot id");
        }
        Snapshot now = take();
        Map<String, long[]> diff = new LinkedHashMap<>();
        now.groups()
                .forEach(g -> diff.computeIfAbsent(g.owner(), k -> new long[2])[0] += g.count());
        now.groups().forEach(g -> diff.get(g.owner())[1] += g.bytes());
        then.groups()
                .forEach(g -> {
                    long[] d = diff.computeIfAbsent(g.owner(), k -> new long[2]);
                    d[0] -= g.count();
                    d[1] -= g.bytes();
                });
        List<Group> groups = new ArrayList<>();
        diff.forEach((owner, d) -> {
            if (d[0] != 0 || d[1] != 0) {
                groups.add(new Group(owner, d[0], d[1]));
            }
        });
        groups.sort((a, b) -> Long.compare(Math.abs(b.bytes()), Math.abs(a.bytes())));
        return new Difference(
                id,
                then.takenAt(),
                now.takenAt(),
                now.count() - then.count(),
                now.bytes() - then.bytes(),
                groups);
    }

    private Snapshot take() {
        JsonNode array = json.readTree(executor.control(memory::snapshotJson));
        List<Group> groups = new ArrayList<>();
        long count = 0;
        long bytes = 0;
        for (JsonNode g : array) {
            Group group =
                    new Group(
                            g.path("owner").asString(),
                            g.path("count").asLong(),
                            g.path("bytes").asLong());
            groups.add(group);
            count += group.count();
            bytes += group.bytes();
        }
        return new Snapshot(
                ids.incrementAndGet(), Instant.now(), count, bytes, List.copyOf(groups));
    }
}
