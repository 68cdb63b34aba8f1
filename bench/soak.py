#!/usr/bin/env python3
"""Soak: minutes of mixed load with errors, deadlines and hang-ups; afterwards nothing is left behind.

Usage (after `scripts/test` or `./mvnw package -DskipTests`; starts its own NCS from the jar):
    python3 bench/soak.py [--minutes 5] [--clients 8] [--idle 600] [--jar service/target/ncs.jar]

Each client loops over a random mix, checking every answer:
  * good requests (describe, sort, matmul, histogram, fft, sha256; JSON and binary), results against numpy
  * bad requests (broken JSON, wrong shapes, unknown kernels, bad parameters) -> 4xx
  * deadlines (a large matmul with timeout=2000 us) -> 504
  * hang-ups (a large matmul whose client closes the connection while it runs) -> cancelled
  * truncated binary bodies (the client stops sending and closes) -> nothing kept
  * slow senders (a JSON request sent in pieces over about 2 s) -> answered, result checked
  * slow readers (a sort of up to 8 MB read 64 KiB every 20 ms through a small receive buffer) -> checked
Beside them, --idle connections are held open the whole time, half after one keep-alive request, half
without ever sending a byte, and reopened (at most 100 a second) when the server closes them: 600, more
than the 512 connections NCS allows with a 1 GiB heap, so the clients above must get in while NCS
closes idle connections to make room.
503 (queue full) is allowed and counted; any other 5xx, a wrong result or a hang fails the run.
Before and after (each after a full GC through jcmd) it reads live native buffers and bytes, the
buffer cache (bytes kept, allocations it served), the Java leak counter, heap used and the process's
RSS, and prints them side by side. NCS runs with ncs.native.buffer-cache.idle=5s, and the run also
fails if anything is still cached 7 s after the load stopped.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Soak:
    def __init__(self, port, management):
        self.port = port
        self.management = management
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    # --- HTTP helpers -------------------------------------------------------------------------
    def request(self, path, body, headers=None, timeout=120):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers=headers or {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read(), response.getheader("Inference-Header-Content-Length")
        finally:
            conn.close()

    def infer_json(self, kernel, inputs, parameters=None):
        body = {"inputs": inputs}
        if parameters:
            body["parameters"] = parameters
        status, data, _ = self.request("/v2/models/%s/infer" % kernel, json.dumps(body).encode())
        return status, data

    def binary_body(self, inputs, parameters=None):
        header = {"inputs": [], "parameters": dict(parameters or {}, binary_data_output=True)}
        blobs = []
        for name, array, datatype in inputs:
            raw = np.ascontiguousarray(array).tobytes()
            header["inputs"].append({"name": name, "datatype": datatype, "shape": list(array.shape),
                                     "parameters": {"binary_data_size": len(raw)}})
            blobs.append(raw)
        text = json.dumps(header).encode()
        return text, b"".join([text] + blobs)

    # --- the mix ------------------------------------------------------------------------------
    def good_describe(self, rng):
        x = rng.standard_normal(rng.integers(1, 5000))
        status, data = self.infer_json("describe", [{"name": "x", "datatype": "FP64", "shape": [len(x)],
                                                      "data": x.tolist()}])
        outputs = {o["name"]: o["data"] for o in json.loads(data)["outputs"]} if status == 200 else {}
        ok = status == 200 and np.isclose(outputs["mean"][0], x.mean()) and np.isclose(outputs["max"][0], x.max())
        return ok, status

    def good_sort_binary(self, rng):
        x = rng.standard_normal(rng.integers(1, 200_000))
        text, body = self.binary_body([("x", x, "FP64")])
        status, data, header_length = self.request("/v2/models/sort/infer", body,
                                                   {"Inference-Header-Content-Length": str(len(text))})
        ok = status == 200 and np.array_equal(np.frombuffer(data[int(header_length):], "<f8"), np.sort(x))
        return ok, status

    def good_matmul(self, rng):
        n = int(rng.integers(1, 200))
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        text, body = self.binary_body([("a", a, "FP64"), ("b", b, "FP64")])
        status, data, header_length = self.request("/v2/models/matmul/infer", body,
                                                   {"Inference-Header-Content-Length": str(len(text))})
        ok = status == 200 and np.allclose(np.frombuffer(data[int(header_length):], "<f8").reshape(n, n), a @ b)
        return ok, status

    def good_histogram(self, rng):
        x = rng.standard_normal(rng.integers(1, 10_000))
        bins = int(rng.integers(1, 50))
        status, data = self.infer_json("histogram", [{"name": "x", "datatype": "FP64", "shape": [len(x)],
                                                       "data": x.tolist()}], {"bins": bins})
        if status != 200:
            return False, status
        outputs = {o["name"]: o["data"] for o in json.loads(data)["outputs"]}
        return outputs["counts"] == np.histogram(x, bins)[0].tolist(), status

    def good_fft(self, rng):
        n = int(rng.integers(1, 3000))
        z = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        pairs = np.stack([z.real, z.imag], axis=-1)
        text, body = self.binary_body([("x", pairs, "FP64")])
        status, data, header_length = self.request("/v2/models/fft/infer", body,
                                                   {"Inference-Header-Content-Length": str(len(text))})
        if status != 200:
            return False, status
        y = np.frombuffer(data[int(header_length):], "<f8").reshape(n, 2)
        return np.allclose(y[:, 0] + 1j * y[:, 1], np.fft.fft(z), atol=1e-8 * max(1, n)), status

    def good_sha256(self, rng):
        messages = [bytes(rng.integers(0, 256, rng.integers(0, 300), dtype=np.uint8)) for _ in range(rng.integers(1, 20))]
        raw = b"".join(len(m).to_bytes(4, "little") + m for m in messages)
        header = json.dumps({"inputs": [{"name": "data", "datatype": "BYTES", "shape": [len(messages)],
                                          "parameters": {"binary_data_size": len(raw)}}],
                             "parameters": {"binary_data_output": True}}).encode()
        status, data, header_length = self.request("/v2/models/sha256/infer", header + raw,
                                                   {"Inference-Header-Content-Length": str(len(header))})
        ok = status == 200 and data[int(header_length):] == b"".join(hashlib.sha256(m).digest() for m in messages)
        return ok, status

    def bad(self, rng):
        kind = int(rng.integers(0, 5))
        if kind == 0:
            status, _, _ = self.request("/v2/models/sort/infer", b'{"inputs": [{"name": "x", "datatype"')
        elif kind == 1:
            status, _ = self.infer_json("sort", [{"name": "x", "datatype": "FP64", "shape": [3], "data": [1, 2]}])
        elif kind == 2:
            status, _ = self.infer_json("no_such_kernel", [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}])
        elif kind == 3:
            status, _ = self.infer_json("histogram", [{"name": "x", "datatype": "FP64", "shape": [2], "data": [1, 2]}],
                                        {"bins": -4})
        else:
            status, _, _ = self.request("/v2/models/sort/infer", b"{}", {"Inference-Header-Content-Length": "99"})
        return 400 <= status < 500, status

    def big_matmul_body(self, n, timeout_us=None):
        a = np.zeros((n, n))
        parameters = {"timeout": timeout_us} if timeout_us else None
        return self.binary_body([("a", a, "FP64"), ("b", a, "FP64")], parameters)

    def deadline(self, rng):
        text, body = self.big_matmul_body(1500, timeout_us=2000)
        status, _, _ = self.request("/v2/models/matmul/infer", body, {"Inference-Header-Content-Length": str(len(text))})
        return status == 504 or status == 200, status

    def hang_up(self, rng):
        text, body = self.big_matmul_body(1500)
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(("POST /v2/models/matmul/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: %d\r\n"
                       "Content-Length: %d\r\n\r\n" % (len(text), len(body))).encode() + body)
            time.sleep(float(rng.uniform(0.0, 0.2)))
        return True, 0

    def truncated(self, rng):
        x = rng.standard_normal(100_000)
        text, body = self.binary_body([("x", x, "FP64")])
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(("POST /v2/models/sort/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: %d\r\n"
                       "Content-Length: %d\r\n\r\n" % (len(text), len(body))).encode() + body[:len(body) // 2])
        return True, 0

    def exchange(self, head, body, pieces=1, pause=0.0, read_chunk=None, read_pause=0.0):
        """One request on a new connection (Connection: close), the body sent in pieces and the answer read
        in chunks with pauses; returns (status, headers, body)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            if read_chunk:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.sendall(head)
            step = max(1, -(-len(body) // pieces))
            for offset in range(0, len(body), step):
                s.sendall(body[offset:offset + step])
                if offset + step < len(body):
                    time.sleep(pause)
            received = bytearray()
            while True:
                data = s.recv(read_chunk or 1 << 20)
                if not data:
                    break
                received += data
                if read_pause:
                    time.sleep(read_pause)
        head_end = received.index(b"\r\n\r\n")
        lines = received[:head_end].decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        payload = bytes(received[head_end + 4:])
        if headers.get("transfer-encoding") == "chunked":
            payload = dechunk(payload)
        return int(lines[0].split()[1]), headers, payload

    def slow_sender(self, rng):
        x = rng.standard_normal(int(rng.integers(100, 400)))
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [len(x)],
                                       "data": x.tolist()}]}).encode()
        head = ("POST /v2/models/describe/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
        status, _, data = self.exchange(head, body, pieces=10, pause=0.2)
        outputs = {o["name"]: o["data"] for o in json.loads(data)["outputs"]} if status == 200 else {}
        return status == 200 and np.isclose(outputs["mean"][0], x.mean()), status

    def slow_reader(self, rng):
        x = rng.standard_normal(int(rng.integers(100_000, 1_000_000)))
        text, body = self.binary_body([("x", x, "FP64")])
        head = ("POST /v2/models/sort/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                "Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(text), len(body))).encode()
        status, headers, data = self.exchange(head, body, read_chunk=64 * 1024, read_pause=0.02)
        if status != 200:
            return False, status
        header_length = int(headers["inference-header-content-length"])
        return np.array_equal(np.frombuffer(data[header_length:], "<f8"), np.sort(x)), status

    def idle_connections(self, target, end):
        """Holds `target` idle connections until `end`, reopening those the server closes."""
        held = []
        ready = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
        while time.time() < end:
            alive = []
            for s in held:
                try:
                    if s.recv(65536) == b"":
                        raise ConnectionResetError()
                    alive.append(s)
                except BlockingIOError:
                    alive.append(s)
                except OSError:
                    s.close()
                    self.count("idle connection closed by NCS")
            held = alive
            for _ in range(min(100, target - len(held))):
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                except OSError as e:
                    self.fail("idle connection could not connect: %r" % e)
                    break
                if len(held) % 2 == 0:
                    s.sendall(ready)
                s.setblocking(False)
                held.append(s)
                self.count("idle connection opened")
            time.sleep(1)
        for s in held:
            s.close()

    def client(self, seed, end):
        rng = np.random.default_rng(seed)
        mix = [(self.good_describe, 4), (self.good_sort_binary, 3), (self.good_matmul, 3), (self.good_histogram, 2),
               (self.good_fft, 2), (self.good_sha256, 2), (self.bad, 4), (self.deadline, 1), (self.hang_up, 1),
               (self.truncated, 1), (self.slow_sender, 1), (self.slow_reader, 1)]
        actions = [action for action, weight in mix for _ in range(weight)]
        while time.time() < end:
            action = actions[int(rng.integers(0, len(actions)))]
            try:
                ok, status = action(rng)
            except Exception as e:  # a hang, a reset: the run fails
                self.fail("%s: %r" % (action.__name__, e))
                continue
            if status == 503:
                self.count("503 queue full")
            elif not ok:
                self.fail("%s answered %s" % (action.__name__, status))
            else:
                self.count(action.__name__)


def dechunk(data):
    out, pos = bytearray(), 0
    while True:
        line_end = data.index(b"\r\n", pos)
        size = int(data[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[line_end + 2:line_end + 2 + size]
        pos = line_end + 2 + size + 2


def scrape(management):
    return urllib.request.urlopen("http://127.0.0.1:%d/actuator/prometheus" % management, timeout=30).read().decode()


def metric(text, series):
    total = 0.0
    for m in re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(series), text, re.M):
        total += float(m.group(1))
    return total


def rss_mib(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % pid).read()).group(1)) / 1024


def sample(process, management):
    """Live native memory, Java leaks, heap after a full GC, and RSS."""
    subprocess.run(["jcmd", str(process.pid), "GC.run"], check=True, capture_output=True)
    time.sleep(1)
    text = scrape(management)
    return {
        "ncs_native_buffers_live": metric(text, "ncs_native_buffers_live"),
        "ncs_native_memory_live_bytes": metric(text, "ncs_native_memory_live_bytes"),
        "buffer cache (MiB)": metric(text, "ncs_native_memory_cached_bytes") / 2**20,
        "allocations served by the cache": metric(text, "ncs_native_buffer_reuses_total"),
        'ncs_leaks_total{source="java"}': sum(float(v) for v in re.findall(
            r'^ncs_leaks_total\{[^}]*source="java"[^}]*\} (\S+)$', text, re.M)),
        "heap used after GC (MiB)": sum(float(v) for v in re.findall(
            r'^jvm_memory_used_bytes\{area="heap"[^}]*\} (\S+)$', text, re.M)) / 2**20,
        "RSS (MiB)": rss_mib(process.pid),
        "kernels run": metric(text, "ncs_kernel_seconds_count"),
        "cancelled: client hung up": metric(text, 'ncs_rejected_total{reason="client_disconnected"}'),
        "cancelled: deadline (504)": metric(text, 'ncs_rejected_total{reason="deadline"}'),
    }


CACHE_IDLE_SECONDS = 5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--idle", type=int, default=600, help="idle connections held beside the clients")
    p.add_argument("--jar", default=os.path.join(ROOT, "service/target/ncs.jar"))
    p.add_argument("--port", type=int, default=18280)
    p.add_argument("--management-port", type=int, default=19290)
    args = p.parse_args()

    java = os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")
    process = subprocess.Popen([java, "-Xmx1g", "-jar", args.jar, "--server.port=%d" % args.port,
                                "--management.server.port=%d" % args.management_port, "--server.address=127.0.0.1",
                                "--ncs.native.buffer-cache.idle=%ds" % CACHE_IDLE_SECONDS,
                                "--management.server.address=127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/actuator/health/readiness" % args.management_port)
                break
            except OSError:
                time.sleep(0.2)
        soak = Soak(args.port, args.management_port)
        warm_end = time.time() + 20  # JIT and pools warm, so that "before" is a steady state
        threads = [threading.Thread(target=soak.client, args=(seed, warm_end)) for seed in range(args.clients)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        before = sample(process, args.management_port)
        start = time.time()
        end = start + 60 * args.minutes
        threads = [threading.Thread(target=soak.client, args=(100 + seed, end)) for seed in range(args.clients)]
        threads.append(threading.Thread(target=soak.idle_connections, args=(args.idle, end)))
        [t.start() for t in threads]
        timeline = []  # RSS and live native bytes each 30 s under load: flat means a plateau, not a slope
        while time.time() < end:
            time.sleep(min(30, max(0.1, end - time.time())))
            timeline.append("%.0fs %.0f MiB" % (time.time() - start, rss_mib(process.pid)))
        [t.join() for t in threads]
        elapsed = time.time() - start
        time.sleep(2)  # hang-ups still being noticed
        after = sample(process, args.management_port)
        print("soak: %.1f minutes, %d clients, %d idle connections, %d actions"
              % (elapsed / 60, args.clients, args.idle, sum(soak.counts.values())))
        print("| measure | after warm-up | after the soak |")
        print("|---|---|---|")
        for key in before:
            print("| %s | %.1f | %.1f |" % (key, before[key], after[key]))
        print("RSS under load: " + ", ".join(timeline))
        print("actions: " + ", ".join("%s %d" % item for item in sorted(soak.counts.items())))
        time.sleep(CACHE_IDLE_SECONDS + 2)
        cached_idle = metric(scrape(args.management_port), "ncs_native_memory_cached_bytes")
        print("buffer cache %d s after the load stopped: %.0f bytes; RSS %.0f MiB"
              % (CACHE_IDLE_SECONDS + 2, cached_idle, rss_mib(process.pid)))
        problems = list(soak.failures)
        if cached_idle != 0:
            problems.append("%.0f bytes still cached %d s after the load stopped (idle time %d s)"
                            % (cached_idle, CACHE_IDLE_SECONDS + 2, CACHE_IDLE_SECONDS))
        for key in ("ncs_native_buffers_live", "ncs_native_memory_live_bytes", 'ncs_leaks_total{source="java"}'):
            if after[key] != 0:
                problems.append("%s is %s after the soak" % (key, after[key]))
        if problems:
            print("FAILED:\n  " + "\n  ".join(problems[:20]))
            sys.exit(1)
        print("passed: no 5xx (beyond 503 queue full), every result right, nothing left behind")
    finally:
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()
