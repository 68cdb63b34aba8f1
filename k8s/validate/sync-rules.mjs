// Writes k8s/base/ncs-prometheusrule.yaml from monitoring/prometheus/ncs-alerts.yml, so that
// Prometheus on Kubernetes (prometheus-operator) and the compose stack fire the same alerts. Run after
// editing the alert rules:   node k8s/validate/sync-rules.mjs
// (KubernetesManifestsTests fails while the two differ.)
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Document, parseDocument, visit } from "yaml";

const root = fileURLToPath(new URL("../../", import.meta.url));
const alerts = parseDocument(readFileSync(`${root}monitoring/prometheus/ncs-alerts.yml`, "utf8"));
if (alerts.errors.length > 0) {
    throw alerts.errors[0];
}
const deployment = parseDocument(readFileSync(`${root}k8s/base/ncs-deployment.yaml`, "utf8")).toJS();

const rule = new Document({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "ncs", labels: deployment.metadata.labels },
    spec: { groups: null },
});
rule.setIn(["spec", "groups"], alerts.get("groups", true));
// Multi-line values (PromQL with indented lines) as literal blocks: Go's YAML parser, which kustomize
// uses, reads more-indented lines of a folded block with an extra line break.
visit(rule, {
    Scalar(_, node) {
        if (typeof node.value === "string" && node.value.includes("\n")) {
            node.type = "BLOCK_LITERAL";
        }
    },
});
rule.commentBefore = [
    " The alert rules of monitoring/prometheus/ncs-alerts.yml for prometheus-operator; what each alert",
    " means and what to do is in its annotations. Generated: edit ncs-alerts.yml, then run",
    "   node k8s/validate/sync-rules.mjs",
].join("\n");
writeFileSync(`${root}k8s/base/ncs-prometheusrule.yaml`, rule.toString({ lineWidth: 100 }));
