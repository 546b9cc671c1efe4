package io.isthmus.topologies.sample;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrame;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class EchoServerTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static EchoServer server;

    @BeforeAll
    static void start() throws InterruptedException {
        server = EchoServer.start(EchoServer.Options.fromArgs("--address", "127.0.0.1", "--http-port", "0",
                "--tcp-port", "0", "--cluster", "eu", "--version", "v2", "--pod", "helloworld-v2-abc",
                "--namespace", "sample", "--locality", "eu-central/eu-central-1a/"));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void answersHttp1WithTheContractJson() throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpAddress().getPort()
                        + "/hello?x=1"))
                .header("x-forwarded-client-cert", "By=spiffe://cluster.local/ns/sample/sa/helloworld;"
                        + "Hash=abc;Subject=\"\";URI=spiffe://cluster.local/ns/sample/sa/curl")
                .header("x-forwarded-for", "127.102.1.1, 127.103.0.2")
                .POST(HttpRequest.BodyPublishers.ofString("body"))
                .build();

        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).contains("application/json");
        JsonNode json = JSON.readTree(response.body());
        assertThat(json.propertyNames()).containsExactly("cluster", "version", "pod", "namespace", "locality",
                "protocol", "method", "path", "callerIdentity", "forwardedFor", "headers");
        assertThat(json.get("cluster").asString()).isEqualTo("eu");
        assertThat(json.get("version").asString()).isEqualTo("v2");
        assertThat(json.get("pod").asString()).isEqualTo("helloworld-v2-abc");
        assertThat(json.get("namespace").asString()).isEqualTo("sample");
        assertThat(json.get("locality").asString()).isEqualTo("eu-central/eu-central-1a/");
        assertThat(json.get("protocol").asString()).isEqualTo("HTTP/1.1");
        assertThat(json.get("method").asString()).isEqualTo("POST");
        assertThat(json.get("path").asString()).isEqualTo("/hello?x=1");
        assertThat(json.get("callerIdentity").asString()).isEqualTo("spiffe://cluster.local/ns/sample/sa/curl");
        assertThat(json.get("forwardedFor").asString()).isEqualTo("127.103.0.2");
        assertThat(json.get("headers").get("x-forwarded-for").asString()).isEqualTo("127.102.1.1, 127.103.0.2");
    }

    @Test
    void callerIdentityAndForwardedForAreNullWithoutTheHeaders() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.httpAddress().getPort())) {
            OutputStream out = s.getOutputStream();
            out.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String raw = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(raw).startsWith("HTTP/1.1 200 OK");
            JsonNode json = JSON.readTree(raw.substring(raw.indexOf("\r\n\r\n") + 4));
            assertThat(json.get("callerIdentity").isNull()).isTrue();
            assertThat(json.get("forwardedFor").isNull()).isTrue();
        }
    }

    @Test
    void xfccWithSeveralElementsUsesTheLastOnesUri() {
        assertThat(EchoHttpHandler.callerIdentity("By=a;URI=spiffe://td/ns/a/sa/first,By=\"b,c\";URI=\"spiffe://td/ns/b/sa/second\""))
                .isEqualTo("spiffe://td/ns/b/sa/second");
        assertThat(EchoHttpHandler.callerIdentity("Hash=abc")).isNull();
    }

    @Test
    void answersH2cWithPriorKnowledge() throws Exception {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            Channel connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                                    new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                                        @Override
                                        protected void initChannel(Channel ch) {}
                                    }));
                        }
                    })
                    .connect(server.httpAddress()).sync().channel();
            CompletableFuture<String> body = new CompletableFuture<>();
            StringBuilder received = new StringBuilder();
            Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection)
                    .handler(new SimpleChannelInboundHandler<Http2StreamFrame>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, Http2StreamFrame frame) {
                            if (frame instanceof Http2DataFrame data) {
                                received.append(data.content().toString(StandardCharsets.UTF_8));
                                if (data.isEndStream()) {
                                    body.complete(received.toString());
                                }
                            } else if (frame instanceof Http2HeadersFrame headers && headers.isEndStream()) {
                                body.complete(received.toString());
                            }
                        }
                    })
                    .open().sync().getNow();
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("GET").path("/h2")
                    .scheme("http").authority("helloworld:5000"), true));

            JsonNode json = JSON.readTree(body.get(10, TimeUnit.SECONDS));
            assertThat(json.get("protocol").asString()).isEqualTo("HTTP/2");
            assertThat(json.get("path").asString()).isEqualTo("/h2");
            assertThat(json.get("cluster").asString()).isEqualTo("eu");
            connection.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void echoesWebSocketMessagesOnWs() throws Exception {
        CompletableFuture<String> echoed = new CompletableFuture<>();
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + server.httpAddress().getPort() + "/ws"), new WebSocket.Listener() {
                    @Override
                    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                        echoed.complete(data.toString());
                        return null;
                    }
                })
                .get(10, TimeUnit.SECONDS);
        try {
            ws.sendText("hello over ws", true).get(10, TimeUnit.SECONDS);
            assertThat(echoed.get(10, TimeUnit.SECONDS)).isEqualTo("hello over ws");
        } finally {
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void echoesRawTcp() throws Exception {
        assertThat(server.tcpAddress()).isPresent();
        try (Socket s = new Socket("127.0.0.1", server.tcpAddress().orElseThrow().getPort())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("ping\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            byte[] buf = in.readNBytes(5);
            assertThat(new String(buf, StandardCharsets.US_ASCII)).isEqualTo("ping\n");
        }
    }

    @Test
    void rejectsUnknownFlagsWithTheFlagName() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> EchoServer.Options.fromArgs("--colour", "red"))
                .hasMessageContaining("--colour: unknown flag");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> EchoServer.Options.fromArgs("--http-port", "x"))
                .hasMessageContaining("--http-port: 'x'");
        assertThat(EchoServer.Options.fromArgs().tcpPort()).isEqualTo(OptionalInt.empty());
    }
}
