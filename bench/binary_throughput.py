#!/usr/bin/env python3
"""Binary tensors over loopback: end-to-end GB/s against memcpy of the same size, in one run.

Usage (NCS running with room for the bodies, e.g. `scripts/run --ncs.limits.max-request-size=1GB`):
    python3 bench/binary_throughput.py [--url http://127.0.0.1:8080] [--reps 5]

* upload: a 256 MiB FP64 tensor sent in binary to `describe` (the response is tiny), so the figure
  is the upload path: socket -> native buffer, plus describe's one pass over the data.
* round trip: a 64 MiB FP64 tensor sent in binary to `sort` with a binary output, so 64 MiB go each way.
* memcpy: numpy copying an array of the same size (one thread), the machine's copy speed here.
GB/s = bytes of tensor moved (one way for upload, both ways for the round trip) / median wall time.
"""
import argparse
import http.client
import json
import statistics
import time
import urllib.parse

import numpy as np


def post(url, path, header, blob, binary_output):
    body_header = json.dumps(header).encode()
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t = time.perf_counter()
    conn.putrequest("POST", path)
    conn.putheader("Inference-Header-Content-Length", str(len(body_header)))
    conn.putheader("Content-Length", str(len(body_header) + blob.nbytes))
    conn.endheaders()
    conn.send(body_header)
    conn.send(memoryview(blob).cast("B"))
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - t
    conn.close()
    if response.status != 200:
        raise SystemExit("%s -> %d %s" % (path, response.status, data[:300]))
    if binary_output:
        n = int(response.getheader("Inference-Header-Content-Length"))
        return elapsed, data[n:]
    return elapsed, json.loads(data)


def memcpy_seconds(nbytes, reps):
    src = np.random.default_rng(1).random(nbytes // 8)
    dst = np.empty_like(src)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    x = np.arange(1 << 25, dtype="<f8")  # 256 MiB
    header = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [x.size],
                          "parameters": {"binary_data_size": x.nbytes}}]}
    upload = []
    for _ in range(args.reps):
        seconds, result = post(args.url, "/v2/models/describe/infer", header, x.data, False)
        upload.append(seconds)
    mean = [o for o in result["outputs"] if o["name"] == "mean"][0]["data"][0]
    assert mean == (x.size - 1) / 2, mean

    y = np.random.default_rng(2).random(1 << 23)  # 64 MiB
    header = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [y.size],
                          "parameters": {"binary_data_size": y.nbytes}}],
              "outputs": [{"name": "sorted", "parameters": {"binary_data": True}}]}
    trip = []
    for _ in range(args.reps):
        seconds, blob = post(args.url, "/v2/models/sort/infer", header, y.data, True)
        trip.append(seconds)
    assert np.array_equal(np.frombuffer(blob, "<f8"), np.sort(y))

    up_s, trip_s = statistics.median(upload), statistics.median(trip)
    mc_256, mc_64 = memcpy_seconds(x.nbytes, args.reps), memcpy_seconds(y.nbytes, args.reps)
    gb = lambda nbytes, s: nbytes / s / 1e9
    print("| case | size | median wall time | NCS end to end | memcpy, same size | NCS / memcpy |")
    print("|---|---|---|---|---|---|")
    print("| upload to describe | 256 MiB | %.0f ms | %.2f GB/s | %.1f GB/s | %.2f |"
          % (up_s * 1e3, gb(x.nbytes, up_s), gb(x.nbytes, mc_256), mc_256 / up_s))
    print("| sort round trip | 64 MiB each way | %.0f ms | %.2f GB/s | %.1f GB/s | %.2f |"
          % (trip_s * 1e3, gb(2 * y.nbytes, trip_s), gb(y.nbytes, mc_64), mc_64 * 2 / trip_s))


if __name__ == "__main__":
    main()
