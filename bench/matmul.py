#!/usr/bin/env python3
"""matmul FP64: libncs's kernel alone, NCS end to end over HTTP (binary tensors), and numpy's a @ b, in one run.

Usage (NCS running, e.g. `scripts/run`):
    python3 bench/matmul.py [--url http://127.0.0.1:8080] [--sizes 1024 2048] [--reps 5]

Prints a table of medians and GFLOP/s (2 n^3 flops); numpy and the kernel alternate --rounds times
(each a median of --reps runs) and the table shows the medians of those, so a shared machine's
load hits both alike. The kernel is timed by bench/matmul_kernel.c (built by the normal build as
native/target/build/ncs_bench_matmul)
(prepare + parts on their own threads + finish, no JSON); numpy runs in a subprocess per thread count
with OPENBLAS_NUM_THREADS set and OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, so it uses its best kernel.
End to end is the wall time of one HTTP request with binary tensors (a and b up, c down), as a
client sees it (the body is built before the clock starts).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "native" / "target" / "build"

NUMPY_SNIPPET = """
import sys, time, numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
a, b = rng.random((n, n)) - 0.5, rng.random((n, n)) - 0.5
a @ b
times = []
for _ in range(reps):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
times.sort(); print(times[len(times) // 2])
"""


def build_kernel_bench():
    binary = BUILD / "ncs_bench_matmul"
    if not binary.exists():
        sys.exit("native/target/build/ncs_bench_matmul not built: run ./mvnw -DskipTests package first")
    return binary


def kernel_seconds(binary, threads, n, reps):
    line = subprocess.run([str(binary), str(threads), str(reps), str(n)], check=True,
                          capture_output=True, text=True).stdout.split()
    return float(line[2])


def numpy_seconds(threads, n, reps):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", NUMPY_SNIPPET, str(n), str(reps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def http_seconds(url, n, reps):
    """Wall time of one matmul request with binary tensors (Triton's extension) both ways."""
    import http.client
    import urllib.parse
    import numpy as np
    rng = np.random.default_rng(1)
    a = rng.random((n, n)) - 0.5
    blob = a.astype("<f8").tobytes()
    header = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP64", "shape": [n, n], "parameters": {"binary_data_size": len(blob)}},
        {"name": "b", "datatype": "FP64", "shape": [n, n], "parameters": {"binary_data_size": len(blob)}}],
        "outputs": [{"name": "c", "parameters": {"binary_data": True}}]}).encode()
    u = urllib.parse.urlparse(url)
    times = []
    for _ in range(reps):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        t = time.perf_counter()
        conn.request("POST", "/v2/models/matmul/infer", body=header + blob + blob,
                     headers={"Inference-Header-Content-Length": str(len(header))})
        response = conn.getresponse()
        body = response.read()
        times.append(time.perf_counter() - t)
        conn.close()
        if response.status != 200:
            sys.exit("HTTP %d: %s" % (response.status, body[:300]))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="numpy and the kernel alternate this many times; the medians are shown")
    parser.add_argument("--no-http", action="store_true", help="skip the end-to-end HTTP measurement")
    args = parser.parse_args()
    binary = build_kernel_bench()
    gflops = lambda n, s: 2.0 * n ** 3 / s / 1e9
    print("| n | threads | numpy a @ b | NCS kernel alone | kernel / numpy | NCS over HTTP (binary) |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        e2e = None if args.no_http else http_seconds(args.url, n, max(1, args.reps // 2))
        for threads in (1, 2):
            rounds = [(numpy_seconds(threads, n, args.reps), kernel_seconds(binary, threads, n, args.reps))
                      for _ in range(args.rounds)]
            np_s = statistics.median(r[0] for r in rounds)
            k = statistics.median(r[1] for r in rounds)
            e2e_text = "-" if (e2e is None or threads == 1) else "%.2f GFLOP/s (%.0f ms)" % (gflops(n, e2e), e2e * 1e3)
            print("| %d | %d | %.1f GFLOP/s | %.1f GFLOP/s | %.2f | %s |"
                  % (n, threads, gflops(n, np_s), gflops(n, k), np_s / k, e2e_text))


if __name__ == "__main__":
    main()
