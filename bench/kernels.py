#!/usr/bin/env python3
"""Every kernel against its peer, in one run, on this machine.

Usage (NCS running with its defaults, e.g. `scripts/run`; both use both cores):
    python3 bench/kernels.py [--url http://127.0.0.1:8080] [--metrics http://127.0.0.1:9090] [--reps 5] [--only sort,fft]

NCS's time for a request is its kernel time as NCS reports it: the increase of
ncs_kernel_seconds_sum{kernel=...} across that one request (a worker taking the request up, the
parts, the merge, the outputs taken), so the upload, the download and freeing the input buffers
are not counted. The peer runs in this process (numpy/scipy with their own threads;
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for numpy's best kernel). Medians of --reps
runs; "speed-up" is peer time / NCS time. Every case runs peer and NCS once each to warm up, then
alternates them with a 0.3 s pause after each run (numpy's OpenBLAS threads spin for about 0.1 s
after a call), so load from elsewhere hits both alike and neither competes with the other.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import time
import urllib.parse
import urllib.request

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)
import numpy as np  # noqa: E402  (after the environment is set)

DTYPES = {np.dtype("<f8"): "FP64", np.dtype("<f4"): "FP32", np.dtype("<i8"): "INT64", np.dtype("<i4"): "INT32"}


def kernel_seconds(metrics, kernel):
    text = urllib.request.urlopen(metrics + "/actuator/prometheus").read().decode()
    m = re.search(r'^ncs_kernel_seconds_sum\{kernel="%s",outcome="success"\} (\S+)$' % kernel, text, re.M)
    return float(m.group(1)) if m else 0.0


def infer(url, kernel, inputs, parameters=None, bytes_inputs=None):
    """inputs: {name: ndarray}; bytes_inputs: {name: list of bytes}. Binary both ways."""
    header = {"inputs": [], "parameters": dict(parameters or {}, binary_data_output=True)}
    blobs = []
    for name, array in inputs.items():
        blob = np.ascontiguousarray(array).tobytes()
        header["inputs"].append({"name": name, "datatype": DTYPES[array.dtype], "shape": list(array.shape),
                                 "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    for name, messages in (bytes_inputs or {}).items():
        blob = b"".join(len(m).to_bytes(4, "little") + m for m in messages)
        header["inputs"].append({"name": name, "datatype": "BYTES", "shape": [len(messages)],
                                 "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    head = json.dumps(header).encode()
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.putrequest("POST", "/v2/models/%s/infer" % kernel)
    conn.putheader("Inference-Header-Content-Length", str(len(head)))
    conn.putheader("Content-Length", str(len(head) + sum(len(b) for b in blobs)))
    conn.endheaders()
    conn.send(head)
    for b in blobs:
        conn.send(b)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit("%s: HTTP %d %s" % (kernel, response.status, body[:300]))


def ncs_once(args, kernel, inputs, parameters=None, bytes_inputs=None):
    before = kernel_seconds(args.metrics, kernel)
    infer(args.url, kernel, inputs, parameters, bytes_inputs)
    return kernel_seconds(args.metrics, kernel) - before


SETTLE_SECONDS = 0.3


def settled(fn):
    """fn(), then a pause: OpenBLAS's threads keep spinning for about 0.1 s after a call (2^28
    cycles, measured here: 0.1 s of CPU in the 0.2 s after numpy's a @ b), which would take a
    core from whatever runs next. The pause lets either side's threads go idle."""
    result = fn()
    time.sleep(SETTLE_SECONDS)
    return result


def alternating_medians(reps, peer, ncs):
    """Medians of peer() and ncs() (each returns seconds) run alternately after one warm-up run
    of each, with a pause after each run, so that load from elsewhere on a shared machine hits
    both alike and neither runs while the other's threads are still busy."""
    settled(peer)
    settled(ncs)
    times = [(settled(peer), settled(ncs)) for _ in range(reps)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def compare(args, peer_fn, kernel, inputs, parameters=None, bytes_inputs=None):
    """Peer (a function, timed by wall clock) against one NCS request's kernel time, alternating."""
    return alternating_medians(args.reps, timed(peer_fn),
                               lambda: ncs_once(args, kernel, inputs, parameters, bytes_inputs))


def timed(fn):
    def run():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return run


def openssl_sha256_seconds_per_mib(seconds=2):
    # -elapsed: wall-clock time like NCS's kernel time (by default openssl divides by its CPU user
    # time, which a loaded machine does not stretch)
    out = subprocess.run(["openssl", "speed", "-elapsed", "-evp", "sha256", "-bytes", "1048576", "-seconds",
                          str(seconds)],
                         capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.lower().startswith("sha256")][-1]
    kbytes_per_s = float(line.split()[-1].rstrip("k"))
    return 1048576 / (kbytes_per_s * 1000)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--metrics", default="http://127.0.0.1:9090")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--only", default="")
    args = p.parse_args()
    only = set(filter(None, args.only.split(",")))
    rng = np.random.default_rng(1)
    rows = []

    def case(name, kernel, peer_name, peer_s, ncs_s, goal):
        rows.append((name, kernel, peer_name, peer_s, ncs_s, goal))
        print("  %-32s NCS %8.1f ms   %s %8.1f ms   speed-up %.2f" % (name, ncs_s * 1e3, peer_name, peer_s * 1e3,
                                                                      peer_s / ncs_s), flush=True)

    def wanted(kernel):
        return not only or kernel in only

    if wanted("matmul"):
        for dtype, label in ((np.float64, "FP64"), (np.float32, "FP32")):
            a = rng.random((2048, 2048)).astype(dtype)
            b = rng.random((2048, 2048)).astype(dtype)
            peer, ncs = compare(args, lambda: a @ b, "matmul", {"a": a, "b": b})
            case("matmul %s n=2048" % label, "matmul", "numpy a @ b", peer, ncs, 1.0)
    if wanted("sort"):
        x = rng.random(10_000_000)
        peer, ncs = compare(args, lambda: np.sort(x), "sort", {"x": x})
        case("sort 10^7 FP64", "sort", "np.sort", peer, ncs, 1.5)
    if wanted("fft"):
        z = rng.random((1 << 20, 2))
        zc = z[:, 0] + 1j * z[:, 1]
        peer, ncs = compare(args, lambda: np.fft.fft(zc), "fft", {"x": z})
        case("fft 2^20 complex FP64", "fft", "np.fft.fft", peer, ncs, 1.0)
    if wanted("conv2d"):
        import scipy.ndimage
        image = rng.random((4096, 4096)).astype(np.float32)
        k = rng.random((5, 5)).astype(np.float32)
        peer, ncs = compare(args, lambda: scipy.ndimage.convolve(image, k, mode="constant"), "conv2d",
                            {"image": image, "kernel": k})
        case("conv2d 4096^2 FP32 5x5 same", "conv2d", "scipy.ndimage.convolve", peer, ncs, 5.0)
    if wanted("describe"):
        x = rng.random(20_000_000)
        peer, ncs = compare(args, lambda: (x.mean(), x.std(), x.min(), x.max()), "describe", {"x": x})
        case("describe 2*10^7 FP64", "describe", "numpy mean+std+min+max", peer, ncs, 3.0)
    if wanted("histogram"):
        x = rng.random(100_000_000)
        read, ncs = compare(args, lambda: np.add.reduce(x), "histogram", {"x": x},
                            {"bins": 100, "lo": 0.0, "hi": 1.0})
        gbs = x.nbytes / ncs / 1e9
        rows.append(("histogram 10^8 FP64", "histogram", "read bandwidth (numpy sum)", read, ncs, 0.5))
        print("  %-32s NCS %8.1f ms (%.1f GB/s)   read bandwidth %.1f GB/s   ratio %.2f"
              % ("histogram 10^8 FP64", ncs * 1e3, gbs, x.nbytes / read / 1e9, read / ncs), flush=True)
    if wanted("sha256"):
        # One 64 MiB message stays in one part, so this is one core against openssl's one core
        # (openssl speed hashes 1 MiB buffers; the time is scaled to 64 MiB). The two alternate,
        # one second of openssl then one NCS request, so load from elsewhere hits both alike.
        data = {"data": [rng.bytes(64 << 20)]}
        peer, ncs = alternating_medians(args.reps, lambda: openssl_sha256_seconds_per_mib(1) * 64,
                                        lambda: ncs_once(args, "sha256", {}, bytes_inputs=data))
        case("sha256 64 MiB, one core", "sha256", "openssl speed -elapsed -evp sha256", peer, ncs, 0.9)

    print()
    print("| kernel | case | peer | peer median | NCS median | speed-up | goal |")
    print("|---|---|---|---|---|---|---|")
    for name, kernel, peer_name, peer_s, ncs_s, goal in rows:
        print("| %s | %s | %s | %.1f ms | %.1f ms | %.2f | >= %.1f |" % (kernel, name, peer_name, peer_s * 1e3,
                                                                      ncs_s * 1e3, peer_s / ncs_s, goal))


if __name__ == "__main__":
    main()
