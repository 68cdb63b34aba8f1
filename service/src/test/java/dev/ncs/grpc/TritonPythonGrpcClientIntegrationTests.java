package dev.ncs.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.ExternalTools;
import dev.ncs.IntegrationTestSupport;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * Triton's own Python client, {@code tritonclient.grpc} (vendored in third_party/tritonclient),
 * against the gRPC API: health, metadata, each kernel against numpy and hashlib, a parameter, an
 * unknown model, and a stream of 100 requests. The stubs it imports are generated here from the
 * service's .proto files with Debian's protoc and gRPC Python plugin
 * (scripts/setup.d/50-grpc-python.sh installs them).
 */
class TritonPythonGrpcClientIntegrationTests extends IntegrationTestSupport {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path PYTHON = Path.of("/usr/bin/python3");

    @Autowired GrpcServer server;

    @TempDir Path stubs;

    @Test
    void tritonsPythonClientPassesEveryCheck() throws Exception {
        ExternalTools.require(
                Files.isExecutable(PYTHON)
                        && run(
                                        List.of(
                                                PYTHON.toString(),
                                                "-c",
                                                "import grpc, google.protobuf, packaging, numpy, rapidjson"),
                                        stubs)
                                == 0
                        && run(List.of("protoc", "--version"), stubs) == 0,
                "Debian's python3 with grpcio, protobuf, packaging, numpy, rapidjson, and protoc with "
                        + "grpc_python_plugin (scripts/setup.d/50-grpc-python.sh)");
        Path protos = ROOT.resolve("service/src/main/proto");
        // tritonclient imports the service's module as service_pb2: generate it from a copy named
        // service.proto.
        Files.copy(protos.resolve("grpc_service.proto"), stubs.resolve("service.proto"));
        Files.copy(protos.resolve("model_config.proto"), stubs.resolve("model_config.proto"));
        assertThat(
                        run(
                                List.of(
                                        "protoc",
                                        "-I" + stubs,
                                        "--python_out=" + stubs,
                                        "--grpc_python_out=" + stubs,
                                        "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                                        "service.proto",
                                        "model_config.proto"),
                                stubs))
                .as("protoc")
                .isZero();

        Path log = stubs.resolve("client.log");
        ProcessBuilder client =
                new ProcessBuilder(
                                PYTHON.toString(),
                                ROOT.resolve("service/src/test/python/tritonclient_grpc_check.py")
                                        .toString(),
                                "127.0.0.1:" + server.port(),
                                stubs.toString())
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile());
        client.environment().put("PYTHONPATH", ROOT.resolve("third_party/tritonclient").toString());
        Process process = client.start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("the client finished").isTrue();
        String output = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();
        assertThat(output)
                .contains("ok: 100 streamed requests answered in order", "all checks passed");
    }

    private static int run(List<String> command, Path directory) throws Exception {
        Process process =
                new ProcessBuilder(command)
                        .directory(directory.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start();
        return process.waitFor(60, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }
}
