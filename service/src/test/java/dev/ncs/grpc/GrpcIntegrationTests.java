package dev.ncs.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.ncs.IntegrationTestSupport;
import dev.ncs.execution.NativeExecutor;
import dev.ncs.kernel.References;
import inference.GRPCInferenceServiceGrpc;
import inference.GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub;
import inference.GrpcService.InferParameter;
import inference.GrpcService.InferTensorContents;
import inference.GrpcService.ModelConfigRequest;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelInferRequest.InferInputTensor;
import inference.GrpcService.ModelInferRequest.InferRequestedOutputTensor;
import inference.GrpcService.ModelInferResponse;
import inference.GrpcService.ModelMetadataRequest;
import inference.GrpcService.ModelMetadataResponse;
import inference.GrpcService.ModelReadyRequest;
import inference.GrpcService.ModelStreamInferResponse;
import inference.GrpcService.ServerLiveRequest;
import inference.GrpcService.ServerMetadataRequest;
import inference.GrpcService.ServerMetadataResponse;
import inference.GrpcService.ServerReadyRequest;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * The gRPC service with grpc-java's generated stubs: every implemented RPC, each kernel's results
 * against the plain Java references, metadata against HTTP's, malformed messages against their
 * statuses, deadlines and cancellation against the kernel layer's metrics.
 */
class GrpcIntegrationTests extends IntegrationTestSupport {

    private final Random random = new Random(7);

    @Autowired GrpcServer server;

    @Autowired NativeExecutor executor;

    private ManagedChannel channel;
    private GRPCInferenceServiceBlockingStub stub;

    @BeforeEach
    void connect() {
        channel =
                ManagedChannelBuilder.forAddress("127.0.0.1", server.port())
                        .usePlaintext()
                        .maxInboundMessageSize(Integer.MAX_VALUE)
                        .build();
        stub = GRPCInferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void healthAndServerMetadataMatchHttp() throws Exception {
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        ServerMetadataResponse metadata =
                stub.serverMetadata(ServerMetadataRequest.getDefaultInstance());
        JsonNode http = get("/v2").json();

        assertThat(metadata.getName()).isEqualTo(http.path("name").asString());
        assertThat(metadata.getVersion()).isEqualTo(http.path("version").asString());
        assertThat(metadata.getExtensionsList())
                .containsExactlyElementsOf(
                        http.path("extensions").valueStream().map(JsonNode::asString).toList());
    }

    @Test
    void everyKernelsMetadataMatchesHttp() throws Exception {
        for (JsonNode entry : get("/v2/repository/index").json()) {
            String name = entry.path("name").asString();
            assertThat(
                            stub.modelReady(ModelReadyRequest.newBuilder().setName(name).build())
                                    .getReady())
                    .isTrue();
            ModelMetadataResponse grpc =
                    stub.modelMetadata(ModelMetadataRequest.newBuilder().setName(name).build());
            JsonNode http = get("/v2/models/" + name).json();

            assertThat(grpc.getName()).isEqualTo(name);
            assertThat(grpc.getPlatform()).isEqualTo(http.path("platform").asString());
            assertThat(grpc.getVersionsList())
                    .containsExactly(http.path("versions").get(0).asString());
            assertTensors(grpc.getInputsList(), http.path("inputs"));
            assertTensors(grpc.getOutputsList(), http.path("outputs"));
        }
    }

    @Test
    void anUnknownModelIsNotFoundWithHttpsMessage() throws Exception {
        String httpMessage = get("/v2/models/nosuch").error();

        assertStatus(
                () ->
                        stub.modelMetadata(
                                ModelMetadataRequest.newBuilder().setName("nosuch").build()),
                Status.Code.NOT_FOUND,
                httpMessage);
        assertStatus(
                () -> stub.modelReady(ModelReadyRequest.newBuilder().setName("nosuch").build()),
                Status.Code.NOT_FOUND,
                httpMessage);
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder().setModelName("nosuch").build()),
                Status.Code.NOT_FOUND,
                httpMessage);
    }

    @Test
    void rpcsNcsDoesNotServeAreUnimplementedWithAMessage() {
        assertStatus(
                () -> stub.modelConfig(ModelConfigRequest.newBuilder().setName("matmul").build()),
                Status.Code.UNIMPLEMENTED,
                "NCS does not implement ModelConfig");
    }

    @Test
    void matmulFromRawAndTypedContentsMatchesTheTripleLoop() {
        int m = 7;
        int k = 13;
        int n = 5;
        double[] a = random.doubles(m * k, -1, 1).toArray();
        double[] b = random.doubles(k * n, -1, 1).toArray();
        double[] expected = References.matmul(a, b, m, k, n);

        ModelInferResponse raw =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("matmul")
                                .setId("r1")
                                .addInputs(tensor("a", "FP64", m, k))
                                .addInputs(tensor("b", "FP64", k, n))
                                .addRawInputContents(fp64(a))
                                .addRawInputContents(fp64(b))
                                .build());
        assertThat(raw.getId()).isEqualTo("r1");
        assertThat(raw.getModelName()).isEqualTo("matmul");
        assertThat(raw.getOutputs(0).getName()).isEqualTo("c");
        assertThat(raw.getOutputs(0).getDatatype()).isEqualTo("FP64");
        assertThat(raw.getOutputs(0).getShapeList()).containsExactly((long) m, (long) n);
        assertClose(fp64(raw.getRawOutputContents(0)), expected, 1e-12);

        ModelInferResponse typed =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("matmul")
                                .addInputs(tensor("a", "FP32", m, k).setContents(fp32Contents(a)))
                                .addInputs(tensor("b", "FP32", k, n).setContents(fp32Contents(b)))
                                .build());
        assertThat(typed.getOutputs(0).getDatatype()).isEqualTo("FP32");
        assertClose(
                fp32(typed.getRawOutputContents(0)),
                References.matmul(asFloats(a), asFloats(b), m, k, n),
                1e-5);
    }

    @Test
    void callsAndKernelRunsAreCountedWithTheirProtocol() throws Exception {
        String before = scrape();
        stub.modelInfer(
                ModelInferRequest.newBuilder()
                        .setModelName("describe")
                        .addInputs(tensor("x", "FP64", 1))
                        .addRawInputContents(fp64(new double[] {1}))
                        .build());
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder().setModelName("describe").build()),
                Status.Code.INVALID_ARGUMENT,
                "needs input 'x'");
        post(
                "/v2/models/describe/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[1],\"data\":[1]}]}");

        String after = scrape();
        for (String series :
                List.of(
                        "ncs_kernel_seconds_count{kernel=\"describe\",protocol=\"grpc\",outcome=\"success\"}",
                        "ncs_kernel_seconds_count{kernel=\"describe\",protocol=\"http\",outcome=\"success\"}",
                        "ncs_grpc_requests_seconds_count{method=\"ModelInfer\",code=\"OK\"}",
                        "ncs_grpc_requests_seconds_count{method=\"ModelInfer\",code=\"INVALID_ARGUMENT\"}")) {
            assertThat(total(after, series) - total(before, series)).as(series).isEqualTo(1);
        }
    }

    @Test
    void describeReturnsTheRequestedOutputsInTheirOrder() {
        double[] x = random.doubles(100_003, -5, 5).toArray();
        double[] expected = References.describe(x);
        ModelInferResponse response =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("describe")
                                .addInputs(tensor("x", "FP64", x.length))
                                .addRawInputContents(fp64(x))
                                .addOutputs(InferRequestedOutputTensor.newBuilder().setName("max"))
                                .addOutputs(InferRequestedOutputTensor.newBuilder().setName("mean"))
                                .build());

        assertThat(response.getOutputsList())
                .extracting(o -> o.getName())
                .containsExactly("max", "mean");
        assertClose(fp64(response.getRawOutputContents(0)), new double[] {expected[4]}, 1e-12);
        assertClose(fp64(response.getRawOutputContents(1)), new double[] {expected[1]}, 1e-10);
    }

    @Test
    void sortTakesItsParameterAsABool() {
        long[] x = random.longs(1000, -1000, 1000).toArray();
        ByteBuffer bytes = ByteBuffer.allocate(8 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : x) {
            bytes.putLong(v);
        }
        ModelInferResponse response =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("sort")
                                .putParameters(
                                        "descending",
                                        InferParameter.newBuilder().setBoolParam(true).build())
                                .addInputs(tensor("x", "INT64", x.length))
                                .addRawInputContents(ByteString.copyFrom(bytes.flip()))
                                .build());

        ByteBuffer sorted =
                response.getRawOutputContents(0)
                        .asReadOnlyByteBuffer()
                        .order(ByteOrder.LITTLE_ENDIAN);
        long[] actual = new long[x.length];
        sorted.asLongBuffer().get(actual);
        assertThat(actual).containsExactly(References.sort(x, true));
    }

    @Test
    void bytesRoundTripThroughSha256FromRawAndTypedContents() throws Exception {
        List<byte[]> messages = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            messages.add(
                    ("m" + "é".repeat(i % 5) + "x".repeat(i * 7)).getBytes(StandardCharsets.UTF_8));
        }
        ByteBuffer raw =
                ByteBuffer.allocate(messages.stream().mapToInt(m -> 4 + m.length).sum())
                        .order(ByteOrder.LITTLE_ENDIAN);
        InferTensorContents.Builder typed = InferTensorContents.newBuilder();
        for (byte[] message : messages) {
            raw.putInt(message.length).put(message);
            typed.addBytesContents(ByteString.copyFrom(message));
        }
        ModelInferResponse fromRaw =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("sha256")
                                .addInputs(tensor("data", "BYTES", messages.size()))
                                .addRawInputContents(ByteString.copyFrom(raw.flip()))
                                .build());
        ModelInferResponse fromTyped =
                stub.modelInfer(
                        ModelInferRequest.newBuilder()
                                .setModelName("sha256")
                                .addInputs(
                                        tensor("data", "BYTES", messages.size()).setContents(typed))
                                .build());

        for (ModelInferResponse response : List.of(fromRaw, fromTyped)) {
            assertThat(response.getOutputs(0).getDatatype()).isEqualTo("UINT8");
            assertThat(response.getOutputs(0).getShapeList())
                    .containsExactly((long) messages.size(), 32L);
            byte[] digests = response.getRawOutputContents(0).toByteArray();
            for (int i = 0; i < messages.size(); i++) {
                byte[] expected = MessageDigest.getInstance("SHA-256").digest(messages.get(i));
                assertThat(java.util.Arrays.copyOfRange(digests, 32 * i, 32 * i + 32))
                        .as("digest %d", i)
                        .isEqualTo(expected);
            }
        }
    }

    @Test
    void malformedMessagesAreInvalidArgumentsNeverInternal() {
        ModelInferRequest.Builder matmul =
                ModelInferRequest.newBuilder()
                        .setModelName("matmul")
                        .addInputs(tensor("a", "FP64", 2, 2))
                        .addInputs(tensor("b", "FP64", 2, 2));
        ByteString four = fp64(new double[] {1, 2, 3, 4});

        assertStatus(
                () -> stub.modelInfer(matmul.clone().addRawInputContents(four).build()),
                Status.Code.INVALID_ARGUMENT,
                "1 raw_input_contents for 2 inputs");
        assertStatus(
                () ->
                        stub.modelInfer(
                                matmul.clone()
                                        .addRawInputContents(four)
                                        .addRawInputContents(four.substring(0, 24))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "raw_input_contents of input 'b' is 24 bytes, but 4 FP64 elements take 32");
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder()
                                        .setModelName("matmul")
                                        .addInputs(
                                                tensor("a", "FP64", 1, 1)
                                                        .setContents(
                                                                InferTensorContents.newBuilder()
                                                                        .addIntContents(1)))
                                        .addInputs(
                                                tensor("b", "FP64", 1, 1)
                                                        .setContents(
                                                                InferTensorContents.newBuilder()
                                                                        .addFp64Contents(1)))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "belong in contents.fp64_contents, but contents has int_contents");
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder()
                                        .setModelName("matmul")
                                        .addInputs(tensor("a", "FP65", 1, 1))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "unknown datatype 'FP65'");
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder()
                                        .setModelName("matmul")
                                        .addInputs(tensor("a", "INT8", 1, 1))
                                        .addInputs(tensor("b", "INT8", 1, 1))
                                        .addRawInputContents(ByteString.copyFrom(new byte[1]))
                                        .addRawInputContents(ByteString.copyFrom(new byte[1]))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "must be");
        assertStatus(
                () ->
                        stub.modelInfer(
                                matmul.clone()
                                        .addRawInputContents(four)
                                        .addRawInputContents(four)
                                        .putParameters(
                                                "timeout",
                                                InferParameter.newBuilder()
                                                        .setStringParam("soon")
                                                        .build())
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "parameter timeout must be a non-negative integer");
        assertStatus(
                () ->
                        stub.modelInfer(
                                matmul.clone()
                                        .addRawInputContents(four)
                                        .addRawInputContents(four)
                                        .putParameters("alpha", InferParameter.getDefaultInstance())
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "parameter 'alpha' has no value");
        assertStatus(
                () ->
                        stub.modelInfer(
                                ModelInferRequest.newBuilder()
                                        .setModelName("sha256")
                                        .addInputs(tensor("data", "BYTES", 2))
                                        .addRawInputContents(
                                                ByteString.copyFrom(
                                                        new byte[] {9, 0, 0, 0, 1, 0, 0, 0, 0}))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "BYTES element 0 declares 9 bytes");
        assertStatus(
                () ->
                        stub.modelInfer(
                                matmul.clone()
                                        .addRawInputContents(four)
                                        .addRawInputContents(four)
                                        .addOutputs(
                                                InferRequestedOutputTensor.newBuilder()
                                                        .setName("d"))
                                        .build()),
                Status.Code.INVALID_ARGUMENT,
                "kernel 'matmul' has no output 'd'");
    }

    @Test
    void bytesThatAreNotAModelInferRequestAreInvalidArguments() {
        byte[] valid =
                ModelInferRequest.newBuilder()
                        .setModelName("describe")
                        .addInputs(tensor("x", "FP64", 2))
                        .addRawInputContents(fp64(new double[] {1, 2}))
                        .build()
                        .toByteArray();

        assertStatus(
                () -> sendBytes(java.util.Arrays.copyOf(valid, valid.length - 3)),
                Status.Code.INVALID_ARGUMENT,
                "not a valid ModelInferRequest");
        assertStatus(
                () -> sendBytes(new byte[] {0x0f, 1, 2, 3}),
                Status.Code.INVALID_ARGUMENT,
                "not a valid ModelInferRequest"); // field 1 with wire type 7
        assertThat(
                        sendBytes(valid)
                                .getRawOutputContents(0)
                                .asReadOnlyByteBuffer()
                                .order(ByteOrder.LITTLE_ENDIAN)
                                .getLong())
                .isEqualTo(2); // count
    }

    @Test
    void aMalformedMessageInAStreamIsAnsweredWithAnErrorAndTheStreamGoesOn() throws Exception {
        byte[] valid =
                ModelInferRequest.newBuilder()
                        .setModelName("describe")
                        .setId("after")
                        .addInputs(tensor("x", "FP64", 2))
                        .addRawInputContents(fp64(new double[] {1, 2}))
                        .build()
                        .toByteArray();
        MethodDescriptor<ModelInferRequest, ModelStreamInferResponse> method =
                GRPCInferenceServiceGrpc.getModelStreamInferMethod();
        List<ModelStreamInferResponse> answers = new ArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<byte[]> requests =
                ClientCalls.asyncBidiStreamingCall(
                        channel.newCall(
                                method.toBuilder(BYTES, method.getResponseMarshaller()).build(),
                                io.grpc.CallOptions.DEFAULT),
                        new StreamObserver<ModelStreamInferResponse>() {
                            @Override
                            public void onNext(ModelStreamInferResponse value) {
                                answers.add(value);
                            }

                            @Override
                            public void onError(Throwable t) {
                                done.completeExceptionally(t);
                            }

                            @Override
                            public void onCompleted() {
                                done.complete(null);
                            }
                        });
        requests.onNext(java.util.Arrays.copyOf(valid, valid.length - 3));
        requests.onNext(valid);
        requests.onCompleted();
        done.get(30, TimeUnit.SECONDS);

        assertThat(answers).hasSize(2);
        assertThat(answers.get(0).getErrorMessage()).contains("not a valid ModelInferRequest");
        assertThat(answers.get(1).getInferResponse().getId()).isEqualTo("after");
    }

    private static final MethodDescriptor.Marshaller<byte[]> BYTES =
            new MethodDescriptor.Marshaller<>() {
                @Override
                public java.io.InputStream stream(byte[] value) {
                    return new java.io.ByteArrayInputStream(value);
                }

                @Override
                public byte[] parse(java.io.InputStream stream) {
                    throw new UnsupportedOperationException("the test only sends bytes");
                }
            };

    /** A ModelInfer call whose message is exactly {@code message}, whatever it holds. */
    private ModelInferResponse sendBytes(byte[] message) {
        MethodDescriptor<ModelInferRequest, ModelInferResponse> infer =
                GRPCInferenceServiceGrpc.getModelInferMethod();
        return ClientCalls.blockingUnaryCall(
                channel,
                infer.toBuilder(BYTES, infer.getResponseMarshaller()).build(),
                io.grpc.CallOptions.DEFAULT,
                message);
    }

    @Test
    void aStreamOfAHundredRequestsIsAnsweredInOrder() throws Exception {
        List<ModelStreamInferResponse> answers = new ArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<ModelInferRequest> requests =
                GRPCInferenceServiceGrpc.newStub(channel)
                        .modelStreamInfer(
                                new StreamObserver<>() {
                                    @Override
                                    public void onNext(ModelStreamInferResponse value) {
                                        answers.add(value);
                                    }

                                    @Override
                                    public void onError(Throwable t) {
                                        done.completeExceptionally(t);
                                    }

                                    @Override
                                    public void onCompleted() {
                                        done.complete(null);
                                    }
                                });
        for (int i = 0; i < 100; i++) {
            if (i == 50) {
                requests.onNext(
                        ModelInferRequest.newBuilder().setModelName("nosuch").setId("50").build());
                continue;
            }
            requests.onNext(
                    ModelInferRequest.newBuilder()
                            .setModelName("describe")
                            .setId(Integer.toString(i))
                            .addInputs(tensor("x", "FP64", 2))
                            .addRawInputContents(fp64(new double[] {i, i + 2}))
                            .build());
        }
        requests.onCompleted();
        done.get(60, TimeUnit.SECONDS);

        assertThat(answers).hasSize(100);
        for (int i = 0; i < 100; i++) {
            ModelStreamInferResponse answer = answers.get(i);
            if (i == 50) {
                assertThat(answer.getErrorMessage()).startsWith("unknown kernel 'nosuch'");
                continue;
            }
            assertThat(answer.getErrorMessage()).isEmpty();
            assertThat(answer.getInferResponse().getId()).isEqualTo(Integer.toString(i));
            int mean =
                    answer.getInferResponse().getOutputsList().stream()
                            .map(o -> o.getName())
                            .toList()
                            .indexOf("mean");
            assertThat(fp64(answer.getInferResponse().getRawOutputContents(mean)))
                    .containsExactly(i + 1.0);
        }
    }

    @Test
    void aRequestStillQueuedAtTheCallsDeadlineNeverRuns() throws Exception {
        assertThat(stub.modelInfer(smallDescribe()).getOutputsList())
                .isNotEmpty(); // the call path is warm
        double before = metric(scrape(), "ncs_rejected_total{reason=\"deadline\"}");
        try (BusyWorkers busy = new BusyWorkers()) {
            assertStatus(
                    () ->
                            stub.withDeadlineAfter(500, TimeUnit.MILLISECONDS)
                                    .modelInfer(smallDescribe()),
                    Status.Code.DEADLINE_EXCEEDED,
                    "");
            awaitMetric("ncs_rejected_total{reason=\"deadline\"}", before + 1);
        }
        assertThat(stub.modelInfer(smallDescribe()).getOutputsList()).isNotEmpty();
    }

    @Test
    void theTimeoutParameterCancelsTheRunningKernelWithHttpsMessage() throws Exception {
        double before = metric(scrape(), "ncs_rejected_total{reason=\"deadline\"}");

        assertStatus(
                () ->
                        stub.withDeadlineAfter(60, TimeUnit.SECONDS)
                                .modelInfer(
                                        slowMatmul().toBuilder()
                                                .putParameters(
                                                        "timeout",
                                                        InferParameter.newBuilder()
                                                                .setInt64Param(20_000)
                                                                .build())
                                                .build()),
                Status.Code.DEADLINE_EXCEEDED,
                "the request's deadline (20000 microseconds");
        String metrics = scrape();
        assertThat(metric(metrics, "ncs_rejected_total{reason=\"deadline\"}"))
                .isEqualTo(before + 1);
        assertThat(
                        metric(
                                metrics,
                                "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"deadline_exceeded\"}"))
                .isGreaterThanOrEqualTo(1);
        assertThat(metric(metrics, "ncs_workers_busy")).isZero();
    }

    @Test
    void aClientThatCancelsWithdrawsItsWork() throws Exception {
        double before = metric(scrape(), "ncs_rejected_total{reason=\"client_disconnected\"}");
        double ran = total(scrape(), "ncs_kernel_seconds_count{kernel=\"describe\"}");
        CountDownLatch ended = new CountDownLatch(1);
        Context.CancellableContext call = Context.current().withCancellation();
        try (BusyWorkers busy = new BusyWorkers()) {
            call.run(() ->
                    GRPCInferenceServiceGrpc.newStub(channel)
                            .modelInfer(smallDescribe(), observer(t -> ended.countDown())));
            awaitGauge("ncs_queue_depth", 1); // received, admitted, waiting for a worker
            call.cancel(null);

            assertThat(ended.await(10, TimeUnit.SECONDS)).isTrue();
            awaitMetric("ncs_rejected_total{reason=\"client_disconnected\"}", before + 1);
            assertThat(metric(scrape(), "ncs_queue_depth")).isZero();
        }
        assertThat(total(scrape(), "ncs_kernel_seconds_count{kernel=\"describe\"}")).isEqualTo(ran);
    }

    /** Both native workers held by tasks that wait until closed, so that requests queue. */
    private final class BusyWorkers implements AutoCloseable {

        private final CountDownLatch release = new CountDownLatch(1);
        private final List<Future<?>> tasks = new ArrayList<>();

        BusyWorkers() {
            for (int i = 0; i < 2; i++) {
                tasks.add(executor.submit(() -> release.await(30, TimeUnit.SECONDS)));
            }
        }

        @Override
        public void close() throws Exception {
            release.countDown();
            for (Future<?> task : tasks) {
                task.get();
            }
        }
    }

    private static ModelInferRequest smallDescribe() {
        return ModelInferRequest.newBuilder()
                .setModelName("describe")
                .addInputs(tensor("x", "FP64", 2))
                .addRawInputContents(fp64(new double[] {1, 2}))
                .build();
    }

    /**
     * A matmul of two 2048 x 2048 matrices: seconds on two loaded cores, far beyond the deadlines
     * above.
     */
    private static ModelInferRequest slowMatmul() {
        int n = 2048;
        ByteString matrix =
                ByteString.copyFrom(
                        ByteBuffer.allocate(n * n * 8)
                                .order(ByteOrder.LITTLE_ENDIAN)
                                .putDouble(0, 1.0));
        return ModelInferRequest.newBuilder()
                .setModelName("matmul")
                .addInputs(tensor("a", "FP64", n, n))
                .addInputs(tensor("b", "FP64", n, n))
                .addRawInputContents(matrix)
                .addRawInputContents(matrix)
                .build();
    }

    private void awaitGauge(String series, double expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (metric(scrape(), series) != expected && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(metric(scrape(), series)).as(series).isEqualTo(expected);
    }

    private void awaitMetric(String series, double expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (metric(scrape(), series) < expected && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        String metrics = scrape();
        assertThat(metric(metrics, series))
                .as(
                        series
                                + " in\n"
                                + metrics.lines()
                                        .filter(l ->
                                                l.startsWith("ncs_rejected")
                                                        || l.startsWith("ncs_kernel_seconds_count")
                                                        || l.startsWith("ncs_queue_depth")
                                                        || l.startsWith("ncs_workers_busy"))
                                        .toList())
                .isEqualTo(expected);
    }

    private static <T> StreamObserver<T> observer(Consumer<Throwable> end) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {}

            @Override
            public void onError(Throwable t) {
                end.accept(t);
            }

            @Override
            public void onCompleted() {
                end.accept(null);
            }
        };
    }

    static void assertStatus(Runnable call, Status.Code code, String message) {
        assertThatThrownBy(call::run)
                .isInstanceOfSatisfying(
                        StatusRuntimeException.class,
                        e -> {
                            assertThat(e.getStatus().getCode())
                                    .as(e.getStatus().toString())
                                    .isEqualTo(code);
                            assertThat(String.valueOf(e.getStatus().getDescription()))
                                    .contains(message);
                        });
    }

    private static void assertTensors(
            List<ModelMetadataResponse.TensorMetadata> grpc, JsonNode http) {
        assertThat(grpc).hasSize(http.size());
        for (int i = 0; i < grpc.size(); i++) {
            assertThat(grpc.get(i).getName()).isEqualTo(http.get(i).path("name").asString());
            assertThat(grpc.get(i).getDatatype())
                    .isEqualTo(http.get(i).path("datatype").asString());
            assertThat(grpc.get(i).getShapeList())
                    .containsExactlyElementsOf(
                            http.get(i).path("shape").valueStream().map(JsonNode::asLong).toList());
        }
    }

    static InferInputTensor.Builder tensor(String name, String type, long... shape) {
        InferInputTensor.Builder tensor =
                InferInputTensor.newBuilder().setName(name).setDatatype(type);
        for (long dim : shape) {
            tensor.addShape(dim);
        }
        return tensor;
    }

    static ByteString fp64(double[] values) {
        ByteBuffer bytes = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            bytes.putDouble(v);
        }
        return ByteString.copyFrom(bytes.flip());
    }

    static double[] fp64(ByteString bytes) {
        double[] values = new double[bytes.size() / 8];
        bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(values);
        return values;
    }

    private static double[] fp32(ByteString bytes) {
        float[] values = new float[bytes.size() / 4];
        bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        double[] widened = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            widened[i] = values[i];
        }
        return widened;
    }

    private static InferTensorContents fp32Contents(double[] values) {
        InferTensorContents.Builder contents = InferTensorContents.newBuilder();
        for (double v : values) {
            contents.addFp32Contents((float) v);
        }
        return contents.build();
    }

    private static double[] asFloats(double[] values) {
        double[] rounded = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            rounded[i] = (float) values[i];
        }
        return rounded;
    }

    private static void assertClose(double[] actual, double[] expected, double tolerance) {
        assertThat(actual).hasSize(expected.length);
        for (int i = 0; i < expected.length; i++) {
            assertThat(actual[i])
                    .as("element %d", i)
                    .isCloseTo(
                            expected[i],
                            org.assertj.core.data.Offset.offset(
                                    tolerance * Math.max(1, Math.abs(expected[i]))));
        }
    }
}
