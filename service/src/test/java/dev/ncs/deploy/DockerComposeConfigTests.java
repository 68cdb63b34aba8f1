package dev.ncs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * docker-compose.yml as docker-compose (1.29, Debian's) resolves it: the stack's invariants and the
 * files it mounts. The NCS service itself is run from this file by DockerImageIntegrationTests;
 * Prometheus and Grafana are not started here, their images cannot be pulled without a registry.
 */
class DockerComposeConfigTests {

    @Test
    void theStackPublishesOnLoopbackOnlyAndRunsNcsReadOnly() throws Exception {
        Map<String, Object> services = services(config(Map.of()));

        assertThat(services).containsOnlyKeys("ncs", "prometheus", "grafana");
        Map<String, Object> ncs = map(services.get("ncs"));
        assertThat(ncs.get("read_only")).isEqualTo(true);
        assertThat(list(ncs.get("tmpfs"))).containsExactly("/tmp");
        assertThat(list(ncs.get("ports")))
                .containsExactlyInAnyOrder(
                        "127.0.0.1:8080:8080/tcp",
                        "127.0.0.1:8081:8081/tcp",
                        "127.0.0.1:9090:9090/tcp");
        assertThat(list(ncs.get("volumes"))).containsExactly("ncs-plugins:/opt/ncs/plugins:ro");
        assertThat(map(map(ncs.get("build")).get("args")))
                .containsEntry("BUILD_IMAGE", "maven:3.9-eclipse-temurin-25")
                .containsEntry("RUNTIME_IMAGE", "eclipse-temurin:25-jre");
        for (Map.Entry<String, Object> service : services.entrySet()) {
            assertThat(list(map(service.getValue()).get("ports")))
                    .as(service.getKey() + " ports")
                    .allMatch(port -> port.toString().startsWith("127.0.0.1:"));
        }
    }

    @Test
    void everyMountedMonitoringFileIsInTheRepositoryWhereItsConsumerLooksForIt() throws Exception {
        Map<String, Object> services = services(config(Map.of()));
        Map<String, String> mounts = new HashMap<>();
        for (String service : List.of("prometheus", "grafana")) {
            for (Object volume : list(map(services.get(service)).get("volumes"))) {
                String[] parts = volume.toString().split(":");
                if (parts[0].startsWith("/")) {
                    assertThat(Path.of(parts[0])).as(volume.toString()).exists();
                    mounts.put(parts[1], parts[0]);
                }
            }
        }
        // Prometheus loads its rules from where the rules file is mounted and scrapes NCS's
        // management port under the service's name.
        Map<String, Object> prometheus =
                new Yaml()
                        .load(
                                Files.readString(
                                        Path.of(mounts.get("/etc/prometheus/prometheus.yml"))));
        for (Object rules : list(prometheus.get("rule_files"))) {
            assertThat(mounts).containsKey(rules.toString());
        }
        assertThat(prometheus.toString()).contains("ncs:9090");
        // Grafana's dashboard provider reads the directory the dashboards are mounted at.
        assertThat(mounts)
                .containsEntry(
                        "/var/lib/grafana/dashboards",
                        Compose.ROOT.resolve("monitoring/grafana/dashboards").toString());
        assertThat(
                        Files.readString(
                                Compose.ROOT.resolve(
                                        "monitoring/grafana/provisioning/dashboards/ncs.yml")))
                .contains("/var/lib/grafana/dashboards");
    }

    @Test
    void buildArgumentsPortsAndPluginsFollowTheEnvironment() throws Exception {
        Map<String, Object> ncs =
                map(
                        services(
                                        config(
                                                Map.of(
                                                        "BUILD_IMAGE",
                                                        "local/build:1",
                                                        "RUNTIME_IMAGE",
                                                        "local/runtime:1",
                                                        "NCS_API_PORT",
                                                        "18080",
                                                        "NCS_GRPC_PORT",
                                                        "18081",
                                                        "NCS_MANAGEMENT_PORT",
                                                        "19090",
                                                        "NCS_PLUGINS",
                                                        "/srv/ncs-plugins")))
                                .get("ncs"));

        assertThat(map(map(ncs.get("build")).get("args")))
                .containsEntry("BUILD_IMAGE", "local/build:1")
                .containsEntry("RUNTIME_IMAGE", "local/runtime:1");
        assertThat(list(ncs.get("ports")))
                .containsExactlyInAnyOrder(
                        "127.0.0.1:18080:8080/tcp",
                        "127.0.0.1:18081:8081/tcp",
                        "127.0.0.1:19090:9090/tcp");
        assertThat(list(ncs.get("volumes")))
                .containsExactly("/srv/ncs-plugins:/opt/ncs/plugins:ro");
    }

    private static String config(Map<String, String> env) throws Exception {
        Compose.require();
        Compose.Result result = Compose.compose(env, Duration.ofMinutes(1), "config");
        assertThat(result.exitCode()).as(result.err()).isZero();
        return result.out();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> services(String config) {
        return map(((Map<String, Object>) new Yaml().load(config)).get("services"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        return value == null ? Map.of() : (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object value) {
        return value == null ? List.of() : (List<Object>) value;
    }
}
