package dev.ncs.deploy;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ncs.ExternalTools;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.AbstractBindHandler;
import org.springframework.boot.context.properties.bind.BindContext;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertyName;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.convert.ApplicationConversionService;
import org.springframework.boot.convert.DurationStyle;
import org.springframework.boot.origin.Origin;
import org.springframework.boot.origin.PropertySourceOrigin;
import org.springframework.context.annotation.ClassPathScanningCandidateComponentProvider;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.springframework.core.type.filter.AnnotationTypeFilter;
import org.springframework.util.unit.DataSize;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * The Kubernetes manifests (k8s/): the base and every overlay rendered by {@code kubectl
 * kustomize}, validated against the Kubernetes and prometheus-operator schemas by k8s/validate
 * (which must refuse broken manifests too), and checked against the application they deploy: its
 * ports, its actuator endpoints, its configuration properties, and the alert rules of monitoring/.
 */
class KubernetesManifestsTests {

    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path K8S = ROOT.resolve("k8s");
    static final Path BASE = K8S.resolve("base");
    static final Path QUEUE_DEPTH = K8S.resolve("overlays/queue-depth");
    static final Path VALIDATOR = K8S.resolve("validate");

    static final String NAME = "app.kubernetes.io/name";
    static final String COMPONENT = "app.kubernetes.io/component";
    static final String PART_OF = "app.kubernetes.io/part-of";
    static final String VERSION = "app.kubernetes.io/version";

    static final Yaml YAML = new Yaml();

    static List<Map<String, Object>> rendered;
    static Map<String, Object> application;

    @BeforeAll
    static void render() throws Exception {
        ExternalTools.require(
                succeeds(List.of("kubectl", "version", "--client")),
                "kubectl (renders the manifests with kubectl kustomize)");
        rendered = objects(kustomize(K8S));
        application =
                YAML.load(
                        Files.readString(
                                ROOT.resolve("service/src/main/resources/application.yaml")));
    }

    // --- rendering and schemas

    @Test
    void baseAndOverlaysRenderAndMatchTheKubernetesSchemas() throws Exception {
        requireValidator();
        List<Path> kustomizations = new ArrayList<>(List.of(K8S));
        try (Stream<Path> overlays = Files.list(K8S.resolve("overlays"))) {
            overlays.filter(Files::isDirectory).sorted().forEach(kustomizations::add);
        }
        assertThat(kustomizations).contains(QUEUE_DEPTH);
        for (Path kustomization : kustomizations) {
            String yaml = kustomize(kustomization);
            int count = objects(yaml).size();
            Result result = validate(yaml);
            assertThat(result.exit())
                    .as("validator on %s:%n%s", ROOT.relativize(kustomization), result.output())
                    .isZero();
            assertThat(result.output()).contains(count + " of " + count + " objects valid");
        }
    }

    @Test
    void theSchemaValidatorRefusesBrokenManifests() throws Exception {
        requireValidator();
        assertRefused(
                "a misspelt field",
                objects -> {
                    Map<String, Object> container = container(find(objects, "Deployment", "ncs"));
                    container.put("readinesProbe", container.remove("readinessProbe"));
                },
                "INVALID: apps/v1 Deployment ncs",
                "/spec/template/spec/containers/0/readinesProbe is not a field");
        assertRefused(
                "a port that is not a number",
                objects ->
                        map(list(get(find(objects, "Service", "ncs"), "spec", "ports")).get(0))
                                .put("port", "eighty"),
                "INVALID: v1 Service ncs",
                "/spec/ports/0/port");
        assertRefused(
                "a missing required field",
                objects ->
                        map(get(find(objects, "HorizontalPodAutoscaler", "ncs"), "spec"))
                                .remove("scaleTargetRef"),
                "INVALID: autoscaling/v2 HorizontalPodAutoscaler ncs",
                "scaleTargetRef");
        assertRefused(
                "a wrong type in a CRD",
                objects ->
                        map(list(get(find(objects, "ServiceMonitor", "ncs"), "spec", "endpoints"))
                                        .get(0))
                                .put("interval", List.of("15s")),
                "INVALID: monitoring.coreos.com/v1 ServiceMonitor",
                "/spec/endpoints/0/interval");
        assertRefused(
                "an unknown apiVersion",
                objects ->
                        find(objects, "PodDisruptionBudget", "ncs").put("apiVersion", "policy/v9"),
                "INVALID: policy/v9 PodDisruptionBudget ncs",
                "no schema");
    }

    @Test
    void everyBaseFileHoldsOneObjectNamedAfterIt() throws Exception {
        Map<String, Object> kustomization =
                YAML.load(Files.readString(BASE.resolve("kustomization.yaml")));
        Set<String> files = new TreeSet<>();
        try (Stream<Path> list = Files.list(BASE)) {
            list.map(p -> p.getFileName().toString())
                    .filter(f -> f.endsWith(".yaml"))
                    .filter(f -> !f.equals("kustomization.yaml"))
                    .forEach(files::add);
        }
        assertThat(new TreeSet<>(strings(kustomization.get("resources"))))
                .as("kustomization resources")
                .isEqualTo(files);
        for (String file : files) {
            List<Map<String, Object>> inFile = objects(Files.readString(BASE.resolve(file)));
            assertThat(inFile).as(file).hasSize(1);
            Map<String, Object> object = inFile.get(0);
            assertThat(file)
                    .isEqualTo(
                            get(object, "metadata", "name")
                                    + "-"
                                    + ((String) object.get("kind")).toLowerCase()
                                    + ".yaml");
        }
        assertThat(rendered).hasSize(files.size());
    }

    // --- labels and selectors

    @Test
    void everyObjectAndThePodTemplateCarryTheRecommendedLabels() {
        Set<Object> versions = new HashSet<>();
        List<Map<String, Object>> labelled = new ArrayList<>();
        rendered.forEach(o -> labelled.add(map(get(o, "metadata", "labels"))));
        labelled.add(podLabels());
        for (Map<String, Object> labels : labelled) {
            assertThat(labels)
                    .containsKeys(NAME, COMPONENT, PART_OF, VERSION)
                    .containsEntry(NAME, "ncs")
                    .containsEntry(PART_OF, "ncs");
            assertThat((String) labels.get(COMPONENT)).isNotBlank();
            versions.add(labels.get(VERSION));
        }
        assertThat(versions).as("one version everywhere").hasSize(1);
        String image = (String) container(find(rendered, "Deployment", "ncs")).get("image");
        assertThat(image)
                .as("the image tag is the version")
                .endsWith(":" + versions.iterator().next());
    }

    @Test
    void selectorsLeaveOutTheVersionAndSelectThePods() {
        Map<String, Object> pod = podLabels();
        Map<String, Object> deployment = find(rendered, "Deployment", "ncs");
        Map<String, Map<String, Object>> selectors = new LinkedHashMap<>();
        selectors.put("Deployment", matchLabels(get(deployment, "spec", "selector")));
        for (Map<String, Object> service : all("Service")) {
            selectors.put(
                    "Service " + get(service, "metadata", "name"),
                    map(get(service, "spec", "selector")));
        }
        selectors.put(
                "PodDisruptionBudget",
                matchLabels(get(find(rendered, "PodDisruptionBudget", "ncs"), "spec", "selector")));
        selectors.put(
                "NetworkPolicy",
                matchLabels(get(find(rendered, "NetworkPolicy", "ncs"), "spec", "podSelector")));
        for (Object constraint :
                list(get(deployment, "spec", "template", "spec", "topologySpreadConstraints"))) {
            selectors.put(
                    "topologySpreadConstraint", matchLabels(get(constraint, "labelSelector")));
        }
        selectors.forEach((what, selector) -> {
            assertThat(selector).as(what).isNotEmpty().doesNotContainKey(VERSION);
            assertThat(pod).as("pod labels selected by " + what).containsAllEntriesOf(selector);
        });
        Map<String, Object> serviceMonitor =
                matchLabels(get(find(rendered, "ServiceMonitor", "ncs"), "spec", "selector"));
        assertThat(serviceMonitor).isNotEmpty().doesNotContainKey(VERSION);
        assertThat(selectedServices()).as("Services the ServiceMonitor selects").isNotEmpty();
    }

    // --- the application's ports and endpoints

    @Test
    void containerPortsAreTheApplicationsPorts() {
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        assertThat(containerPort(container, "http")).isEqualTo(serverPort()).isEqualTo(8080);
        assertThat(containerPort(container, "grpc")).isEqualTo(grpcPort()).isEqualTo(8081);
        assertThat(containerPort(container, "management"))
                .isEqualTo(managementPort())
                .isEqualTo(9090);
        assertThat(list(container.get("ports"))).hasSize(3);
    }

    @Test
    void probesUseTheActuatorHealthGroupsOnTheManagementPort() {
        assertThat(get(application, "management", "endpoint", "health", "probes", "enabled"))
                .as("management.endpoint.health.probes.enabled")
                .isEqualTo(true);
        assertThat(exposedEndpoints()).contains("health");
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        Map<String, String> expected =
                Map.of(
                        "startupProbe",
                        "/health/liveness",
                        "livenessProbe",
                        "/health/liveness",
                        "readinessProbe",
                        "/health/readiness");
        expected.forEach((probe, group) -> {
            Map<String, Object> httpGet = map(get(container, probe, "httpGet"));
            assertThat(httpGet.get("path")).as(probe).isEqualTo(actuatorBasePath() + group);
            assertThat(resolvePort(container, httpGet.get("port")))
                    .as(probe + " port")
                    .isEqualTo(managementPort());
            assertThat(httpGet.getOrDefault("scheme", "HTTP")).isEqualTo("HTTP");
        });
    }

    @Test
    void servicesWithAClusterIpExposeOnlyTheApis() {
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        List<Map<String, Object>> services = all("Service");
        assertThat(services).extracting(s -> get(s, "metadata", "name")).contains("ncs");
        for (Map<String, Object> service : services) {
            boolean headless = "None".equals(get(service, "spec", "clusterIP"));
            String type = (String) map(service.get("spec")).getOrDefault("type", "ClusterIP");
            for (Object port : list(get(service, "spec", "ports"))) {
                int target =
                        resolvePort(
                                container,
                                map(port).getOrDefault("targetPort", map(port).get("port")));
                if (!headless) {
                    assertThat(target)
                            .as("Service %s exposes", get(service, "metadata", "name"))
                            .isIn(serverPort(), grpcPort());
                }
            }
            if (headless) {
                assertThat(type).isEqualTo("ClusterIP");
            }
        }
        List<Object> apiPorts = list(get(find(rendered, "Service", "ncs"), "spec", "ports"));
        assertThat(apiPorts).hasSize(2);
        Map<String, Object> grpc =
                apiPorts.stream()
                        .map(KubernetesManifestsTests::map)
                        .filter(p -> "grpc".equals(p.get("name")))
                        .findFirst()
                        .orElseThrow();
        assertThat(grpc.get("appProtocol"))
                .as("gRPC is plaintext HTTP/2")
                .isEqualTo("kubernetes.io/h2c");
    }

    @Test
    void theServiceMonitorScrapesThePrometheusEndpointOnTheManagementPort() {
        assertThat(exposedEndpoints()).contains("prometheus");
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        List<Object> endpoints =
                list(get(find(rendered, "ServiceMonitor", "ncs"), "spec", "endpoints"));
        assertThat(endpoints).hasSize(1);
        Map<String, Object> endpoint = map(endpoints.get(0));
        assertThat(endpoint.get("path")).isEqualTo(actuatorBasePath() + "/prometheus");
        // The selector also matches the API Service; only a port with the endpoint's name is
        // scraped.
        List<Map<String, Object>> ports = new ArrayList<>();
        List<Map<String, Object>> scraped = new ArrayList<>();
        for (Map<String, Object> service : selectedServices()) {
            list(get(service, "spec", "ports")).stream()
                    .map(KubernetesManifestsTests::map)
                    .filter(p -> endpoint.get("port").equals(p.get("name")))
                    .forEach(p -> {
                        ports.add(p);
                        scraped.add(service);
                    });
        }
        assertThat(ports).as("Service ports named %s", endpoint.get("port")).hasSize(1);
        assertThat(resolvePort(container, ports.get(0).get("targetPort")))
                .isEqualTo(managementPort());
        assertThat(get(scraped.get(0), "spec", "clusterIP"))
                .as("the scraped Service is headless")
                .isEqualTo("None");
    }

    @Test
    void theNetworkPolicyOpensTheApisToAllAndManagementToPrometheusOnly() {
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        Map<String, Object> policy = find(rendered, "NetworkPolicy", "ncs");
        assertThat(strings(get(policy, "spec", "policyTypes"))).contains("Ingress");
        boolean apiOpen = false;
        boolean grpcOpen = false;
        boolean managementAdmitted = false;
        for (Object rule : list(get(policy, "spec", "ingress"))) {
            assertThat(map(rule)).as("a rule without ports admits every port").containsKey("ports");
            Object from = map(rule).get("from");
            for (Object port : list(map(rule).get("ports"))) {
                int number = resolvePort(container, map(port).get("port"));
                if (number == serverPort() || number == grpcPort()) {
                    assertThat(from).as("API clients come from anywhere").isNull();
                    apiOpen |= number == serverPort();
                    grpcOpen |= number == grpcPort();
                } else {
                    assertThat(number).isEqualTo(managementPort());
                    assertThat(list(from))
                            .isNotEmpty()
                            .allSatisfy(peer -> {
                                assertThat(matchLabels(get(peer, "namespaceSelector")))
                                        .containsEntry("kubernetes.io/metadata.name", "monitoring");
                                assertThat(matchLabels(get(peer, "podSelector")))
                                        .containsEntry("app.kubernetes.io/name", "prometheus");
                            });
                    managementAdmitted = true;
                }
            }
        }
        assertThat(apiOpen).as("the API port is admitted").isTrue();
        assertThat(grpcOpen).as("the gRPC port is admitted").isTrue();
        assertThat(managementAdmitted).as("Prometheus is admitted to the management port").isTrue();
    }

    // --- the pod

    @Test
    void containersRunAsAFixedNonRootUserWithNothingWritableButTmp() {
        Map<String, Object> podSpec =
                map(get(find(rendered, "Deployment", "ncs"), "spec", "template", "spec"));
        assertThat(podSpec).doesNotContainKeys("hostNetwork", "hostPID", "hostIPC");
        assertThat(podSpec.get("automountServiceAccountToken")).isEqualTo(false);
        Map<String, Object> pod = map(podSpec.get("securityContext"));
        for (Map<String, Object> container : containers(podSpec)) {
            Map<String, Object> own = map(container.get("securityContext"));
            assertThat(effective(own, pod, "runAsNonRoot")).isEqualTo(true);
            assertThat(effective(own, pod, "runAsUser")).isEqualTo(10001);
            assertThat(effective(own, pod, "runAsGroup")).isEqualTo(10001);
            assertThat(get(effective(own, pod, "seccompProfile"), "type"))
                    .isEqualTo("RuntimeDefault");
            assertThat(own.get("readOnlyRootFilesystem")).isEqualTo(true);
            assertThat(own.get("allowPrivilegeEscalation")).isEqualTo(false);
            assertThat(own.getOrDefault("privileged", false)).isEqualTo(false);
            assertThat(strings(get(own, "capabilities", "drop"))).containsExactly("ALL");
            assertThat(map(own.get("capabilities"))).doesNotContainKey("add");

            Map<String, Object> tmp =
                    list(container.get("volumeMounts")).stream()
                            .map(KubernetesManifestsTests::map)
                            .filter(m -> "/tmp".equals(m.get("mountPath")))
                            .findFirst()
                            .orElseThrow(() -> new AssertionError("no volume on /tmp"));
            assertThat(tmp.getOrDefault("readOnly", false)).isEqualTo(false);
            Map<String, Object> volume =
                    list(podSpec.get("volumes")).stream()
                            .map(KubernetesManifestsTests::map)
                            .filter(v -> tmp.get("name").equals(v.get("name")))
                            .findFirst()
                            .orElseThrow();
            assertThat(volume).containsKey("emptyDir");
        }
    }

    @Test
    void theImageRunsAsTheUserAndHasTheLibraryTheManifestsExpect() throws IOException {
        Path dockerfile = ROOT.resolve("Dockerfile");
        assumeTrue(Files.exists(dockerfile), "no Dockerfile to compare with");
        String text = Files.readString(dockerfile);
        Map<String, String> args = new LinkedHashMap<>();
        Matcher arg = Pattern.compile("(?m)^ARG (\\w+)=(\\S+)$").matcher(text);
        while (arg.find()) {
            args.put(arg.group(1), arg.group(2));
        }
        Matcher user = Pattern.compile("(?m)^USER (\\S+)$").matcher(text);
        String lastUser = null;
        while (user.find()) {
            lastUser = user.group(1);
        }
        assertThat(lastUser).as("the image's USER").isNotNull();
        Matcher variable = Pattern.compile("\\$\\{(\\w+)}").matcher(lastUser);
        String uid =
                variable.replaceAll(m -> args.getOrDefault(m.group(1), m.group())).split(":")[0];
        Map<String, Object> container = container(find(rendered, "Deployment", "ncs"));
        assertThat(uid)
                .as("the image's user")
                .isEqualTo(String.valueOf(get(container, "securityContext", "runAsUser")));
        Object library = get(find(rendered, "ConfigMap", "ncs"), "data", "NCS_NATIVE_LIBRARY");
        assertThat(text)
                .as("the image installs the library the ConfigMap names")
                .contains("NCS_NATIVE_LIBRARY=" + library);
    }

    @Test
    void everyContainerHasRequestsAndLimits() {
        Map<String, Object> podSpec =
                map(get(find(rendered, "Deployment", "ncs"), "spec", "template", "spec"));
        for (Map<String, Object> container : containers(podSpec)) {
            for (String kind : List.of("requests", "limits")) {
                assertThat(map(get(container, "resources", kind)))
                        .as(container.get("name") + " " + kind)
                        .containsKeys("cpu", "memory");
            }
            assertThat(bytes((String) get(container, "resources", "requests", "memory")))
                    .isLessThanOrEqualTo(
                            bytes((String) get(container, "resources", "limits", "memory")));
        }
    }

    @Test
    void heapAndNativeBudgetLeaveRoomInTheMemoryLimit() {
        Map<String, Object> config = map(get(find(rendered, "ConfigMap", "ncs"), "data"));
        long limit =
                bytes(
                        (String)
                                get(
                                        container(find(rendered, "Deployment", "ncs")),
                                        "resources",
                                        "limits",
                                        "memory"));
        Matcher percentage =
                Pattern.compile("-XX:MaxRAMPercentage=(\\d+(?:\\.\\d+)?)")
                        .matcher((String) config.get("JAVA_TOOL_OPTIONS"));
        assertThat(percentage.find()).as("JAVA_TOOL_OPTIONS sets MaxRAMPercentage").isTrue();
        double heap = limit * Double.parseDouble(percentage.group(1)) / 100;
        long nativeBudget = DataSize.parse((String) config.get("NCS_NATIVE_MEMORYLIMIT")).toBytes();
        assertThat(nativeBudget).as("a native memory budget is set").isPositive();
        // The JVM needs the rest: metaspace, code cache, thread stacks, Tomcat's and NIO's buffers.
        assertThat(heap + nativeBudget).as("heap + native budget").isLessThanOrEqualTo(0.7 * limit);
    }

    @Test
    void gracefulShutdownFinishesWithinTheGracePeriod() {
        assertThat(get(application, "server", "shutdown")).isEqualTo("graceful");
        Map<String, Object> deployment = find(rendered, "Deployment", "ncs");
        Map<String, Object> config = map(get(find(rendered, "ConfigMap", "ncs"), "data"));
        Duration shutdown =
                DurationStyle.detectAndParse(
                        (String) config.get("SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE"));
        Duration requests =
                DurationStyle.detectAndParse((String) config.get("NCS_REQUESTS_DEFAULTTIMEOUT"));
        assertThat(shutdown).as("in-flight requests may finish").isGreaterThanOrEqualTo(requests);
        int preStop =
                (Integer) get(container(deployment), "lifecycle", "preStop", "sleep", "seconds");
        assertThat(preStop).as("endpoints are removed before SIGTERM").isGreaterThanOrEqualTo(5);
        int grace =
                (Integer)
                        get(
                                deployment,
                                "spec",
                                "template",
                                "spec",
                                "terminationGracePeriodSeconds");
        assertThat((long) grace).isGreaterThan(preStop + shutdown.toSeconds());
    }

    @Test
    void theConfigMapBindsToTheServicesProperties() {
        Map<String, Object> deployment = find(rendered, "Deployment", "ncs");
        Map<String, Object> configMap = find(rendered, "ConfigMap", "ncs");
        assertThat(list(container(deployment).get("envFrom")))
                .extracting(e -> get(e, "configMapRef", "name"))
                .containsExactly(get(configMap, "metadata", "name"));
        Map<String, Object> env = new LinkedHashMap<>(map(configMap.get("data")));
        env.values().forEach(v -> assertThat(v).isInstanceOf(String.class));

        // Bind every @ConfigurationProperties record of NCS from these variables alone, as Spring
        // does in
        // the container; a value that does not convert fails here, and a variable nothing reads is
        // unused.
        Binder binder =
                new Binder(
                        ConfigurationPropertySources.from(
                                new SystemEnvironmentPropertySource(
                                        StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
                                        env)),
                        null,
                        ApplicationConversionService.getSharedInstance());
        Set<String> used = new TreeSet<>();
        BindHandler recordUse =
                new AbstractBindHandler() {
                    @Override
                    public Object onSuccess(
                            ConfigurationPropertyName name,
                            Bindable<?> target,
                            BindContext context,
                            Object result) {
                        if (context.getConfigurationProperty() != null
                                && Origin.from(context.getConfigurationProperty())
                                        instanceof PropertySourceOrigin origin) {
                            used.add(origin.getPropertyName());
                        }
                        return result;
                    }
                };
        List<Class<?>> propertiesTypes = configurationPropertiesTypes();
        assertThat(propertiesTypes).hasSizeGreaterThan(3);
        for (Class<?> type : propertiesTypes) {
            String prefix = type.getAnnotation(ConfigurationProperties.class).value();
            binder.bind(prefix, Bindable.of(type), recordUse);
        }
        Set<String> ncsVariables = new TreeSet<>(env.keySet());
        ncsVariables.removeIf(k -> !k.startsWith("NCS_"));
        assertThat(ncsVariables).isNotEmpty();
        assertThat(used).as("NCS_ variables bound to a property").isEqualTo(ncsVariables);

        Map<String, Object> tokens =
                list(container(deployment).get("env")).stream()
                        .map(KubernetesManifestsTests::map)
                        .filter(e -> "NCS_SECURITY_TOKENS".equals(e.get("name")))
                        .findFirst()
                        .orElseThrow();
        assertThat(get(tokens, "valueFrom", "secretKeyRef", "optional"))
                .as("the base deploys without the Secret")
                .isEqualTo(true);
    }

    @Test
    void theAutoscalerOwnsTheReplicasAndTheBudgetKeepsOnePodUp() {
        Map<String, Object> deployment = find(rendered, "Deployment", "ncs");
        assertThat(map(deployment.get("spec")))
                .as("replicas are the HPA's")
                .doesNotContainKey("replicas");
        Map<String, Object> hpa = find(rendered, "HorizontalPodAutoscaler", "ncs");
        assertThat(map(get(hpa, "spec", "scaleTargetRef")))
                .containsEntry("apiVersion", "apps/v1")
                .containsEntry("kind", "Deployment")
                .containsEntry("name", get(deployment, "metadata", "name"));
        int minReplicas = (Integer) get(hpa, "spec", "minReplicas");
        assertThat(minReplicas).isGreaterThanOrEqualTo(2);
        assertThat(get(find(rendered, "PodDisruptionBudget", "ncs"), "spec", "maxUnavailable"))
                .isEqualTo(1);
        assertThat(list(get(hpa, "spec", "metrics")))
                .extracting(m -> get(m, "resource", "name"))
                .contains("cpu");
    }

    @Test
    void theQueueDepthOverlayScalesOnTheMetricTheAdapterRuleServes() throws Exception {
        List<Map<String, Object>> overlay = objects(kustomize(QUEUE_DEPTH));
        Map<String, Object> hpa = find(overlay, "HorizontalPodAutoscaler", "ncs");
        List<Map<String, Object>> others = new ArrayList<>(overlay);
        others.remove(hpa);
        List<Map<String, Object>> baseOthers = new ArrayList<>(rendered);
        baseOthers.remove(find(rendered, "HorizontalPodAutoscaler", "ncs"));
        assertThat(others).as("the overlay changes the HPA only").isEqualTo(baseOthers);

        Map<String, Object> pods =
                list(get(hpa, "spec", "metrics")).stream()
                        .map(KubernetesManifestsTests::map)
                        .filter(m -> "Pods".equals(m.get("type")))
                        .findFirst()
                        .orElseThrow(
                                () -> new AssertionError("no Pods metric in the overlay's HPA"));
        String metric = (String) get(pods, "pods", "metric", "name");
        assertThat(metric).isEqualTo("ncs_queue_depth");
        assertThat(get(pods, "pods", "target", "type")).isEqualTo("AverageValue");

        Map<String, Object> adapter =
                YAML.load(Files.readString(QUEUE_DEPTH.resolve("prometheus-adapter-rules.yaml")));
        List<Object> rules = list(adapter.get("rules"));
        assertThat(rules).hasSize(1);
        Map<String, Object> rule = map(rules.get(0));
        assertThat(get(rule, "name", "as"))
                .as("the custom metric the adapter serves")
                .isEqualTo(metric);
        assertThat((String) rule.get("seriesQuery")).startsWith(metric + "{");
        assertThat(map(get(rule, "resources", "overrides"))).containsKeys("namespace", "pod");
        assertThat((String) rule.get("metricsQuery"))
                .contains("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>");
    }

    @Test
    void thePrometheusRuleCarriesTheAlertsOfMonitoring() throws IOException {
        Path alertsFile = ROOT.resolve("monitoring/prometheus/ncs-alerts.yml");
        Map<String, Object> alerts = YAML.load(Files.readString(alertsFile));
        List<Object> expected = list(alerts.get("groups"));
        List<Object> actual = list(get(find(rendered, "PrometheusRule", "ncs"), "spec", "groups"));
        assertThat(alertNames(actual))
                .as("alerts of the PrometheusRule")
                .isEqualTo(alertNames(expected))
                .isNotEmpty();
        assertThat(actual)
                .as(
                        "the PrometheusRule's groups, identical to %s (node k8s/validate/sync-rules.mjs "
                                + "regenerates it)",
                        ROOT.relativize(alertsFile))
                .isEqualTo(expected);
    }

    // --- helpers

    record Result(int exit, String output) {}

    // --- KServe (k8s/kserve): checked against the schemas of KServe's own CRDs (k8s/validate/crds)

    @Test
    void theKServeRuntimeAndInferenceServiceMatchKServesSchemasAndTheApplication()
            throws Exception {
        requireValidator();
        String yaml = kustomize(K8S.resolve("kserve"));
        Result result = validate(yaml);
        assertThat(result.exit()).as("validator on k8s/kserve:%n%s", result.output()).isZero();
        assertThat(result.output()).contains("2 of 2 objects valid");

        List<Map<String, Object>> kserve = objects(yaml);
        Map<String, Object> runtime = find(kserve, "ClusterServingRuntime", "ncs");
        assertThat(get(runtime, "apiVersion")).isEqualTo("serving.kserve.io/v1alpha1");
        assertThat(list(get(runtime, "spec", "supportedModelFormats")))
                .extracting(f -> map(f).get("name"))
                .containsExactly("ncs");
        assertThat(strings(get(runtime, "spec", "protocolVersions")))
                .containsExactly("v2", "grpc-v2");
        Map<String, Object> container = map(list(get(runtime, "spec", "containers")).get(0));
        assertThat(container.get("name")).isEqualTo("kserve-container");
        assertThat(map(list(container.get("ports")).get(0)).get("containerPort"))
                .isEqualTo(serverPort());
        assertThat(get(runtime, "spec", "annotations", "prometheus.kserve.io/port"))
                .isEqualTo(Integer.toString(managementPort()));
        assertThat(get(runtime, "spec", "annotations", "prometheus.kserve.io/path"))
                .isEqualTo(actuatorBasePath() + "/prometheus");

        Map<String, Object> service = find(kserve, "InferenceService", "ncs");
        assertThat(get(service, "apiVersion")).isEqualTo("serving.kserve.io/v1beta1");
        Map<String, Object> model = map(get(service, "spec", "predictor", "model"));
        assertThat(model).doesNotContainKey("storageUri");
        assertThat(model.get("protocolVersion")).isEqualTo("v2");
        assertThat(model.get("runtime")).isEqualTo(get(runtime, "metadata", "name"));
        assertThat(get(model, "modelFormat", "name")).isEqualTo("ncs");
    }

    @Test
    void theKServeSchemasRefuseAFieldTheyDoNotKnow() throws Exception {
        requireValidator();
        String yaml =
                kustomize(K8S.resolve("kserve")).replace("protocolVersions:", "protocolVersion:");
        Result result = validate(yaml);
        assertThat(result.exit()).isEqualTo(1);
        assertThat(result.output())
                .contains(
                        "/spec/protocolVersion is not a field of serving.kserve.io/v1alpha1 "
                                + "ClusterServingRuntime")
                .contains("1 of 2 objects valid");
    }

    interface Breakage {
        void apply(List<Map<String, Object>> objects);
    }

    static void requireValidator() {
        ExternalTools.require(
                succeeds(List.of("node", "--version"))
                        && Files.isDirectory(VALIDATOR.resolve("node_modules/kubernetes-models")),
                "node with k8s/validate's packages (npm ci in k8s/validate)");
    }

    static void assertRefused(String what, Breakage breakage, String... expectedOutput)
            throws Exception {
        List<Map<String, Object>> objects = objects(kustomize(K8S));
        breakage.apply(objects);
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        Result result = validate(new Yaml(options).dumpAll(objects.iterator()));
        assertThat(result.exit())
                .as("validator exit with %s:%n%s", what, result.output())
                .isEqualTo(1);
        assertThat(result.output()).as(what).contains(expectedOutput);
        assertThat(result.output())
                .as("%s: the other objects stay valid", what)
                .contains((objects.size() - 1) + " of " + objects.size() + " objects valid");
    }

    static String kustomize(Path dir) throws Exception {
        Result result = run(List.of("kubectl", "kustomize", dir.toString()));
        assertThat(result.exit()).as("kubectl kustomize %s:%n%s", dir, result.output()).isZero();
        return result.output();
    }

    static Result validate(String yaml) throws Exception {
        Path input = Files.createTempFile("ncs-k8s", ".yaml");
        try {
            Files.writeString(input, yaml);
            return run(
                    List.of(
                            "node",
                            VALIDATOR.resolve("validate.mjs").toString(),
                            input.toString()));
        } finally {
            Files.delete(input);
        }
    }

    static boolean succeeds(List<String> command) {
        try {
            return run(command).exit() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    /**
     * Runs a command in the repository root, its output and errors in one text, bounded in time.
     */
    static Result run(List<String> command) throws Exception {
        Path output = Files.createTempFile("ncs-k8s", ".out");
        try {
            Process process =
                    new ProcessBuilder(command)
                            .directory(ROOT.toFile())
                            .redirectErrorStream(true)
                            .redirectOutput(output.toFile())
                            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                            .start();
            if (!process.waitFor(2, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                fail(command + " did not finish in 2 minutes");
            }
            return new Result(process.exitValue(), Files.readString(output, UTF_8));
        } finally {
            Files.delete(output);
        }
    }

    static List<Map<String, Object>> objects(String yaml) {
        List<Map<String, Object>> objects = new ArrayList<>();
        for (Object document : YAML.loadAll(yaml)) {
            if (document != null) {
                objects.add(map(document));
            }
        }
        return objects;
    }

    static List<Map<String, Object>> all(String kind) {
        return rendered.stream().filter(o -> kind.equals(o.get("kind"))).toList();
    }

    static Map<String, Object> find(List<Map<String, Object>> objects, String kind, String name) {
        return objects.stream()
                .filter(o -> kind.equals(o.get("kind")) && name.equals(get(o, "metadata", "name")))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " " + name));
    }

    static List<Map<String, Object>> containers(Map<String, Object> podSpec) {
        List<Map<String, Object>> containers = new ArrayList<>();
        for (String key : List.of("initContainers", "containers")) {
            if (podSpec.get(key) != null) {
                list(podSpec.get(key)).forEach(c -> containers.add(map(c)));
            }
        }
        return containers;
    }

    static Map<String, Object> container(Map<String, Object> deployment) {
        List<Object> containers = list(get(deployment, "spec", "template", "spec", "containers"));
        assertThat(containers).hasSize(1);
        return map(containers.get(0));
    }

    static Map<String, Object> podLabels() {
        return map(
                get(find(rendered, "Deployment", "ncs"), "spec", "template", "metadata", "labels"));
    }

    /** The Services whose labels the ServiceMonitor's selector matches. */
    static List<Map<String, Object>> selectedServices() {
        Map<String, Object> selector =
                matchLabels(get(find(rendered, "ServiceMonitor", "ncs"), "spec", "selector"));
        return all("Service").stream()
                .filter(s ->
                        map(get(s, "metadata", "labels"))
                                .entrySet()
                                .containsAll(selector.entrySet()))
                .toList();
    }

    /**
     * A label selector given as matchLabels only (matchExpressions would make them a partial view).
     */
    static Map<String, Object> matchLabels(Object selector) {
        assertThat(map(selector)).doesNotContainKey("matchExpressions");
        return map(map(selector).get("matchLabels"));
    }

    static int containerPort(Map<String, Object> container, String name) {
        return list(container.get("ports")).stream()
                .map(KubernetesManifestsTests::map)
                .filter(p -> name.equals(p.get("name")))
                .map(p -> (Integer) p.get("containerPort"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no container port named " + name));
    }

    /** A port given by number or by the name of a container port. */
    static int resolvePort(Map<String, Object> container, Object port) {
        return port instanceof Integer number ? number : containerPort(container, (String) port);
    }

    static Object effective(Map<String, Object> container, Map<String, Object> pod, String key) {
        return container.containsKey(key) ? container.get(key) : pod.get(key);
    }

    static int serverPort() {
        return (Integer) get(application, "server", "port");
    }

    static int grpcPort() {
        return (Integer) get(application, "ncs", "grpc", "port");
    }

    static int managementPort() {
        return (Integer) get(application, "management", "server", "port");
    }

    static String actuatorBasePath() {
        Object endpoints = get(application, "management", "endpoints", "web");
        Object basePath = map(endpoints).get("base-path");
        return basePath == null ? "/actuator" : (String) basePath;
    }

    static List<String> exposedEndpoints() {
        Object include = get(application, "management", "endpoints", "web", "exposure", "include");
        return Stream.of(((String) include).split(",")).map(String::trim).toList();
    }

    static List<Class<?>> configurationPropertiesTypes() {
        ClassPathScanningCandidateComponentProvider scanner =
                new ClassPathScanningCandidateComponentProvider(false);
        scanner.addIncludeFilter(new AnnotationTypeFilter(ConfigurationProperties.class));
        List<Class<?>> types = new ArrayList<>();
        for (BeanDefinition candidate : scanner.findCandidateComponents("dev.ncs")) {
            try {
                types.add(Class.forName(candidate.getBeanClassName()));
            } catch (ClassNotFoundException e) {
                throw new AssertionError(e);
            }
        }
        return types;
    }

    static List<String> alertNames(List<Object> groups) {
        List<String> names = new ArrayList<>();
        for (Object group : groups) {
            list(map(group).get("rules"))
                    .forEach(r -> names.add(Objects.toString(map(r).get("alert"))));
        }
        return names;
    }

    /** A Kubernetes memory quantity (e.g. 4Gi, 512M) in bytes. */
    static long bytes(String quantity) {
        Matcher m = Pattern.compile("(\\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?").matcher(quantity);
        assertThat(m.matches()).as("memory quantity %s", quantity).isTrue();
        long value = Long.parseLong(m.group(1));
        return value
                * switch (m.group(2) == null ? "" : m.group(2)) {
                    case "Ki" -> 1L << 10;
                    case "Mi" -> 1L << 20;
                    case "Gi" -> 1L << 30;
                    case "Ti" -> 1L << 40;
                    case "k" -> 1_000L;
                    case "M" -> 1_000_000L;
                    case "G" -> 1_000_000_000L;
                    case "T" -> 1_000_000_000_000L;
                    default -> 1L;
                };
    }

    static Object get(Object node, String... path) {
        Object current = node;
        for (String key : path) {
            assertThat(current)
                    .as("parent of %s in %s", key, String.join(".", path))
                    .isInstanceOf(Map.class);
            current = map(current).get(key);
        }
        return current;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object node) {
        assertThat(node).isInstanceOf(Map.class);
        return (Map<String, Object>) node;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object node) {
        assertThat(node).isInstanceOf(List.class);
        return (List<Object>) node;
    }

    static List<String> strings(Object node) {
        return list(node).stream().map(String.class::cast).toList();
    }
}
