package dev.ncs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.ExposedPort;
import com.github.dockerjava.api.model.PortBinding;
import com.github.dockerjava.api.model.Ports;
import com.github.dockerjava.api.model.Volume;
import dev.ncs.ExternalTools;
import dev.ncs.IntegrationTestSupport;
import dev.ncs.inference.TestTensors;
import dev.ncs.kernel.References;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container.ExecResult;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.ImageFromDockerfile;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The container image as users get it: built from the project's own Dockerfile (offline, on the
 * local base images that scripts/setup.d/10-docker.sh makes) and run the way the README says, with
 * a read-only root file system, a tmpfs /tmp mounted noexec, ports published on 127.0.0.1 only, and
 * the example plugins of the build mounted read-only on the image's plugins volume. The same image
 * is also run as docker-compose.yml's ncs service.
 */
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class DockerImageIntegrationTests {

    static final String BUILD_BASE = "ncs-local/build-base:bookworm";
    static final String RUNTIME_BASE = "ncs-local/runtime-base:bookworm";
    private static final int API_PORT = 8080;
    private static final int MANAGEMENT_PORT = 9090;
    private static final int NCS_UID = 10001;
    private static final Path PLUGINS = Compose.ROOT.resolve("native/target/plugins");

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static GenericContainer<?> ncs;

    @BeforeAll
    static void buildAndStartTheImage() throws Exception {
        ExternalTools.require(
                DockerClientFactory.instance().isDockerAvailable(), "a Docker engine");
        DockerClient docker = DockerClientFactory.instance().client();
        ExternalTools.require(
                hasImage(docker, BUILD_BASE) && hasImage(docker, RUNTIME_BASE),
                "the local base images " + BUILD_BASE + " and " + RUNTIME_BASE);

        Path dockerfile = Compose.ROOT.resolve("Dockerfile");
        assertThat(dockerfile).exists();
        assertThat(PLUGINS).as("the example plugins (./mvnw package builds them)").isDirectory();
        ImageFromDockerfile image =
                new ImageFromDockerfile("ncs-test/image-" + ProcessHandle.current().pid(), true)
                        .withDockerfile(dockerfile)
                        .withBuildArg("BUILD_IMAGE", BUILD_BASE)
                        .withBuildArg("RUNTIME_IMAGE", RUNTIME_BASE);
        long started = System.nanoTime();
        String imageName = image.get(20, TimeUnit.MINUTES);
        System.out.printf(
                "docker build of %s took %.0f s%n",
                dockerfile, (System.nanoTime() - started) / 1e9);

        ncs =
                new GenericContainer<>(imageName)
                        .withExposedPorts(API_PORT, MANAGEMENT_PORT)
                        .withTmpFs(Map.of("/tmp", "rw,noexec,nosuid,size=64m"))
                        // The bind is set on the host config directly: Testcontainers' own binds
                        // first test
                        // file mounting with an alpine container, which cannot be pulled here.
                        .withCreateContainerCmdModifier(cmd ->
                                cmd.getHostConfig()
                                        .withReadonlyRootfs(true)
                                        .withBinds(
                                                new Bind(
                                                        PLUGINS.toString(),
                                                        new Volume("/opt/ncs/plugins"),
                                                        AccessMode.ro))
                                        .withPortBindings(
                                                onLoopback(API_PORT), onLoopback(MANAGEMENT_PORT)))
                        // Ready only when the image's own HEALTHCHECK reports healthy.
                        .waitingFor(
                                Wait.forHealthcheck().withStartupTimeout(Duration.ofMinutes(3)));
        ncs.start();
    }

    @AfterAll
    static void stopAndRemoveTheImage() {
        if (ncs != null) {
            ncs.stop();
            // Without Ryuk nothing else removes it.
            DockerClientFactory.instance()
                    .client()
                    .removeImageCmd(ncs.getDockerImageName())
                    .withForce(true)
                    .exec();
        }
    }

    @Test
    void readinessIsUpOnTheManagementPortAndNotServedOnTheApiPort() throws Exception {
        HttpResponse<String> readiness = get(MANAGEMENT_PORT, "/actuator/health/readiness");
        assertThat(readiness.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(readiness.body()).path("status").asString()).isEqualTo("UP");

        assertThat(get(API_PORT, "/v2/health/ready").statusCode()).isEqualTo(200);
        assertThat(get(API_PORT, "/actuator/health").statusCode()).isEqualTo(404);
    }

    @Test
    void matmulOverHttpMatchesTheJavaReference() throws Exception {
        int m = 37;
        int k = 53;
        int n = 29;
        Random random = new Random(6);
        // Small integers: every product and sum is exact in FP64, so the answer must match exactly
        // whatever order the kernel adds in.
        double[] a = random.ints(m * k, -9, 10).asDoubleStream().toArray();
        double[] b = random.ints(k * n, -9, 10).asDoubleStream().toArray();
        String request =
                "{\"inputs\":["
                        + TestTensors.fp64("a", new long[] {m, k}, a)
                        + ","
                        + TestTensors.fp64("b", new long[] {k, n}, b)
                        + "]}";

        HttpResponse<String> response =
                HTTP.send(
                        HttpRequest.newBuilder(uri(API_PORT, "/v2/models/matmul/infer"))
                                .timeout(Duration.ofSeconds(30))
                                .POST(HttpRequest.BodyPublishers.ofString(request))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode c = JSON.readTree(response.body()).path("outputs").get(0);
        assertThat(c.path("name").asString()).isEqualTo("c");
        assertThat(c.path("shape").get(0).asLong()).isEqualTo(m);
        assertThat(c.path("shape").get(1).asLong()).isEqualTo(n);
        assertThat(TestTensors.doubles(c)).containsExactly(References.matmul(a, b, m, k, n));
    }

    @Test
    void pluginsOnTheMountedVolumeAreLoadedAndServed() throws Exception {
        HttpResponse<String> index =
                HTTP.send(
                        HttpRequest.newBuilder(uri(API_PORT, "/v2/repository/index"))
                                .timeout(Duration.ofSeconds(30))
                                .POST(HttpRequest.BodyPublishers.noBody())
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(JSON.readTree(index.body()).findValuesAsString("name"))
                .contains("scale", "leaky", "matmul");

        HttpResponse<String> scaled =
                HTTP.send(
                        HttpRequest.newBuilder(uri(API_PORT, "/v2/models/scale/infer"))
                                .timeout(Duration.ofSeconds(30))
                                .POST(
                                        HttpRequest.BodyPublishers.ofString(
                                                "{\"parameters\":{\"alpha\":2.5},\"inputs\":["
                                                        + TestTensors.fp64(
                                                                "x",
                                                                new long[] {2, 2},
                                                                1,
                                                                -2,
                                                                0.5,
                                                                4)
                                                        + "]}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(scaled.statusCode()).as(scaled.body()).isEqualTo(200);
        assertThat(TestTensors.doubles(TestTensors.output(JSON.readTree(scaled.body()), "y")))
                .containsExactly(2.5, -5, 1.25, 10);
    }

    @Test
    void metricsAreScrapedFromTheManagementPortAndNativeMemoryReturnsToZero() throws Exception {
        matmulOverHttpMatchesTheJavaReference();

        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        String scraped = scrape();
        while (IntegrationTestSupport.metric(scraped, "ncs_native_buffers_live") != 0
                && System.nanoTime() < deadline) {
            Thread.sleep(100);
            scraped = scrape();
        }

        assertThat(IntegrationTestSupport.metric(scraped, "ncs_native_buffers_live")).isZero();
        assertThat(IntegrationTestSupport.metric(scraped, "ncs_native_memory_live_bytes")).isZero();
        assertThat(IntegrationTestSupport.metric(scraped, "ncs_native_memory_peak_bytes"))
                .isPositive();
        assertThat(
                        IntegrationTestSupport.metric(
                                scraped,
                                "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"success\"}"))
                .isGreaterThanOrEqualTo(1);
        assertThat(get(API_PORT, "/actuator/prometheus").statusCode()).isEqualTo(404);
    }

    @Test
    void runsAsTheFixedNonRootUser() throws Exception {
        String status = exec("cat", "/proc/1/status").getStdout();
        Matcher uid = Pattern.compile("(?m)^Uid:\\s+(\\d+)\\s+(\\d+)").matcher(status);
        assertThat(uid.find()).as(status).isTrue();
        assertThat(Integer.parseInt(uid.group(1))).isEqualTo(NCS_UID);
        assertThat(Integer.parseInt(uid.group(2))).isEqualTo(NCS_UID);
    }

    @Test
    void nativeLibrariesComeFromTheImageAndNothingIsWrittenOutsideTmp() throws Exception {
        List<String> mapped =
                exec("cat", "/proc/1/maps")
                        .getStdout()
                        .lines()
                        .map(line -> line.split("\\s+", 6))
                        .filter(fields -> fields.length == 6 && fields[5].startsWith("/"))
                        .map(fields -> fields[5])
                        .distinct()
                        .toList();
        assertThat(mapped).contains("/opt/ncs/lib/libncs.so.0", "/opt/ncs/lib/libjnidispatch.so");
        assertThat(mapped)
                .filteredOn(file -> file.contains(".so"))
                .noneMatch(file -> file.startsWith("/tmp/"));

        ExecResult write = exec("touch", "/opt/ncs/written-by-the-test");
        assertThat(write.getExitCode()).isNotZero();
        assertThat(write.getStderr()).contains("Read-only file system");
        assertThat(exec("touch", "/tmp/written-by-the-test").getExitCode()).isZero();

        DockerClient docker = DockerClientFactory.instance().client();
        assertThat(docker.containerDiffCmd(ncs.getContainerId()).exec())
                .as("changes to the container's file system")
                .isNullOrEmpty();
    }

    @Test
    void theComposeServiceRunsTheImageReadOnlyWithItsLimits() throws Exception {
        Compose.require();
        String project = "ncs-compose-test-" + ProcessHandle.current().pid();
        int apiPort = freePort();
        int managementPort = freePort();
        Map<String, String> env =
                Map.of(
                        "NCS_IMAGE",
                        ncs.getDockerImageName(),
                        "NCS_API_PORT",
                        String.valueOf(apiPort),
                        "NCS_MANAGEMENT_PORT",
                        String.valueOf(managementPort));
        try {
            Compose.Result up =
                    Compose.compose(
                            env,
                            Duration.ofMinutes(2),
                            "-p",
                            project,
                            "up",
                            "-d",
                            "--no-build",
                            "--no-deps",
                            "ncs");
            assertThat(up.exitCode()).as(up.err()).isZero();

            URI readiness =
                    URI.create("http://127.0.0.1:" + managementPort + "/actuator/health/readiness");
            long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
            String status = "";
            while (!status.contains("\"UP\"") && System.nanoTime() < deadline) {
                try {
                    status =
                            HTTP.send(
                                            HttpRequest.newBuilder(readiness)
                                                    .timeout(Duration.ofSeconds(5))
                                                    .build(),
                                            HttpResponse.BodyHandlers.ofString())
                                    .body();
                } catch (IOException notYet) {
                    Thread.sleep(1000);
                }
            }
            assertThat(status).as("readiness on the published management port").contains("\"UP\"");
            HttpResponse<String> reply =
                    HTTP.send(
                            HttpRequest.newBuilder(
                                            URI.create(
                                                    "http://127.0.0.1:"
                                                            + apiPort
                                                            + "/v2/models/matmul/infer"))
                                    .POST(
                                            HttpRequest.BodyPublishers.ofString(
                                                    "{\"inputs\":["
                                                            + TestTensors.fp64(
                                                                    "a",
                                                                    new long[] {2, 3},
                                                                    1,
                                                                    2,
                                                                    3,
                                                                    4,
                                                                    5,
                                                                    6)
                                                            + ","
                                                            + TestTensors.fp64(
                                                                    "b",
                                                                    new long[] {3, 2},
                                                                    7,
                                                                    8,
                                                                    9,
                                                                    10,
                                                                    11,
                                                                    12)
                                                            + "]}"))
                                    .timeout(Duration.ofSeconds(30))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(reply.statusCode()).as(reply.body()).isEqualTo(200);
            assertThat(TestTensors.doubles(TestTensors.output(JSON.readTree(reply.body()), "c")))
                    .containsExactly(58, 64, 139, 154);

            String id =
                    Compose.compose(env, Duration.ofMinutes(1), "-p", project, "ps", "-q", "ncs")
                            .out()
                            .strip();
            InspectContainerResponse container =
                    DockerClientFactory.instance().client().inspectContainerCmd(id).exec();
            assertThat(container.getHostConfig().getReadonlyRootfs()).isTrue();
            assertThat(container.getHostConfig().getTmpFs()).containsKey("/tmp");
            assertThat(container.getHostConfig().getMemory()).isEqualTo(4L << 30);
            assertThat(container.getConfig().getUser()).isEqualTo(NCS_UID + ":" + NCS_UID);
            assertThat(container.getConfig().getEnv()).contains("NCS_NATIVE_MEMORY_LIMIT=1536MB");
        } finally {
            Compose.compose(env, Duration.ofMinutes(2), "-p", project, "down", "-v");
        }
    }

    private static boolean hasImage(DockerClient docker, String name) {
        try {
            docker.inspectImageCmd(name).exec();
            return true;
        } catch (NotFoundException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static PortBinding onLoopback(int containerPort) {
        return new PortBinding(Ports.Binding.bindIp("127.0.0.1"), ExposedPort.tcp(containerPort));
    }

    private static ExecResult exec(String... command) throws IOException, InterruptedException {
        return ncs.execInContainer(command);
    }

    private static URI uri(int containerPort, String path) {
        return URI.create("http://127.0.0.1:" + ncs.getMappedPort(containerPort) + path);
    }

    private static HttpResponse<String> get(int containerPort, String path)
            throws IOException, InterruptedException {
        return HTTP.send(
                HttpRequest.newBuilder(uri(containerPort, path))
                        .timeout(Duration.ofSeconds(30))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String scrape() throws IOException, InterruptedException {
        HttpResponse<String> response = get(MANAGEMENT_PORT, "/actuator/prometheus");
        assertThat(response.statusCode()).isEqualTo(200);
        return response.body();
    }
}
