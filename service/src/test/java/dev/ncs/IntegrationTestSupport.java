package dev.ncs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.nativelib.NativeGlobals;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.test.context.SpringBootTest;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The shared fixture of whole-application tests: a real NCS on random ports, an HTTP client, and
 * after every test the check that native memory is back to zero, read from /actuator/prometheus as
 * a user would. libncs's process-wide settings (budget, buffer cache, leak detection) are those of
 * the test's context before and after every test ({@link NativeGlobals}), whatever a test changed.
 */
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "management.server.port=0",
            "ncs.grpc.port=0",
            "ncs.grpc.address=127.0.0.1",
            "ncs.workers.threads=2",
            "ncs.leak-detection.level=paranoid",
            // Triton's Java client (test scope) bundles an old Jackson 2, which would switch on the
            // actuator's
            // Jackson 2 support; the service itself uses Jackson 3 only.
            "spring.autoconfigure.exclude=org.springframework.boot.actuate.autoconfigure.endpoint.jackson.Jackson2EndpointAutoConfiguration"
        })
@ExtendWith(NativeGlobals.class)
public abstract class IntegrationTestSupport {

    protected static final JsonMapper JSON =
            JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Value("${local.server.port}")
    protected int port;

    @Value("${local.management.port}")
    protected int managementPort;

    /**
     * A response: status, the Retry-After header if any, the body parsed as JSON (null if not
     * JSON).
     */
    public record Reply(int status, String retryAfter, String text, JsonNode json) {

        public String error() {
            return json == null ? null : json.path("error").asString();
        }
    }

    @AfterEach
    void nativeMemoryIsBackToZero() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        double buffers;
        double bytes;
        do {
            String metrics = scrape();
            buffers = metric(metrics, "ncs_native_buffers_live");
            bytes = metric(metrics, "ncs_native_memory_live_bytes");
            if (buffers == 0 && bytes == 0) {
                return;
            }
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        assertThat(buffers).as("ncs_native_buffers_live after the test").isZero();
        assertThat(bytes).as("ncs_native_memory_live_bytes after the test").isZero();
    }

    protected Reply post(String path, String body) throws IOException, InterruptedException {
        return send(
                HttpRequest.newBuilder(api(path))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build());
    }

    protected Reply get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(api(path)).GET().build());
    }

    protected Reply send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        JsonNode json = null;
        try {
            json = JSON.readTree(response.body());
        } catch (RuntimeException notJson) {
            // leave json null: the assertion on it will say so
        }
        return new Reply(
                response.statusCode(),
                response.headers().firstValue("Retry-After").orElse(null),
                response.body(),
                json);
    }

    /** A response kept as bytes, for the binary tensor extension. */
    public record BinaryReply(int status, java.net.http.HttpHeaders headers, byte[] body) {

        /** The JSON header: the first Inference-Header-Content-Length bytes, or the whole body. */
        public JsonNode json() {
            return JSON.readTree(java.util.Arrays.copyOf(body, headerLength()));
        }

        public int headerLength() {
            return headers.firstValue("Inference-Header-Content-Length")
                    .map(Integer::parseInt)
                    .orElse(body.length);
        }
    }

    protected BinaryReply sendBytes(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        return new BinaryReply(response.statusCode(), response.headers(), response.body());
    }

    protected URI api(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    protected String scrape() throws IOException, InterruptedException {
        HttpResponse<String> response =
                http.send(
                        HttpRequest.newBuilder(
                                        URI.create(
                                                "http://127.0.0.1:"
                                                        + managementPort
                                                        + "/actuator/prometheus"))
                                .GET()
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        return response.body();
    }

    /**
     * The value of the sample {@code series} (a metric name, optionally with its exact label set as
     * scraped, e.g. {@code ncs_leaks_total{kernel="sort",source="java"}}); NaN if absent.
     */
    public static double metric(String scraped, String series) {
        Matcher m = samples(series).matcher(scraped);
        return m.find() ? Double.parseDouble(m.group(m.groupCount())) : Double.NaN;
    }

    /**
     * The sum of every sample of {@code series} (a metric name, optionally with some of its labels,
     * e.g. {@code ncs_kernel_seconds_count{kernel="describe"}} for all outcomes); 0 while none
     * exists.
     */
    public static double total(String scraped, String series) {
        return samples(series)
                .matcher(scraped)
                .results()
                .mapToDouble(m -> Double.parseDouble(m.group(m.groupCount())))
                .sum();
    }

    /**
     * The samples of {@code series}, its labels matched in any order; the value is the last group.
     */
    private static Pattern samples(String series) {
        String pattern =
                series.contains("{")
                        ? Pattern.quote(series.substring(0, series.indexOf('{')))
                                + "\\{"
                                + labelPattern(series)
                                + "\\}"
                        : Pattern.quote(series) + "(\\{[^}]*\\})?";
        return Pattern.compile("(?m)^" + pattern + " (\\S+)$");
    }

    private static String labelPattern(String series) {
        String labels = series.substring(series.indexOf('{') + 1, series.lastIndexOf('}'));
        StringBuilder sb = new StringBuilder();
        for (String label : labels.split(",")) {
            sb.append("(?=[^}]*").append(Pattern.quote(label)).append(")");
        }
        return sb.append("[^}]*").toString();
    }
}
