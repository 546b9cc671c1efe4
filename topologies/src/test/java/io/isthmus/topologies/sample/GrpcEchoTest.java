package io.isthmus.topologies.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.StringValue;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

class GrpcEchoTest {

    @Test
    void answersTheEchoJsonOverGrpcWithTheCallerIdentityFromXfcc() throws Exception {
        var options = new EchoServer.Options("127.0.0.1", 0, OptionalInt.empty(), OptionalInt.of(0), "eu", "v2",
                "helloworld-v2-abcde", "sample", "eu-central/eu-central-1a/");
        try (EchoServer server = EchoServer.start(options)) {
            ManagedChannel channel = NettyChannelBuilder.forAddress(server.grpcAddress().orElseThrow())
                    .usePlaintext().build();
            try {
                Metadata headers = new Metadata();
                headers.put(Metadata.Key.of("x-forwarded-client-cert", Metadata.ASCII_STRING_MARSHALLER),
                        "By=spiffe://cluster.local/ns/sample/sa/helloworld;URI=spiffe://cluster.local/ns/sample/sa/curl");
                headers.put(Metadata.Key.of("x-forwarded-for", Metadata.ASCII_STRING_MARSHALLER), "127.103.0.2");
                StringValue answer = ClientCalls.blockingUnaryCall(
                        channel,
                        GrpcEchoService.ECHO,
                        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
                        StringValue.of("hello"));
                Map<?, ?> plain = JsonMapper.builder().build().readValue(answer.getValue(), Map.class);
                assertThat(plain.get("cluster")).isEqualTo("eu");
                assertThat(plain.get("protocol")).isEqualTo("gRPC");
                assertThat(plain.get("path")).isEqualTo("/isthmus.sample.v1.Echo/Echo");
                assertThat(plain.get("callerIdentity")).isNull();

                StringValue withIdentity = ClientCalls.blockingUnaryCall(
                        io.grpc.ClientInterceptors.intercept(channel,
                                MetadataUtils.newAttachHeadersInterceptor(headers)),
                        GrpcEchoService.ECHO,
                        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
                        StringValue.of("hello"));
                Map<?, ?> json = JsonMapper.builder().build().readValue(withIdentity.getValue(), Map.class);
                assertThat(json.get("callerIdentity")).isEqualTo("spiffe://cluster.local/ns/sample/sa/curl");
                assertThat(json.get("forwardedFor")).isEqualTo("127.103.0.2");
                assertThat(json.get("version")).isEqualTo("v2");
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void parsesTheGrpcPortFlag() {
        var options = EchoServer.Options.fromArgs("--address", "127.0.0.1", "--grpc-port", "7070");
        assertThat(options.grpcPort()).hasValue(7070);
        assertThat(EchoServer.Options.fromArgs("--address", "127.0.0.1").grpcPort()).isEmpty();
    }
}
