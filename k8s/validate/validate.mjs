// Validates rendered Kubernetes manifests (a multi-document YAML stream, e.g. `kubectl kustomize k8s/`)
// against the Kubernetes API schemas (npm kubernetes-models) and the prometheus-operator CRD schemas
// (@kubernetes-models/prometheus-operator); other custom resources (KServe's) against the schema their
// CRD defines, kept in crds/ (see crds/*.json's $comment for where each comes from).
//
//   kubectl kustomize k8s/ | node k8s/validate/validate.mjs          (or a file name instead of stdin)
//   kubectl kustomize k8s/kserve | node k8s/validate/validate.mjs
//
// Prints one line per object and exits 0 when every object is valid, 1 otherwise. An object is
// invalid when its apiVersion/kind has no schema, when the schema refuses it (types, required
// fields, enums, formats), or when it has a field the schema does not know: the schemas accept
// unknown fields, so a misspelt `readinesProbe` would otherwise pass while the cluster ignores it
// (or, with strict field validation, refuses it).
import { readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";

const CRDS = new URL("./crds/", import.meta.url);

// A CRD's structural schema as the API server applies it: fields it does not list are unknown (pruned, or
// refused with strict field validation) unless x-kubernetes-preserve-unknown-fields says otherwise;
// int-or-string accepts both; nullable accepts null.
function structural(schema) {
    if (schema === null || typeof schema !== "object") {
        return schema;
    }
    if (Array.isArray(schema)) {
        return schema.map(structural);
    }
    const out = {};
    for (const [key, value] of Object.entries(schema)) {
        if (!key.startsWith("x-kubernetes-") && key !== "nullable") {
            out[key] = key === "properties"
                ? Object.fromEntries(Object.entries(value).map(([name, child]) => [name, structural(child)]))
                : structural(value);
        }
    }
    if (schema["x-kubernetes-int-or-string"]) {
        delete out.type;
        out.anyOf = [{ type: "integer" }, { type: "string" }];
    }
    if (schema.nullable && typeof out.type === "string") {
        out.type = [out.type, "null"];
    }
    if (out.properties && out.additionalProperties === undefined && !schema["x-kubernetes-preserve-unknown-fields"]) {
        out.additionalProperties = false;
    }
    return out;
}

function crdValidator(apiVersion, kind) {
    for (const file of readdirSync(CRDS).filter((f) => f.endsWith(".json"))) {
        const crd = JSON.parse(readFileSync(new URL(file, CRDS), "utf8"));
        if (`${crd.group}/${crd.version}` === apiVersion && crd.kind === kind) {
            const schema = structural(crd.schema);
            schema.properties.metadata = { type: "object" };
            return new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
        }
    }
    return undefined;
}

function crdProblems(validate, object) {
    if (validate(object)) {
        return [];
    }
    return validate.errors.map((e) => e.keyword === "additionalProperties"
        ? `${e.instancePath}/${e.params.additionalProperty} is not a field of ${object.apiVersion} ${object.kind}`
        : `${e.instancePath} ${e.message}`);
}

const MODULES = {
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
};

async function modelClass(apiVersion, kind) {
    const slash = apiVersion.lastIndexOf("/");
    const group = slash < 0 ? "" : apiVersion.slice(0, slash);
    const version = apiVersion.slice(slash + 1);
    const base = MODULES[group] ?? (group === "" ? "kubernetes-models" : `kubernetes-models/${group}`);
    try {
        const module = await import(`${base}/${version}/${kind}`);
        return module[kind];
    } catch (e) {
        if (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") {
            return undefined;
        }
        throw e;
    }
}

// The compiled schema validators read every property the schema defines (and every entry of a map),
// and nothing else. Running one over a proxy that records reads tells which fields it never looked at:
// those are unknown to the schema.
function tracking(value, path, reads) {
    if (value === null || typeof value !== "object") {
        return value;
    }
    const seen = new Set();
    reads.push({ path, value, seen });
    const children = new Map();
    return new Proxy(value, {
        get(target, key, receiver) {
            if (typeof key !== "string" || !Object.hasOwn(target, key)) {
                return Reflect.get(target, key, receiver);
            }
            seen.add(key);
            if (!children.has(key)) {
                children.set(key, tracking(target[key], `${path}/${key}`, reads));
            }
            return children.get(key);
        },
    });
}

function unknownFields(reads) {
    const unknown = [];
    for (const { path, value, seen } of reads) {
        for (const key of Object.keys(value)) {
            if (!seen.has(key)) {
                unknown.push(`${path}/${key}`);
            }
        }
    }
    return unknown;
}

function problems(Model, object) {
    const reads = [];
    try {
        Model.prototype.validate.call(tracking(object, "", reads));
    } catch (e) {
        return [e.message];
    }
    return unknownFields(reads).map((path) => `${path} is not a field of ${object.apiVersion} ${object.kind}`);
}

const source = process.argv[2] ? readFileSync(process.argv[2], "utf8") : readFileSync(0, "utf8");
const documents = parseAllDocuments(source);
let objects = 0;
let failures = 0;
for (const document of documents) {
    if (document.errors.length > 0) {
        console.log(`INVALID YAML: ${document.errors.map((e) => e.message).join("; ")}`);
        failures++;
        continue;
    }
    const object = document.toJS();
    if (object === null) {
        continue;
    }
    objects++;
    const name = `${object.apiVersion} ${object.kind} ${object.metadata?.name}`;
    const Model = typeof object.apiVersion === "string" && typeof object.kind === "string"
        ? await modelClass(object.apiVersion, object.kind)
        : undefined;
    const crd = Model || typeof object.apiVersion !== "string" ? undefined : crdValidator(object.apiVersion, object.kind);
    const found = Model ? problems(Model, object)
        : crd ? crdProblems(crd, object) : ["no schema for this apiVersion and kind"];
    if (found.length === 0) {
        console.log(`valid: ${name}`);
    } else {
        failures++;
        console.log(`INVALID: ${name}: ${found.join("; ")}`);
    }
}
if (objects === 0) {
    console.log("INVALID: no objects in the input");
    failures++;
}
console.log(`${objects - Math.min(failures, objects)} of ${objects} objects valid`);
process.exit(failures === 0 ? 0 : 1);
