package dev.ncs.grpc;

import static dev.ncs.grpc.GrpcIntegrationTests.assertStatus;
import static dev.ncs.grpc.GrpcIntegrationTests.fp64;
import static dev.ncs.grpc.GrpcIntegrationTests.tensor;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import inference.GRPCInferenceServiceGrpc;
import inference.GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelMetadataRequest;
import inference.GrpcService.ServerLiveRequest;
import inference.GrpcService.ServerReadyRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.TestPropertySource;

/**
 * With ncs.security.tokens set, gRPC calls need authorization metadata as HTTP needs the header;
 * health stays open.
 */
@TestPropertySource(properties = "ncs.security.tokens=first-secret,second-secret")
class GrpcAuthenticationIntegrationTests extends IntegrationTestSupport {

    @Autowired GrpcServer server;

    private ManagedChannel channel;
    private GRPCInferenceServiceBlockingStub stub;

    @BeforeEach
    void connect() {
        channel =
                ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        stub = GRPCInferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void healthIsOpenAndEverythingElseNeedsAToken() throws Exception {
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        String missing = get("/v2/models/matmul").error();

        assertStatus(
                () ->
                        stub.modelMetadata(
                                ModelMetadataRequest.newBuilder().setName("matmul").build()),
                Status.Code.UNAUTHENTICATED,
                missing);
        assertStatus(
                () -> withToken("Bearer wrong").modelInfer(describe()),
                Status.Code.UNAUTHENTICATED,
                "the bearer token was not accepted");
        assertThat(withToken("Bearer second-secret").modelInfer(describe()).getOutputsList())
                .isNotEmpty();
        assertThat(
                        withToken("Bearer first-secret")
                                .modelMetadata(
                                        ModelMetadataRequest.newBuilder().setName("matmul").build())
                                .getName())
                .isEqualTo("matmul");
    }

    private GRPCInferenceServiceBlockingStub withToken(String authorization) {
        Metadata headers = new Metadata();
        headers.put(
                Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private static ModelInferRequest describe() {
        return ModelInferRequest.newBuilder()
                .setModelName("describe")
                .addInputs(tensor("x", "FP64", 2))
                .addRawInputContents(fp64(new double[] {1, 2}))
                .build();
    }
}
