"""Calls NCS's gRPC API with Triton's own Python client (tritonclient.grpc), unchanged.

Usage: python3 tritonclient_grpc_check.py HOST:PORT STUBS_DIR

STUBS_DIR holds service_pb2.py, service_pb2_grpc.py and model_config_pb2.py generated from Triton's
grpc_service.proto (as service.proto) and model_config.proto; they are registered under the module names
tritonclient.grpc imports. Every check compares with an independent reference computed here (numpy,
hashlib); the script prints one line per check and exits non-zero at the first failure.
"""
import hashlib
import importlib
import queue
import sys

url, stubs = sys.argv[1], sys.argv[2]
sys.path.insert(0, stubs)
for name in ("model_config_pb2", "service_pb2", "service_pb2_grpc"):
    sys.modules["tritonclient.grpc." + name] = importlib.import_module(name)

import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

client = grpcclient.InferenceServerClient(url=url)
rng = np.random.default_rng(5)


def check(what, condition):
    if not condition:
        print("FAILED: " + what)
        sys.exit(1)
    print("ok: " + what)


check("server live", client.is_server_live())
check("server ready", client.is_server_ready())
check("model ready", client.is_model_ready("matmul"))
metadata = client.get_server_metadata()
check("server metadata names ncs", metadata.name == "ncs")
model = client.get_model_metadata("matmul")
check("model metadata lists a and b", [t.name for t in model.inputs] == ["a", "b"])

a = rng.standard_normal((7, 13))
b = rng.standard_normal((13, 5))
inputs = [grpcclient.InferInput("a", [7, 13], "FP64"), grpcclient.InferInput("b", [13, 5], "FP64")]
inputs[0].set_data_from_numpy(a)
inputs[1].set_data_from_numpy(b)
result = client.infer("matmul", inputs, request_id="py-1")
check("matmul equals numpy's", np.allclose(result.as_numpy("c"), a @ b, rtol=1e-12, atol=1e-12))
check("the id is echoed", result.get_response().id == "py-1")

x = rng.standard_normal(1000)
inputs = [grpcclient.InferInput("x", [1000], "FP64")]
inputs[0].set_data_from_numpy(x)
result = client.infer("describe", inputs, outputs=[grpcclient.InferRequestedOutput("mean"),
                                                   grpcclient.InferRequestedOutput("max")])
check("describe's mean and max equal numpy's", np.isclose(result.as_numpy("mean")[0], x.mean())
      and result.as_numpy("max")[0] == x.max())

messages = np.array([("m" + "é" * (i % 4) + "x" * i).encode() for i in range(30)], dtype=np.object_)
inputs = [grpcclient.InferInput("data", [len(messages)], "BYTES")]
inputs[0].set_data_from_numpy(messages)
digests = client.infer("sha256", inputs).as_numpy("digest")
check("sha256 equals hashlib's", all(bytes(digests[i]) == hashlib.sha256(m).digest() for i, m in enumerate(messages)))

values = rng.integers(-100, 100, 50).astype(np.int64)
inputs = [grpcclient.InferInput("x", [50], "INT64")]
inputs[0].set_data_from_numpy(values)
result = client.infer("sort", inputs, parameters={"descending": True})
check("sort with a bool parameter equals numpy's", (result.as_numpy("sorted") == np.sort(values)[::-1]).all())

try:
    client.infer("no_such_kernel", inputs)
    check("an unknown model is refused", False)
except InferenceServerException as e:
    check("an unknown model is NOT_FOUND", e.status() == "StatusCode.NOT_FOUND" and "unknown kernel" in e.message())

answers = queue.Queue()
client.start_stream(callback=lambda result, error: answers.put((result, error)))
for i in range(100):
    inputs = [grpcclient.InferInput("x", [2], "FP64")]
    inputs[0].set_data_from_numpy(np.array([i, i + 2], dtype=np.float64))
    client.async_stream_infer("describe", inputs, request_id=str(i))
received = [answers.get(timeout=60) for _ in range(100)]
client.stop_stream()
check("100 streamed requests answered in order", all(
    error is None and result.get_response().id == str(i) and result.as_numpy("mean")[0] == i + 1
    for i, (result, error) in enumerate(received)))
client.close()
print("all checks passed")
