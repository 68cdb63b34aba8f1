#!/usr/bin/env python3
"""gRPC against HTTP on one server, in one run: tiny requests and a 256 MiB upload.

Usage (Debian's python3 with python3-grpcio, protobuf-compiler-grpc: scripts/setup.d/50-grpc-python.sh):
    /usr/bin/python3 bench/grpc.py --jar service/target/ncs.jar [--seconds 5] [--clients 1,16]
    /usr/bin/python3 bench/grpc.py --http 127.0.0.1:8080 --grpc 127.0.0.1:8081     (a running NCS)

Cases, each checked once against numpy before it is timed:
* describe: 16 FP64 values; matmul: two 4x4 FP32 matrices. Over gRPC unary (ModelInfer, raw tensors),
  gRPC streaming (one ModelStreamInfer stream per client, a request sent once the previous one is
  answered) and HTTP (JSON, keep-alive), at each client count: requests/s and p50/p99 latency. Clients are
  Python threads (one channel or connection each), so the figures include the client's own CPU, on the
  same cores as the server.
* upload: 256 MiB of FP64 to describe over gRPC (one ModelInfer message) and HTTP (binary tensor
  extension), and the same bytes over raw loopback TCP to a socket that discards them: GB/s, best of
  --reps.
Stubs are generated into a temporary directory with protoc and grpc_python_plugin from
service/src/main/proto.
"""
import argparse
import http.client
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# This file is grpc.py: without its own directory on the path, "import grpc" finds the gRPC package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import grpc  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stubs(directory):
    protos = os.path.join(ROOT, "service", "src", "main", "proto")
    shutil.copy(os.path.join(protos, "grpc_service.proto"), os.path.join(directory, "service.proto"))
    shutil.copy(os.path.join(protos, "model_config.proto"), directory)
    subprocess.run(["protoc", "-I" + directory, "--python_out=" + directory, "--grpc_python_out=" + directory,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", "service.proto",
                    "model_config.proto"], check=True)
    sys.path.insert(0, directory)
    return importlib.import_module("service_pb2"), importlib.import_module("service_pb2_grpc")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(jar, java):
    port, grpc_port, management = free_port(), free_port(), free_port()
    process = subprocess.Popen([java, "-jar", jar, "--server.port=%d" % port, "--ncs.grpc.port=%d" % grpc_port,
                                "--management.server.port=%d" % management, "--server.address=127.0.0.1",
                                "--ncs.grpc.address=127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/actuator/health/readiness" % management, timeout=2) as r:
                if r.status == 200:
                    return process, "127.0.0.1:%d" % port, "127.0.0.1:%d" % grpc_port
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("NCS did not start")


def tiny_cases(pb, rng):
    x = rng.standard_normal(16)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    b = rng.standard_normal((4, 4)).astype(np.float32)

    def tensor(name, datatype, shape):
        t = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype)
        t.shape.extend(shape)
        return t

    describe = pb.ModelInferRequest(model_name="describe", inputs=[tensor("x", "FP64", [16])],
                                    raw_input_contents=[x.astype("<f8").tobytes()])
    matmul = pb.ModelInferRequest(model_name="matmul", inputs=[tensor("a", "FP32", [4, 4]), tensor("b", "FP32", [4, 4])],
                                  raw_input_contents=[a.astype("<f4").tobytes(), b.astype("<f4").tobytes()])
    describe_json = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [16], "data": x.tolist()}]})
    matmul_json = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [4, 4], "data": a.ravel().tolist()},
        {"name": "b", "datatype": "FP32", "shape": [4, 4], "data": b.ravel().tolist()}]})

    def check_describe(grpc_answer, http_answer):
        names = [o.name for o in grpc_answer.outputs]
        mean = np.frombuffer(grpc_answer.raw_output_contents[names.index("mean")], "<f8")[0]
        assert abs(mean - x.mean()) < 1e-12, mean
        out = {o["name"]: o["data"][0] for o in json.loads(http_answer)["outputs"] if o["data"]}
        assert abs(out["mean"] - x.mean()) < 1e-12, out

    def check_matmul(grpc_answer, http_answer):
        c = np.frombuffer(grpc_answer.raw_output_contents[0], "<f4").reshape(4, 4)
        assert np.allclose(c, a @ b, rtol=1e-5, atol=1e-6), c
        c = np.array(json.loads(http_answer)["outputs"][0]["data"], dtype=np.float32).reshape(4, 4)
        assert np.allclose(c, a @ b, rtol=1e-5, atol=1e-6), c

    return {"describe": (describe, describe_json, check_describe), "matmul": (matmul, matmul_json, check_matmul)}


def http_post(connection, model, body):
    connection.request("POST", "/v2/models/%s/infer" % model, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError("HTTP %d: %s" % (response.status, data[:200]))
    return data


def drive(clients, seconds, make_worker):
    """Runs `clients` threads for `seconds`; each gets a call function from make_worker(). Returns rate, p50, p99."""
    latencies = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def run(i):
        call, close = make_worker()
        barrier.wait()
        own = latencies[i]
        while True:
            began = time.perf_counter()
            if began >= stop:
                break
            call()
            own.append(time.perf_counter() - began)
        close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    all_latencies = np.array([v for own in latencies for v in own])
    return len(all_latencies) / elapsed, np.percentile(all_latencies, 50) * 1e3, np.percentile(all_latencies, 99) * 1e3


def tiny(args, pb, pb_grpc, grpc):
    rows = []
    for name, (request, body, check) in tiny_cases(pb, np.random.default_rng(3)).items():
        with grpc.insecure_channel(args.grpc) as channel:
            answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
        connection = http.client.HTTPConnection(*args.http.split(":"))
        check(answer, http_post(connection, name, body))
        connection.close()
        for clients in args.clients:
            def unary():
                channel = grpc.insecure_channel(args.grpc)
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                return (lambda: stub.ModelInfer(request)), channel.close

            def streaming():
                channel = grpc.insecure_channel(args.grpc)
                requests = Lockstep()
                answers = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(iter(requests))

                def call():
                    requests.put(request)
                    answer = next(answers)
                    if answer.error_message:
                        raise RuntimeError(answer.error_message)

                def close():
                    requests.put(None)
                    channel.close()
                return call, close

            def over_http():
                connection = http.client.HTTPConnection(*args.http.split(":"))
                return (lambda: http_post(connection, name, body)), connection.close

            for protocol, worker in (("gRPC unary", unary), ("gRPC stream", streaming), ("HTTP JSON", over_http)):
                if args.warmup > 0:
                    drive(clients, args.warmup, worker)  # the JIT compiles the server's path first
                rate, p50, p99 = drive(clients, args.seconds, worker)
                rows.append((name, protocol, clients, rate, p50, p99))
                print("%-8s %-11s %2d clients: %7.0f req/s  p50 %.2f ms  p99 %.2f ms" % rows[-1], flush=True)
    return rows


class Lockstep:
    """A request iterator for a stream: yields what put() hands it, one at a time; None ends it."""

    def __init__(self):
        self.item = None
        self.ready = threading.Semaphore(0)

    def put(self, item):
        self.item = item
        self.ready.release()

    def __iter__(self):
        while True:
            self.ready.acquire()
            if self.item is None:
                return
            yield self.item


def upload(args, pb, pb_grpc, grpc):
    count = 32 << 20
    x = np.random.default_rng(9).standard_normal(count)
    blob = x.astype("<f8").tobytes()
    nbytes = len(blob)
    request = pb.ModelInferRequest(model_name="describe",
                                   inputs=[pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP64", shape=[count])],
                                   raw_input_contents=[blob])
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [count],
                                     "parameters": {"binary_data_size": nbytes}}]}).encode()
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    results = {"gRPC": [], "HTTP": [], "raw TCP": []}
    for _ in range(args.reps):
        with grpc.insecure_channel(args.grpc, options=options) as channel:
            began = time.perf_counter()
            answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=300)
            results["gRPC"].append(nbytes / (time.perf_counter() - began) / 1e9)
        names = [o.name for o in answer.outputs]
        assert abs(np.frombuffer(answer.raw_output_contents[names.index("mean")], "<f8")[0] - x.mean()) < 1e-9

        connection = http.client.HTTPConnection(*args.http.split(":"), timeout=300)
        began = time.perf_counter()
        connection.request("POST", "/v2/models/describe/infer", body=header + blob,
                           headers={"Inference-Header-Content-Length": str(len(header))})
        response = connection.getresponse()
        data = response.read()
        results["HTTP"].append(nbytes / (time.perf_counter() - began) / 1e9)
        assert response.status == 200, data[:200]
        connection.close()

        results["raw TCP"].append(raw_tcp(blob))
    for protocol, rates in results.items():
        print("upload 256 MiB %-7s best %.2f GB/s (of %s)" % (protocol, max(rates), ", ".join("%.2f" % r for r in rates)),
              flush=True)
    return {p: max(r) for p, r in results.items()}


def raw_tcp(blob):
    """The same bytes over loopback TCP to a thread that reads and discards them: the transport's ceiling."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def sink():
        connection, _ = listener.accept()
        buffer = bytearray(1 << 20)
        while connection.recv_into(buffer):
            pass
        connection.sendall(b"k")
        connection.close()

    thread = threading.Thread(target=sink)
    thread.start()
    client = socket.create_connection(listener.getsockname())
    began = time.perf_counter()
    client.sendall(blob)
    client.shutdown(socket.SHUT_WR)
    client.recv(1)
    elapsed = time.perf_counter() - began
    client.close()
    thread.join()
    listener.close()
    return len(blob) / elapsed / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", help="host:port of a running NCS's HTTP API (with --grpc)")
    parser.add_argument("--grpc", help="host:port of its gRPC API")
    parser.add_argument("--jar", default=os.path.join(ROOT, "service", "target", "ncs.jar"))
    parser.add_argument("--java", default=os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"),
                                                       "bin", "java"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of each case before it is timed")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    process = None
    if not args.http:
        process, args.http, args.grpc = start(args.jar, args.java)
    directory = tempfile.mkdtemp(prefix="ncs-grpc-bench-")
    try:
        pb, pb_grpc = stubs(directory)
        tiny(args, pb, pb_grpc, grpc)
        if not args.skip_upload:
            upload(args, pb, pb_grpc, grpc)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if process:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
