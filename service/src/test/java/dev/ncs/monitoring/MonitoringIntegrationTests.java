package dev.ncs.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.ExternalTools;
import dev.ncs.IntegrationTestSupport;
import dev.ncs.execution.NativeExecutor;
import dev.ncs.grpc.GrpcServer;
import dev.ncs.inference.TestTensors;
import dev.ncs.nativelib.NativeStatus;
import dev.ncs.nativelib.raw.NcsLibrary;
import inference.GRPCInferenceServiceGrpc;
import inference.GrpcService.InferTensorContents;
import inference.GrpcService.ModelInferRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.Reader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.DoubleStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestPropertySource;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;

/**
 * The monitoring files in {@code monitoring/} against a real Prometheus (Debian's package) scraping
 * a real NCS: every query of the Grafana dashboard and every alert rule is evaluated through
 * Prometheus's HTTP API after traffic that includes errors, a queue rejection, refused handle
 * misuse and the {@code leaky} example plugin. Grafana cannot run here, so its provisioning files
 * are checked for structure and for agreeing with each other and with the Prometheus side.
 */
@TestPropertySource(properties = "ncs.workers.queue-capacity=0")
class MonitoringIntegrationTests extends IntegrationTestSupport {

    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path MONITORING = ROOT.resolve("monitoring");
    static final Path ALERTS = MONITORING.resolve("prometheus/ncs-alerts.yml");
    static final Path PROMETHEUS_CONFIG = MONITORING.resolve("prometheus/prometheus.yml");
    static final Path DASHBOARD = MONITORING.resolve("grafana/dashboards/ncs.json");
    static final Path DATASOURCES =
            MONITORING.resolve("grafana/provisioning/datasources/prometheus.yml");
    static final Path PROVIDERS = MONITORING.resolve("grafana/provisioning/dashboards/ncs.yml");
    static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
    static final Path PROMTOOL = Path.of("/usr/bin/promtool");

    /** Where compose mounts monitoring/grafana/dashboards in the Grafana container. */
    static final String GRAFANA_DASHBOARDS = "/var/lib/grafana/dashboards";

    static final String DASHBOARD_UID = "ncs-overview";
    static final String DATASOURCE_VARIABLE = "${datasource}";

    /** Alerts whose condition the traffic below makes true, and the one it makes false. */
    static final Set<String> TRUE_AFTER_TRAFFIC =
            Set.of(
                    "NcsNativeLeak",
                    "NcsQueueSaturated",
                    "NcsErrorRatioHigh",
                    "NcsStaleHandleUse",
                    "NcsDoubleRelease");

    static final Set<String> FALSE_AFTER_TRAFFIC = Set.of("NcsNativeMemoryGrowingWhileIdle");

    /**
     * Grafana's variables as this test substitutes them: the rate window spans the whole traffic at
     * a 1 s scrape interval, the range the whole run.
     */
    static final Map<String, String> GRAFANA_VARIABLES =
            Map.of("__rate_interval", "1m", "__interval", "15s", "__range", "5m");

    /**
     * A series selector of NCS's metrics (or Spring's HTTP metric) with its label matchers, if any.
     */
    static final Pattern SELECTOR =
            Pattern.compile("(?<![\\w:])((?:ncs|http_server_requests)_[a-z_]+)(\\{[^}]*\\})?");

    static final Path PLUGINS = ROOT.resolve("native/target/plugins");

    @DynamicPropertySource
    static void plugins(DynamicPropertyRegistry registry) {
        registry.add("ncs.plugins.directory", PLUGINS::toString);
    }

    @Autowired NativeExecutor executor;

    @Autowired GrpcServer grpc;

    @TempDir Path work;

    @Test
    void everyDashboardQueryAndAlertRuleHasDataInAPrometheusScrapingNcs() throws Exception {
        ExternalTools.require(Files.isExecutable(PROMETHEUS), "Prometheus (" + PROMETHEUS + ")");
        try (Prometheus prometheus = Prometheus.start(work, managementPort, ALERTS)) {
            prometheus.await(
                    "the first scrape of NCS",
                    () -> !prometheus.query("up{job=\"ncs\"} == 1").isEmpty());

            driveTraffic();
            double allocations = metric(scrape(), "ncs_native_allocations_total");
            prometheus.await(
                    "a scrape after the traffic",
                    () ->
                            prometheus
                                            .query("ncs_native_allocations_total >= " + allocations)
                                            .size()
                                    == 1);

            checkDashboardQueries(prometheus);
            checkAlertExpressions(prometheus);

            prometheus.await(
                    "Prometheus to evaluate the alert rules",
                    () -> activeAlerts(prometheus).containsAll(TRUE_AFTER_TRAFFIC));
            assertThat(activeAlerts(prometheus)).doesNotContainAnyElementsOf(FALSE_AFTER_TRAFFIC);
            JsonNode leak =
                    prometheus
                            .get("/api/v1/alerts")
                            .path("data")
                            .path("alerts")
                            .valueStream()
                            .filter(a ->
                                    a.path("labels")
                                            .path("alertname")
                                            .asString()
                                            .equals("NcsNativeLeak"))
                            .findFirst()
                            .orElseThrow();
            assertThat(leak.path("labels").path("kernel").asString()).isEqualTo("leaky");
            assertThat(leak.path("labels").path("source").asString()).isEqualTo("kernel");
            assertThat(leak.path("labels").path("severity").asString()).isEqualTo("warning");
            assertThat(leak.path("annotations").path("description").asString())
                    .contains("kernel=leaky");
        }
    }

    @Test
    void promtoolAcceptsTheRulesAndTheComposeConfiguration() throws Exception {
        ExternalTools.require(Files.isExecutable(PROMTOOL), "promtool (" + PROMTOOL + ")");
        assertThat(run(PROMTOOL.toString(), "check", "rules", ALERTS.toString()))
                .contains("SUCCESS: " + alertRules().size() + " rules found");

        // The compose file mounts the rules at the path prometheus.yml names; check a copy whose
        // rule
        // path points at the rules file here instead.
        Map<String, Object> config = yaml(PROMETHEUS_CONFIG);
        List<String> ruleFiles = list(config.get("rule_files"));
        assertThat(ruleFiles).containsExactly("/etc/prometheus/ncs-alerts.yml");
        Files.copy(ALERTS, work.resolve("ncs-alerts.yml"));
        config.put("rule_files", List.of(work.resolve("ncs-alerts.yml").toString()));
        Path copy = work.resolve("prometheus.yml");
        Files.writeString(copy, new Yaml().dump(config));
        assertThat(run(PROMTOOL.toString(), "check", "config", copy.toString()))
                .contains("SUCCESS");

        Map<String, Object> job = map(list(config.get("scrape_configs")).getFirst());
        assertThat(job.get("job_name")).isEqualTo("ncs");
        assertThat(job.get("metrics_path")).isEqualTo("/actuator/prometheus");
        Map<String, Object> application =
                yaml(ROOT.resolve("service/src/main/resources/application.yaml"));
        Object managementPort = map(map(application.get("management")).get("server")).get("port");
        assertThat(list(map(list(job.get("static_configs")).getFirst()).get("targets")))
                .containsExactly("ncs:" + managementPort);
    }

    @Test
    void grafanaProvisioningDatasourceAndDashboardAgree() throws Exception {
        Map<String, Object> datasource = map(list(yaml(DATASOURCES).get("datasources")).getFirst());
        assertThat(datasource.get("type")).isEqualTo("prometheus");
        assertThat(datasource.get("url")).isEqualTo("http://prometheus:9090");
        String datasourceUid = (String) datasource.get("uid");
        assertThat(datasourceUid).isNotBlank();
        Map<String, Object> global = map(yaml(PROMETHEUS_CONFIG).get("global"));
        assertThat(map(datasource.get("jsonData")).get("timeInterval"))
                .as("Grafana's scrape interval ($__rate_interval) is Prometheus's")
                .isEqualTo(global.get("scrape_interval"));

        Map<String, Object> provider = map(list(yaml(PROVIDERS).get("providers")).getFirst());
        assertThat(provider.get("type")).isEqualTo("file");
        assertThat(map(provider.get("options")).get("path")).isEqualTo(GRAFANA_DASHBOARDS);

        JsonNode dashboard = JSON.readTree(Files.readString(DASHBOARD));
        assertThat(dashboard.path("uid").asString()).isEqualTo(DASHBOARD_UID);
        assertThat(dashboard.path("tags").valueStream().map(JsonNode::asString)).contains("ncs");
        JsonNode variable = variables(dashboard).get("datasource");
        assertThat(variable.path("type").asString()).isEqualTo("datasource");
        assertThat(variable.path("query").asString()).isEqualTo("prometheus");
        assertThat(variable.path("current").path("value").asString()).isEqualTo(datasourceUid);
        variables(dashboard).values().stream()
                .filter(v -> v.path("type").asString().equals("query"))
                .forEach(v ->
                        assertThat(v.path("datasource").path("uid").asString())
                                .as(v.path("name").asString())
                                .isEqualTo(DATASOURCE_VARIABLE));

        Set<Integer> ids = new HashSet<>();
        for (JsonNode panel : dashboard.path("panels")) {
            String title = panel.path("title").asString();
            assertThat(ids.add(panel.path("id").asInt())).as("unique id of " + title).isTrue();
            JsonNode grid = panel.path("gridPos");
            assertThat(grid.path("x").asInt() + grid.path("w").asInt())
                    .as("width of " + title)
                    .isBetween(1, 24);
            if (panel.path("type").asString().equals("row")) {
                continue;
            }
            assertThat(panel.path("datasource").path("uid").asString())
                    .as(title)
                    .isEqualTo(DATASOURCE_VARIABLE);
            assertThat(panel.path("description").asString())
                    .as("description of " + title)
                    .isNotBlank();
            assertThat(panel.path("targets").size()).as("queries of " + title).isPositive();
            for (JsonNode target : panel.path("targets")) {
                assertThat(target.path("datasource").path("uid").asString())
                        .as(title)
                        .isEqualTo(DATASOURCE_VARIABLE);
            }
        }
        List<String> titles =
                dashboard
                        .path("panels")
                        .valueStream()
                        .map(p -> p.path("title").asString().toLowerCase())
                        .toList();
        for (String topic :
                List.of(
                        "native memory: live, cached, peak, limit",
                        "buffers live",
                        "retain and release",
                        "leaks by source and kernel",
                        "stale-handle uses and double releases",
                        "kernel latency p50 / p95 / p99",
                        "throughput by outcome",
                        "queue depth",
                        "busy workers",
                        "rejections by reason",
                        "library lock wait")) {
            assertThat(titles).as("a panel on " + topic).anyMatch(t -> t.contains(topic));
        }
    }

    /** Requests of every kind the dashboard shows, each answered as expected. */
    private void driveTraffic() throws Exception {
        Random random = new Random(6);
        String matrix =
                DoubleStream.generate(random::nextGaussian)
                        .limit(64 * 64)
                        .mapToObj(Double::toString)
                        .collect(Collectors.joining(","));
        String matmul =
                "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[64,64],\"data\":["
                        + matrix
                        + "]},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[64,64],\"data\":["
                        + matrix
                        + "]}]}";
        String vector =
                "{\"inputs\":[" + TestTensors.fp64("x", new long[] {5}, 3, -1, 4, 1, 5) + "]}";
        ManagedChannel channel =
                ManagedChannelBuilder.forAddress("127.0.0.1", grpc.port()).usePlaintext().build();
        GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub =
                GRPCInferenceServiceGrpc.newBlockingStub(channel);
        ModelInferRequest grpcDescribe =
                ModelInferRequest.newBuilder()
                        .setModelName("describe")
                        .addInputs(
                                ModelInferRequest.InferInputTensor.newBuilder()
                                        .setName("x")
                                        .setDatatype("FP64")
                                        .addShape(1)
                                        .setContents(
                                                InferTensorContents.newBuilder()
                                                        .addFp64Contents(2.5)))
                        .build();
        for (int i = 0; i < 3; i++) {
            assertThat(stub.modelInfer(grpcDescribe).getOutputsCount()).isPositive();
            expect(200, "/v2/models/matmul/infer", matmul);
            expect(200, "/v2/models/describe/infer", vector);
            expect(200, "/v2/models/sort/infer", vector);
            expect(200, "/v2/models/leaky/infer", vector);
        }
        for (int i = 0; i < 2; i++) {
            expect(
                    200,
                    "/v2/models/legacy_work/infer",
                    "{\"parameters\":{\"iterations\":2000},\"inputs\":["
                            + TestTensors.fp64("x", new long[] {4}, 0.1, 0.2, 0.3, 0.4)
                            + "]}");
        }
        expect(
                400,
                "/v2/models/matmul/infer",
                "{\"inputs\":[" + TestTensors.fp64("a", new long[] {2, 3}, 1, 2, 3) + "]}");
        expect(400, "/v2/models/sort/infer", "{\"inputs\":[]}");
        expect(404, "/v2/models/no_such_kernel/infer", vector);
        channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);

        // Both workers' admissions taken (the queue holds none): further requests are refused. Held
        // over
        // two scrape intervals, so the queue depth panel sees them waiting, with one refusal in
        // each
        // scrape: a series that first appears with a count of 1 has no rate until it rises again.
        try (NativeExecutor.Admission first = executor.admit("sort");
                NativeExecutor.Admission second = executor.admit("sort")) {
            first.queued();
            second.queued();
            expect(503, "/v2/models/sort/infer", vector);
            Thread.sleep(2500);
            expect(503, "/v2/models/sort/infer", vector);
        }

        // Handle misuse, as a buggy plugin would do it: both refused and counted.
        executor.control(() -> {
            long[] handle = new long[1];
            assertThat(NcsLibrary.ncs_buffer_alloc(64, handle)).isZero();
            assertThat(NcsLibrary.ncs_buffer_release(handle[0])).isZero();
            assertThat(NativeStatus.of(NcsLibrary.ncs_buffer_retain(handle[0])))
                    .isEqualTo(NativeStatus.STALE_HANDLE);
            assertThat(NativeStatus.of(NcsLibrary.ncs_buffer_release(handle[0])))
                    .isEqualTo(NativeStatus.DOUBLE_RELEASE);
            return null;
        });
    }

    private void expect(int status, String path, String body) throws Exception {
        Reply reply = post(path, body);
        assertThat(reply.status()).as(path + ": " + reply.text()).isEqualTo(status);
    }

    /**
     * Every target of every panel returns at least one sample, and so does every series selector in
     * it on its own: a fallback such as {@code or vector(0)} cannot hide a misspelt metric or
     * label. A few panels are also checked for the values the traffic must show.
     */
    private void checkDashboardQueries(Prometheus prometheus) throws Exception {
        JsonNode dashboard = JSON.readTree(Files.readString(DASHBOARD));
        Map<String, String> substitutions = new LinkedHashMap<>(GRAFANA_VARIABLES);
        for (Map.Entry<String, JsonNode> entry : variables(dashboard).entrySet()) {
            String name = entry.getKey();
            JsonNode variable = entry.getValue();
            if (variable.path("type").asString().equals("query")) {
                substitutions.put(name, variable.path("allValue").asString());
                Matcher labelValues =
                        Pattern.compile("label_values\\((\\w+),\\s*(\\w+)\\)")
                                .matcher(variable.path("definition").asString());
                assertThat(labelValues.matches()).as("variable " + name).isTrue();
                assertThat(
                                prometheus
                                        .get(
                                                "/api/v1/label/"
                                                        + labelValues.group(2)
                                                        + "/values?match[]="
                                                        + encode(labelValues.group(1)))
                                        .path("data")
                                        .size())
                        .as("values of $" + name)
                        .isPositive();
            }
        }
        Map<String, List<JsonNode>> results = new LinkedHashMap<>();
        int queries = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                String expr = substitute(target.path("expr").asString(), substitutions);
                String what =
                        "panel \""
                                + panel.path("title").asString()
                                + "\" query "
                                + target.path("refId").asString();
                List<JsonNode> result = prometheus.query(expr);
                assertThat(result).as(what + ": " + expr).isNotEmpty();
                assertSelectorsHaveData(prometheus, expr, what);
                results.computeIfAbsent(panel.path("title").asString(), k -> new ArrayList<>())
                        .addAll(result);
                queries++;
            }
        }
        assertThat(queries).isGreaterThanOrEqualTo(20);

        assertThat(value(results.get("Leaks in range"), Map.of())).isGreaterThanOrEqualTo(3);
        assertThat(
                        value(
                                results.get("Leaks by source and kernel"),
                                Map.of("kernel", "leaky", "source", "kernel")))
                .isPositive();
        assertThat(value(results.get("Rejections by reason"), Map.of("reason", "queue_full")))
                .isPositive();
        assertThat(results.get("Refused in range")).allMatch(sample -> number(sample) >= 1);
        assertThat(
                        results.get("Kernel latency p50 / p95 / p99 by kernel").stream()
                                .map(s -> s.path("metric").path("kernel").asString())
                                .collect(Collectors.toSet()))
                .contains("matmul", "describe", "sort", "leaky", "legacy_work");
        assertThat(value(results.get("Throughput by outcome"), Map.of("status", "503")))
                .isPositive();
        assertThat(value(results.get("Error ratio"), Map.of())).isBetween(0.05, 1.0);
        assertThat(value(prometheus.query("max_over_time(ncs_queue_depth[5m])"), Map.of()))
                .as("the queue depth graph shows the two waiting requests")
                .isEqualTo(2);
    }

    /**
     * Every alert expression evaluates; every series it reads exists; the conditions the traffic
     * caused are true (a sample is returned) and the idle-growth condition is false.
     */
    private void checkAlertExpressions(Prometheus prometheus) throws Exception {
        Set<String> names = new LinkedHashSet<>();
        for (Map<String, Object> rule : alertRules()) {
            String name = (String) rule.get("alert");
            String expr = (String) rule.get("expr");
            names.add(name);
            assertThat(rule.get("for")).as("for: of " + name).isNotNull();
            assertThat(map(rule.get("labels")).get("severity"))
                    .as("severity of " + name)
                    .isIn("warning", "critical");
            assertThat(map(rule.get("annotations")))
                    .as("annotations of " + name)
                    .containsKeys("summary", "description", "what_to_do");
            assertSelectorsHaveData(prometheus, expr, "alert " + name);
            List<JsonNode> result = prometheus.query(expr);
            if (TRUE_AFTER_TRAFFIC.contains(name)) {
                assertThat(result)
                        .as("alert " + name + " is true after the traffic: " + expr)
                        .isNotEmpty();
            } else {
                assertThat(FALSE_AFTER_TRAFFIC)
                        .as("expectation for the new alert " + name)
                        .contains(name);
                assertThat(result)
                        .as("alert " + name + " is false after the traffic: " + expr)
                        .isEmpty();
            }
        }
        assertThat(names)
                .containsExactlyInAnyOrderElementsOf(
                        Stream.concat(TRUE_AFTER_TRAFFIC.stream(), FALSE_AFTER_TRAFFIC.stream())
                                .toList());
        List<JsonNode> leaks = prometheus.query(expressionOf("NcsNativeLeak"));
        assertThat(value(leaks, Map.of("kernel", "leaky", "source", "kernel"))).isGreaterThan(0);
    }

    private void assertSelectorsHaveData(Prometheus prometheus, String expr, String what)
            throws Exception {
        Matcher selectors = SELECTOR.matcher(expr);
        int found = 0;
        while (selectors.find()) {
            found++;
            assertThat(prometheus.query(selectors.group()))
                    .as(what + ": series " + selectors.group())
                    .isNotEmpty();
        }
        assertThat(found).as(what + " reads some NCS series: " + expr).isPositive();
    }

    private static Set<String> activeAlerts(Prometheus prometheus) throws Exception {
        return prometheus
                .get("/api/v1/alerts")
                .path("data")
                .path("alerts")
                .valueStream()
                .filter(a -> Set.of("pending", "firing").contains(a.path("state").asString()))
                .map(a -> a.path("labels").path("alertname").asString())
                .collect(Collectors.toSet());
    }

    private static List<Map<String, Object>> alertRules() throws IOException {
        List<Map<String, Object>> rules = new ArrayList<>();
        for (Object group : list(yaml(ALERTS).get("groups"))) {
            for (Object rule : list(map(group).get("rules"))) {
                rules.add(map(rule));
            }
        }
        return rules;
    }

    private static String expressionOf(String alert) throws IOException {
        return alertRules().stream()
                .filter(r -> alert.equals(r.get("alert")))
                .map(r -> (String) r.get("expr"))
                .findFirst()
                .orElseThrow();
    }

    private static Map<String, JsonNode> variables(JsonNode dashboard) {
        Map<String, JsonNode> variables = new LinkedHashMap<>();
        dashboard
                .path("templating")
                .path("list")
                .forEach(v -> variables.put(v.path("name").asString(), v));
        return variables;
    }

    /** {@code $name} and {@code ${name}} replaced, longest names first. */
    static String substitute(String expr, Map<String, String> values) {
        String result = expr;
        List<String> names =
                values.keySet().stream().sorted((a, b) -> b.length() - a.length()).toList();
        for (String name : names) {
            result =
                    result.replace("${" + name + "}", values.get(name))
                            .replace("$" + name, values.get(name));
        }
        assertThat(result).as("every Grafana variable substituted in " + expr).doesNotContain("$");
        return result;
    }

    /** The value of the one sample whose labels include {@code labels}. */
    private static double value(List<JsonNode> samples, Map<String, String> labels) {
        List<JsonNode> matching =
                samples.stream()
                        .filter(s ->
                                labels.entrySet().stream()
                                        .allMatch(l ->
                                                s.path("metric")
                                                        .path(l.getKey())
                                                        .asString()
                                                        .equals(l.getValue())))
                        .toList();
        assertThat(matching).as("a sample with " + labels + " in " + samples).hasSize(1);
        return number(matching.getFirst());
    }

    private static double number(JsonNode sample) {
        return Double.parseDouble(sample.path("value").get(1).asString());
    }

    private String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        return output;
    }

    private static Map<String, Object> yaml(Path file) throws IOException {
        try (Reader reader = Files.newBufferedReader(file)) {
            return new Yaml().load(reader);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object yaml) {
        assertThat(yaml).isInstanceOf(Map.class);
        return (Map<String, Object>) yaml;
    }

    @SuppressWarnings("unchecked")
    private static <T> List<T> list(Object yaml) {
        assertThat(yaml).isInstanceOf(List.class);
        return (List<T>) yaml;
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8);
    }

    /**
     * A Prometheus process on 127.0.0.1 scraping one NCS every second, its storage in a temp dir.
     */
    static final class Prometheus implements AutoCloseable {

        private static final Duration PATIENCE = Duration.ofSeconds(30);

        private final Process process;
        private final Path log;
        private final URI base;
        private final HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

        private Prometheus(Process process, Path log, int port) {
            this.process = process;
            this.log = log;
            this.base = URI.create("http://127.0.0.1:" + port);
        }

        static Prometheus start(Path dir, int managementPort, Path rules) throws Exception {
            int port;
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = socket.getLocalPort();
            }
            Path config = dir.resolve("prometheus-test.yml");
            Files.writeString(
                    config,
                    """
                    global:
                      scrape_interval: 1s
                      evaluation_interval: 1s
                    rule_files:
                      - %s
                    scrape_configs:
                      - job_name: ncs
                        metrics_path: /actuator/prometheus
                        static_configs:
                          - targets: ["127.0.0.1:%d"]
                    """
                            .formatted(rules, managementPort));
            Path log = dir.resolve("prometheus.log");
            Process process =
                    new ProcessBuilder(
                                    PROMETHEUS.toString(),
                                    "--config.file=" + config,
                                    "--storage.tsdb.path=" + dir.resolve("data"),
                                    "--web.listen-address=127.0.0.1:" + port)
                            .redirectErrorStream(true)
                            .redirectOutput(log.toFile())
                            .start();
            Prometheus prometheus = new Prometheus(process, log, port);
            try {
                prometheus.await("Prometheus to be ready", prometheus::ready);
            } catch (AssertionError | RuntimeException e) {
                prometheus.close();
                throw e;
            }
            return prometheus;
        }

        private boolean ready() {
            try {
                return http.send(
                                        HttpRequest.newBuilder(base.resolve("/-/ready")).build(),
                                        HttpResponse.BodyHandlers.discarding())
                                .statusCode()
                        == 200;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        interface Condition {
            boolean holds() throws Exception;
        }

        void await(String what, Condition condition) throws Exception {
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (!condition.holds()) {
                assertThat(process.isAlive()).as("Prometheus exited: " + logText()).isTrue();
                assertThat(System.nanoTime())
                        .as("waited " + PATIENCE + " for " + what + "; log: " + logText())
                        .isLessThan(deadline);
                Thread.sleep(200);
            }
        }

        /** The instant vector {@code expr} evaluates to now; fails if Prometheus refuses it. */
        List<JsonNode> query(String expr) throws Exception {
            JsonNode data = get("/api/v1/query?query=" + encode(expr)).path("data");
            assertThat(data.path("resultType").asString()).as(expr).isEqualTo("vector");
            return data.path("result").valueStream().toList();
        }

        JsonNode get(String pathAndQuery) throws Exception {
            HttpResponse<String> response =
                    http.send(
                            HttpRequest.newBuilder(base.resolve(pathAndQuery)).build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode())
                    .as(pathAndQuery + ": " + response.body())
                    .isEqualTo(200);
            JsonNode json = JSON.readTree(response.body());
            assertThat(json.path("status").asString()).as(response.body()).isEqualTo("success");
            return json;
        }

        private String logText() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
    }
}
