package dev.ncs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * What the Kubernetes manifests ask of a running NCS, asked of a real one: the probe paths answer
 * UP on the management port, the ServiceMonitor's path serves the metric the queue-depth autoscaler
 * scales on, and none of them is served on the API port (the one the Service exposes).
 */
class KubernetesProbesIntegrationTests extends IntegrationTestSupport {

    static final Path K8S = Path.of("..", "k8s").toAbsolutePath().normalize();

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void probesAnswerUpOnTheManagementPortOnly() throws Exception {
        Map<String, Object> container =
                KubernetesManifestsTests.container(manifest("base/ncs-deployment.yaml"));
        List<String> probes = List.of("startupProbe", "livenessProbe", "readinessProbe");
        for (String probe : probes) {
            String path =
                    (String) KubernetesManifestsTests.get(container, probe, "httpGet", "path");
            HttpResponse<String> management = fetch(managementPort, path);
            assertThat(management.statusCode())
                    .as("%s %s on the management port", probe, path)
                    .isEqualTo(200);
            assertThat(JSON.readTree(management.body()).path("status").asString()).isEqualTo("UP");
            assertThat(fetch(port, path).statusCode())
                    .as("%s %s on the API port", probe, path)
                    .isEqualTo(404);
        }
    }

    @Test
    void theScrapedPathServesTheQueueDepthTheAutoscalerUses() throws Exception {
        Map<String, Object> serviceMonitor = manifest("base/ncs-servicemonitor.yaml");
        Object endpoint =
                KubernetesManifestsTests.list(
                                KubernetesManifestsTests.get(serviceMonitor, "spec", "endpoints"))
                        .get(0);
        String path = (String) KubernetesManifestsTests.get(endpoint, "path");
        Map<String, Object> hpa = manifest("overlays/queue-depth/ncs-horizontalpodautoscaler.yaml");
        String metric =
                KubernetesManifestsTests.list(KubernetesManifestsTests.get(hpa, "spec", "metrics"))
                        .stream()
                        .filter(m -> "Pods".equals(KubernetesManifestsTests.get(m, "type")))
                        .map(m ->
                                (String) KubernetesManifestsTests.get(m, "pods", "metric", "name"))
                        .findFirst()
                        .orElseThrow();

        HttpResponse<String> scrape = fetch(managementPort, path);
        assertThat(scrape.statusCode()).isEqualTo(200);
        assertThat(metric(scrape.body(), metric))
                .as("%s scraped from %s", metric, path)
                .isEqualTo(0.0);
        assertThat(fetch(port, path).statusCode()).as("%s on the API port", path).isEqualTo(404);
    }

    private static Map<String, Object> manifest(String file) throws IOException {
        return new Yaml().load(Files.readString(K8S.resolve(file)));
    }

    private HttpResponse<String> fetch(int onPort, String path)
            throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + onPort + path))
                        .timeout(Duration.ofSeconds(10))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
