#!/usr/bin/env python3
"""The library lock and its release: 8 concurrent legacy_work requests, with and without release_lock.

Usage (NCS running with the example plugins and 2 workers, e.g.
    scripts/run --ncs.plugins.directory=$PWD/native/target/plugins --ncs.workers.threads=2):
    python3 bench/lock_release.py [--url http://127.0.0.1:8080] [--metrics http://127.0.0.1:9090]
                                   [--requests 8] [--iterations 20000000] [--reps 3]

legacy_work's library is not thread-safe, so the host holds its lock around each kernel step. With
release_lock=false the 8 requests' computations run one at a time; with release_lock=true the kernel
drops the lock around its pure computation (NCS_BEGIN_ALLOW_THREADS) and two run at once, one per
worker. Prints the wall time of the batch (median of --reps) and the lock timers' increase.
"""
import argparse
import json
import re
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def post(url, body):
    request = urllib.request.Request(url + "/v2/models/legacy_work/infer", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.status


def lock_seconds(metrics):
    text = urllib.request.urlopen(metrics + "/actuator/prometheus").read().decode()
    def value(name):
        m = re.search(r'^%s\{library="legacy"\} (\S+)$' % name, text, re.M)
        return float(m.group(1)) if m else 0.0
    return value("ncs_library_lock_wait_seconds_sum"), value("ncs_library_lock_held_seconds_sum")


def batch(args, release):
    body = {"parameters": {"iterations": args.iterations, "release_lock": release},
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [64], "data": [0.25] * 64}]}
    wait0, held0 = lock_seconds(args.metrics)
    t = time.perf_counter()
    with ThreadPoolExecutor(args.requests) as pool:
        statuses = list(pool.map(lambda _: post(args.url, body), range(args.requests)))
    elapsed = time.perf_counter() - t
    wait1, held1 = lock_seconds(args.metrics)
    assert statuses == [200] * args.requests, statuses
    return elapsed, wait1 - wait0, held1 - held0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--metrics", default="http://127.0.0.1:9090")
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--iterations", type=int, default=20_000_000)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    rows = {}
    for release in (False, True):
        runs = [batch(args, release) for _ in range(args.reps)]
        rows[release] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
    print("| release_lock | batch wall time | lock wait (sum) | lock held (sum) |")
    print("|---|---|---|---|")
    for release, (wall, wait, held) in rows.items():
        print("| %s | %.2f s | %.2f s | %.2f s |" % (str(release).lower(), wall, wait, held))
    print("\nspeed-up with release_lock=true: %.2fx" % (rows[False][0] / rows[True][0]))


if __name__ == "__main__":
    main()
