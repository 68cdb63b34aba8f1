package dev.ncs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.InspectContainerResponse;
import dev.ncs.ExternalTools;
import dev.ncs.inference.TestTensors;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.DockerClientFactory;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * docker-compose.yml as docker-compose (1.29, Debian's) reads it: the stack's invariants, and the NCS
 * service brought up for real from the local base images. Prometheus and Grafana are not started
 * here: their images cannot be pulled on a machine without a registry.
 */
class DockerComposeIntegrationTests {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path COMPOSE_FILE = ROOT.resolve("docker-compose.yml");
    private static final List<String> CONTEXT_VARIABLES = List.of("BUILD_IMAGE", "RUNTIME_IMAGE", "NCS_IMAGE",
            "NCS_API_PORT", "NCS_MANAGEMENT_PORT", "NCS_PLUGINS", "NCS_MEMORY", "NCS_NATIVE_MEMORY_LIMIT");
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private record Run(int exitCode, String out, String err) {
    }

    @Test
    void theStackPublishesOnLoopbackOnlyAndRunsNcsReadOnly() throws Exception {
        Map<String, Object> services = services(config(Map.of()));

        assertThat(services).containsOnlyKeys("ncs", "prometheus", "grafana");
        Map<String, Object> ncs = map(services.get("ncs"));
        assertThat(ncs.get("read_only")).isEqualTo(true);
        assertThat(list(ncs.get("tmpfs"))).containsExactly("/tmp");
        assertThat(list(ncs.get("ports"))).containsExactlyInAnyOrder("127.0.0.1:8080:8080/tcp", "127.0.0.1:9090:9090/tcp");
        assertThat(list(ncs.get("volumes"))).containsExactly("ncs-plugins:/opt/ncs/plugins:ro");
        assertThat(map(map(ncs.get("build")).get("args"))).containsEntry("BUILD_IMAGE", "maven:3.9-eclipse-temurin-25")
                .containsEntry("RUNTIME_IMAGE", "eclipse-temurin:25-jre");
        for (Map.Entry<String, Object> service : services.entrySet()) {
            assertThat(list(map(service.getValue()).get("ports"))).as(service.getKey() + " ports")
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
        Map<String, Object> prometheus = new Yaml().load(Files.readString(
                Path.of(mounts.get("/etc/prometheus/prometheus.yml"))));
        for (Object rules : list(prometheus.get("rule_files"))) {
            assertThat(mounts).containsKey(rules.toString());
        }
        assertThat(prometheus.toString()).contains("ncs:9090");
        // Grafana's dashboard provider reads the directory the dashboards are mounted at.
        assertThat(mounts).containsEntry("/var/lib/grafana/dashboards",
                ROOT.resolve("monitoring/grafana/dashboards").toString());
        assertThat(Files.readString(ROOT.resolve("monitoring/grafana/provisioning/dashboards/ncs.yml")))
                .contains("/var/lib/grafana/dashboards");
    }

    @Test
    void buildArgumentsPortsAndPluginsFollowTheEnvironment() throws Exception {
        Map<String, Object> ncs = map(services(config(Map.of("BUILD_IMAGE", "local/build:1",
                "RUNTIME_IMAGE", "local/runtime:1", "NCS_API_PORT", "18080", "NCS_MANAGEMENT_PORT", "19090",
                "NCS_PLUGINS", "/srv/ncs-plugins"))).get("ncs"));

        assertThat(map(map(ncs.get("build")).get("args"))).containsEntry("BUILD_IMAGE", "local/build:1")
                .containsEntry("RUNTIME_IMAGE", "local/runtime:1");
        assertThat(list(ncs.get("ports"))).containsExactlyInAnyOrder("127.0.0.1:18080:8080/tcp",
                "127.0.0.1:19090:9090/tcp");
        assertThat(list(ncs.get("volumes"))).containsExactly("/srv/ncs-plugins:/opt/ncs/plugins:ro");
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void composeUpServesNcsBuiltFromTheLocalBaseImages() throws Exception {
        requireCompose();
        ExternalTools.require(DockerClientFactory.instance().isDockerAvailable(), "a Docker engine");
        String project = "ncs-compose-test-" + ProcessHandle.current().pid();
        String image = "ncs-test/compose-" + ProcessHandle.current().pid();
        int apiPort = freePort();
        int managementPort = freePort();
        Map<String, String> env = Map.of("BUILD_IMAGE", DockerImageIntegrationTests.BUILD_BASE,
                "RUNTIME_IMAGE", DockerImageIntegrationTests.RUNTIME_BASE, "NCS_IMAGE", image,
                "NCS_API_PORT", String.valueOf(apiPort), "NCS_MANAGEMENT_PORT", String.valueOf(managementPort));
        DockerClient docker = DockerClientFactory.instance().client();
        try {
            Run up = compose(env, Duration.ofMinutes(15), "-p", project, "up", "-d", "--build", "--no-deps", "ncs");
            assertThat(up.exitCode()).as(up.err()).isZero();

            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            URI readiness = URI.create("http://127.0.0.1:" + managementPort + "/actuator/health/readiness");
            long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
            String status = "";
            while (!status.contains("\"UP\"") && System.nanoTime() < deadline) {
                try {
                    status = http.send(HttpRequest.newBuilder(readiness).timeout(Duration.ofSeconds(5)).build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                } catch (IOException notYet) {
                    Thread.sleep(1000);
                }
            }
            assertThat(status).as("readiness on the published management port").contains("\"UP\"");

            HttpResponse<String> reply = http.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + apiPort + "/v2/models/matmul/infer"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"inputs\":["
                            + TestTensors.fp64("a", new long[] {2, 3}, 1, 2, 3, 4, 5, 6) + ","
                            + TestTensors.fp64("b", new long[] {3, 2}, 7, 8, 9, 10, 11, 12) + "]}"))
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(reply.statusCode()).as(reply.body()).isEqualTo(200);
            JsonNode c = TestTensors.output(JSON.readTree(reply.body()), "c");
            assertThat(TestTensors.doubles(c)).containsExactly(58, 64, 139, 154);

            String id = compose(env, Duration.ofMinutes(1), "-p", project, "ps", "-q", "ncs").out().strip();
            InspectContainerResponse container = docker.inspectContainerCmd(id).exec();
            assertThat(container.getHostConfig().getReadonlyRootfs()).isTrue();
            assertThat(container.getHostConfig().getMemory()).isEqualTo(4L << 30);
            assertThat(container.getConfig().getUser()).isEqualTo("10001:10001");
        } finally {
            compose(env, Duration.ofMinutes(2), "-p", project, "down", "-v");
            try {
                docker.removeImageCmd(image).withForce(true).exec();
            } catch (RuntimeException alreadyGone) {
                // nothing to clean up
            }
        }
    }

    private static String config(Map<String, String> env) throws Exception {
        requireCompose();
        Run run = compose(env, Duration.ofMinutes(1), "config");
        assertThat(run.exitCode()).as(run.err()).isZero();
        return run.out();
    }

    private static void requireCompose() throws Exception {
        boolean available;
        try {
            available = run(Map.of(), Duration.ofSeconds(30), List.of("docker-compose", "version")).exitCode() == 0;
        } catch (IOException notInstalled) {
            available = false;
        }
        ExternalTools.require(available, "docker-compose");
    }

    private static Run compose(Map<String, String> env, Duration timeout, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("docker-compose", "-f", COMPOSE_FILE.toString()));
        command.addAll(List.of(args));
        return run(env, timeout, command);
    }

    /** Runs a command with the stack's variables taken only from {@code env}, never from this JVM's. */
    private static Run run(Map<String, String> env, Duration timeout, List<String> command) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).directory(ROOT.toFile());
        CONTEXT_VARIABLES.forEach(builder.environment()::remove);
        builder.environment().putAll(env);
        Process process = builder.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(process.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
        if (!process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(command + " did not finish within " + timeout);
        }
        return new Run(process.exitValue(), out.get(), err.get());
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
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
