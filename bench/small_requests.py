#!/usr/bin/env python3
"""Small requests: rate, latency and the service's CPU per request, against its own health endpoint.

Usage (after `./mvnw install -DskipTests`; needs `wrk`, Debian's package):
    python3 bench/small_requests.py [--seconds 10] [--connections 1,16] [--jar service/target/ncs.jar]
    python3 bench/small_requests.py --url http://127.0.0.1:8080 --pid <pid of a running NCS>

Without --url it starts `java -jar <jar>` on free ports itself and stops it at the end. Cases, each
at every connection count, in one run on one server:
* health:   GET /v2/health/ready (the same Tomcat and filters, no kernel): the ceiling
* describe: 16 FP64 values in JSON
* matmul:   two 4x4 FP32 matrices in JSON
* identity: 4 KiB (512 FP64) in binary, the output in binary
Each case is checked once against numpy before it is timed. Then `wrk -t1 -c<n> -d<s>s` drives it
(keep-alive connections; one wrk thread, since the machine has two cores and the service needs
them); requests/s, p50 and p99 come from wrk, CPU per request from the service's /proc/<pid>/stat
(user + system time over the run, divided by the requests served). Every case must answer 2xx
only: a non-2xx answer fails the run. The goal (issue 12): each infer case at 16 connections
>= 40% of health's rate, p99 <= 5 ms, CPU <= 60 us per request.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

LUA = r"""
wrk.method = "%(method)s"
%(body)s
%(headers)s
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %%d, "micros": %%d, "non2xx": %%d, "socket_errors": %%d, ' ..
    '"p50": %%d, "p99": %%d}\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def cases(rng):
    x = rng.standard_normal(16)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    b = rng.standard_normal((4, 4)).astype(np.float32)
    blob = rng.standard_normal(512)
    describe = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [16], "data": x.tolist()}]})
    matmul = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [4, 4], "data": a.ravel().tolist()},
        {"name": "b", "datatype": "FP32", "shape": [4, 4], "data": b.ravel().tolist()}]})
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [512],
                                     "parameters": {"binary_data_size": blob.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()

    def check_describe(headers, data):
        out = {o["name"]: o["data"][0] for o in json.loads(data)["outputs"] if o["data"]}
        assert out["count"] == 16 and abs(out["mean"] - x.mean()) < 1e-12 and abs(out["std"] - x.std()) < 1e-12, out

    def check_matmul(headers, data):
        c = np.array(json.loads(data)["outputs"][0]["data"], dtype=np.float32).reshape(4, 4)
        assert np.allclose(c, a @ b, rtol=1e-5, atol=1e-6), c

    def check_identity(headers, data):
        n = int(headers["Inference-Header-Content-Length"])
        assert np.array_equal(np.frombuffer(data[n:], dtype="<f8"), blob)

    return [
        ("health", "GET", "/v2/health/ready", None, {}, lambda h, d: None),
        ("describe", "POST", "/v2/models/describe/infer", describe.encode(), {}, check_describe),
        ("matmul", "POST", "/v2/models/matmul/infer", matmul.encode(), {}, check_matmul),
        ("identity", "POST", "/v2/models/identity/infer", header + blob.astype("<f8").tobytes(),
         {"Inference-Header-Content-Length": str(len(header))}, check_identity),
    ]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url, path, method, body, headers, connections, seconds, workdir, pid):
    body_line = ""
    if body is not None:
        body_file = os.path.join(workdir, "body.bin")
        with open(body_file, "wb") as f:
            f.write(body)
        body_line = 'local f = io.open("%s", "rb"); wrk.body = f:read("*a"); f:close()' % body_file
    header_lines = "\n".join('wrk.headers["%s"] = "%s"' % kv for kv in headers.items())
    script = os.path.join(workdir, "case.lua")
    with open(script, "w") as f:
        f.write(LUA % {"method": method, "body": body_line, "headers": header_lines})
    before = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s", "-s", script,
                          url + path], capture_output=True, text=True, timeout=seconds + 60)
    cpu = cpu_seconds(pid) - before
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if not line:
        raise SystemExit("wrk printed no result:\n" + out.stdout + out.stderr)
    result = json.loads(line[0][len("RESULT "):])
    result["cpu_us"] = cpu * 1e6 / max(1, result["requests"])
    return result


def start(jar, java):
    port, management = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="ncs-bench-", suffix=".log", delete=False)
    process = subprocess.Popen([java, "-jar", jar, "--server.port=%d" % port, "--management.server.port=%d" % management],
                               stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    for _ in range(600):
        try:
            if http(url + "/v2/health/ready")[0] == 200:
                return process, url
        except OSError:
            pass
        if process.poll() is not None:
            raise SystemExit("NCS exited; log: " + log.name)
        time.sleep(0.1)
    process.kill()
    raise SystemExit("NCS did not become ready; log: " + log.name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="a running NCS (then --pid is needed too)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--jar", default="service/target/ncs.jar")
    parser.add_argument("--java", default=os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"),
                                                       "bin", "java"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=15,
                        help="seconds of load per case before timing (the JIT is still compiling for a minute)")
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--cases", default="health,describe,matmul,identity")
    args = parser.parse_args()

    process = None
    if args.url:
        if not args.pid:
            raise SystemExit("--url needs --pid (the service's process, for its CPU time)")
        url, pid = args.url, args.pid
    else:
        process, url = start(args.jar, args.java)
        pid = process.pid
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        print("CPU: %s, %d cores; wrk -t1, %d s per case" % (model, os.cpu_count(), args.seconds))
        wanted = args.cases.split(",")
        selected = [c for c in cases(np.random.default_rng(7)) if c[0] in wanted]
        with tempfile.TemporaryDirectory() as workdir:
            for name, method, path, body, headers, check in selected:
                status, response_headers, data = http(url + path, body, headers)
                assert status == 200, (name, status, data[:300])
                check(response_headers, data)
                run_wrk(url, path, method, body, headers, 16, args.warmup, workdir, pid)
            rows = []
            for connections in [int(c) for c in args.connections.split(",")]:
                for name, method, path, body, headers, _ in selected:
                    r = run_wrk(url, path, method, body, headers, connections, args.seconds, workdir, pid)
                    if r["non2xx"] or r["socket_errors"]:
                        raise SystemExit("%s at %d connections: %d non-2xx answers, %d socket errors"
                                         % (name, connections, r["non2xx"], r["socket_errors"]))
                    r.update(case=name, connections=connections, rate=r["requests"] * 1e6 / r["micros"])
                    rows.append(r)
        print("| request | connections | requests/s | vs health | p50 ms | p99 ms | CPU us/request |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            health = next((h["rate"] for h in rows if h["case"] == "health" and h["connections"] == r["connections"]),
                          None)
            print("| %s | %d | %.0f | %s | %.2f | %.2f | %.0f |" % (
                r["case"], r["connections"], r["rate"], "%.0f%%" % (100 * r["rate"] / health) if health else "-",
                r["p50"] / 1000, r["p99"] / 1000, r["cpu_us"]))
    finally:
        if process:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
