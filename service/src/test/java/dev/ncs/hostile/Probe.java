package dev.ncs.hostile;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A real client beside the attack: every 200 ms it opens a new connection and asks {@code describe}
 * of 16 values, which must be answered correctly within {@link #ANSWER_WITHIN} (connecting
 * included), and it samples the heap in use. Closing it stops it and asserts every answer and the
 * heap's peak.
 */
final class Probe implements AutoCloseable {

    static final Duration ANSWER_WITHIN = Duration.ofSeconds(1);

    /**
     * Used heap, garbage included, must stay below this share of the maximum: far from an
     * OutOfMemoryError.
     */
    static final double HEAP_CEILING = 0.85;

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final byte[] DESCRIBE_16 =
            ("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[16],"
                            + "\"data\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}")
                    .getBytes(StandardCharsets.UTF_8);

    private final NcsProcess ncs;
    private final ReentrantLock asking = new ReentrantLock();
    private final Thread thread;
    private final List<String> failures = new ArrayList<>();
    private volatile boolean stopped;
    private int answered;
    private long slowestMillis;
    private long heapPeak;

    Probe(NcsProcess ncs) {
        this.ncs = ncs;
        this.thread = Thread.ofPlatform().name("hostile-probe").daemon().start(this::run);
    }

    /**
     * One request as a new client would make it: null if answered correctly in time, else what went
     * wrong.
     */
    static String ask(int port) {
        long start = System.nanoTime();
        try (Socket socket = new Socket()) {
            socket.connect(
                    new InetSocketAddress("127.0.0.1", port), (int) ANSWER_WITHIN.toMillis());
            socket.setSoTimeout((int) ANSWER_WITHIN.toMillis());
            String head =
                    "POST /v2/models/describe/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            + "Content-Type: application/json\r\nContent-Length: "
                            + DESCRIBE_16.length
                            + "\r\n\r\n";
            socket.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(DESCRIBE_16);
            String response = readAll(socket.getInputStream(), start);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            if (millis > ANSWER_WITHIN.toMillis()) {
                return "answered in " + millis + " ms";
            }
            if (!response.startsWith("HTTP/1.1 200")) {
                return "answered " + response.substring(0, Math.min(200, response.length()));
            }
            JsonNode json = JSON.readTree(response.substring(response.indexOf("\r\n\r\n") + 4));
            for (JsonNode output : json.path("outputs")) {
                if (output.path("name").asString().equals("mean")
                        && output.path("data").get(0).asDouble() == 8.5) {
                    return null;
                }
            }
            return "wrong answer: " + json;
        } catch (IOException | RuntimeException e) {
            return "failed after "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)
                    + " ms: "
                    + e;
        }
    }

    private static String readAll(InputStream in, long start) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        for (int n; (n = in.read(buffer)) >= 0; ) {
            all.write(buffer, 0, n);
            if (System.nanoTime() - start > 2 * ANSWER_WITHIN.toNanos()) {
                break;
            }
        }
        return all.toString(StandardCharsets.ISO_8859_1);
    }

    private void run() {
        while (!stopped) {
            long start;
            String failure;
            asking.lock();
            try {
                start = System.nanoTime();
                failure = ask(ncs.port);
            } finally {
                asking.unlock();
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            long heap = heapUsed();
            synchronized (this) {
                answered++;
                slowestMillis = Math.max(slowestMillis, millis);
                heapPeak = Math.max(heapPeak, heap);
                if (failure != null) {
                    failures.add(failure);
                }
            }
            sleep(200);
        }
    }

    /**
     * Runs {@code action} with no real request under way: the test's own full GC (a stop-the-world
     * pause the attack did not cause) must not count against the service.
     */
    <T> T between(Callable<T> action) throws Exception {
        asking.lock();
        try {
            return action.call();
        } finally {
            asking.unlock();
        }
    }

    private long heapUsed() {
        try {
            return ncs.heapUsed();
        } catch (IOException | RuntimeException e) {
            synchronized (this) {
                failures.add("metrics unreadable: " + e);
            }
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops probing; fails if any real request was refused, wrong or slow, or if the heap came near
     * its maximum.
     */
    @Override
    public void close() throws Exception {
        stopped = true;
        thread.join(10_000);
        long max = ncs.heapMax();
        synchronized (this) {
            if (!failures.isEmpty()) {
                throw new AssertionError(
                        failures.size()
                                + " of "
                                + answered
                                + " real requests during the attack "
                                + "were not answered correctly within "
                                + ANSWER_WITHIN.toMillis()
                                + " ms, e.g. "
                                + failures.subList(0, Math.min(5, failures.size())));
            }
            if (answered == 0) {
                throw new AssertionError("no real request was made during the attack");
            }
            if (heapPeak > HEAP_CEILING * max) {
                throw new AssertionError(
                        "heap in use reached "
                                + (heapPeak >> 20)
                                + " MiB of "
                                + (max >> 20)
                                + " MiB during the attack");
            }
        }
    }

    @Override
    public synchronized String toString() {
        return answered
                + " real requests, slowest "
                + slowestMillis
                + " ms, heap peak "
                + (heapPeak >> 20)
                + " MiB";
    }
}
