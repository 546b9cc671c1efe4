package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * WebSocket through two real sidecars over mTLS, with a real WebSocket client and server (Netty's
 * websocketx codec): the upgrade is routed like any request, the 101 turns both hops into a raw
 * relay, frames are echoed both ways (a 1 MiB one too), the close handshake travels end to end,
 * and the request is reported once with 101 and the tunnel's bytes. An upgrade a connection
 * manager does not enable is refused with 403 (outbound or inbound), and a non-101 answer to an
 * upgrade is an ordinary response.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WebSocketSidecarTest {

  private static final String ECHO = "echo.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.241.1.1";
  private static final String SERVER_LOCAL = "127.241.2.1";
  private static final String CLIENT_POD = "127.242.1.1";
  private static final String CLIENT_LOCAL = "127.242.2.1";
  /** Outbound ports: websocket on both hops; not on the client's listener; not on the server's. */
  private static final int WS = 8000;
  private static final int NO_WS_OUTBOUND = 8001;
  private static final int NO_WS_INBOUND = 8002;
  private static final int MAX_FRAME = 8 * 1024 * 1024;
  /** A large frame: 1 MiB (leak detection PARANOID makes each MiB cost seconds here). */
  private static final int LARGE = 1024 * 1024;

  @TempDir
  static Path dir;

  private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2,
      NioIoHandler.newFactory());
  private TwoSidecars mesh;
  private Sidecar server;
  private Sidecar client;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    Channel app = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(65536),
                new WebSocketServerProtocolHandler(WebSocketServerProtocolConfig.newBuilder()
                    .websocketPath("/echo").maxFramePayloadLength(MAX_FRAME).build()),
                new EchoFrames(), new NotFound());
          }
        }).bind(SERVER_LOCAL, 0).sync().channel();
    int appPort = ((InetSocketAddress) app.localAddress()).getPort();
    int wsInbound = mesh.port(SERVER_POD);
    int plainInbound = mesh.port(SERVER_POD);

    FakeAdsServer serverAds = mesh.serverAds();
    serverAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.inboundCluster(wsInbound, appPort),
        MeshResources.inboundCluster(plainInbound, appPort)));
    serverAds.set(XdsResourceType.LISTENER, "1", List.of(
        MeshResources.withWebsocket(MeshResources.virtualInbound(wsInbound)).toBuilder()
            .addAllFilterChains(MeshResources.virtualInbound(plainInbound).getFilterChainsList())
            .build()));

    FakeAdsServer clientAds = mesh.clientAds();
    Ep ws = new Ep(SERVER_POD, wsInbound, 1, "east", false);
    Ep plain = new Ep(SERVER_POD, plainInbound, 1, "east", false);
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.outboundCluster(WS, ECHO),
        MeshResources.outboundCluster(NO_WS_OUTBOUND, ECHO),
        MeshResources.outboundCluster(NO_WS_INBOUND, ECHO)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(
        MeshResources.endpoints(outboundName(WS, ECHO), "us-east", ws),
        MeshResources.endpoints(outboundName(NO_WS_OUTBOUND, ECHO), "us-east", ws),
        MeshResources.endpoints(outboundName(NO_WS_INBOUND, ECHO), "us-east", plain)));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(
        MeshResources.withWebsocket(MeshResources.outboundListener(WS)),
        MeshResources.outboundListener(NO_WS_OUTBOUND),
        MeshResources.withWebsocket(MeshResources.outboundListener(NO_WS_INBOUND))));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(
        MeshResources.routes(WS, ECHO), MeshResources.routes(NO_WS_OUTBOUND, ECHO),
        MeshResources.routes(NO_WS_INBOUND, ECHO)));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "echo");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stop() throws Exception {
    try {
      if (mesh != null) {
        mesh.close();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void framesEchoBothWaysThroughTheTunnelAndTheCloseHandshakeEndsIt() throws Exception {
    try (WsClient ws = WsClient.connect(group, client.outboundAddress(), ECHO + ":" + WS)) {
      for (int i = 0; i < 5; i++) {
        ws.channel.writeAndFlush(new TextWebSocketFrame("hello " + i));
        assertThat(ws.nextText()).isEqualTo("hello " + i);
      }
      byte[] large = new byte[LARGE];
      new Random(7).nextBytes(large);
      // Larger than any socket buffer or TLS record: back-pressure works both ways.
      ws.channel.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(large)));
      assertThat(ws.nextBinary()).isEqualTo(large);

      ws.channel.writeAndFlush(new CloseWebSocketFrame(1000, "bye"));
      Object close = ws.frames.poll(10, TimeUnit.SECONDS);
      assertThat(close).isEqualTo("close 1000 bye");
      // The server closes the connection after its close frame; both hops follow.
      assertThat(ws.channel.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
    }
    // Reported once the tunnel is closed: 101, with the tunnel's bytes, by both reporters.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(bytes(scrape(client), "istio_response_bytes_sum", "source"))
          .isGreaterThan(LARGE);
      assertThat(bytes(scrape(server), "istio_request_bytes_sum", "destination"))
          .isGreaterThan(LARGE);
      assertThat(scrape(client)).containsPattern("istio_requests_total\\{[^}]*"
          + "reporter=\"source\"[^}]*response_code=\"101\"[^}]*\\} 1\\.0");
      assertThat(scrape(server)).containsPattern("istio_requests_total\\{[^}]*"
          + "reporter=\"destination\"[^}]*response_code=\"101\"[^}]*\\} 1\\.0");
    });
  }

  @Test
  void anUpgradeTheConnectionManagerDoesNotEnableIsRefusedWith403() throws Exception {
    Map<String, String> upgrade = Map.of("Connection", "Upgrade", "Upgrade", "websocket",
        "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    // The client's listener has no upgrade_configs: refused before leaving the client sidecar.
    assertThat(RawHttp.get(client.outboundAddress(), ECHO + ":" + NO_WS_OUTBOUND, "/echo",
        upgrade).status()).isEqualTo(403);
    // The client's listener lets it through, the server's inbound chain does not.
    assertThat(RawHttp.get(client.outboundAddress(), ECHO + ":" + NO_WS_INBOUND, "/echo",
        upgrade).status()).isEqualTo(403);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(scrape(client)).containsPattern(
          "isthmus_upgrade_refused_total\\{[^}]*direction=\"outbound\"[^}]*\\} 1\\.0");
      assertThat(scrape(server)).containsPattern(
          "isthmus_upgrade_refused_total\\{[^}]*direction=\"inbound\"[^}]*\\} 1\\.0");
    });
    // The same request without the upgrade is an ordinary one.
    assertThat(RawHttp.get(client.outboundAddress(), ECHO + ":" + NO_WS_OUTBOUND, "/plain")
        .status()).isEqualTo(404);
  }

  @Test
  void anUpgradeAnsweredWithoutA101IsAnOrdinaryResponse() throws Exception {
    RawHttp.Response response = RawHttp.get(client.outboundAddress(), ECHO + ":" + WS, "/nows",
        Map.of("Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
            "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
    assertThat(response.status()).isEqualTo(404);
    assertThat(response.body()).isEqualTo("no such page: /nows");
  }

  private static long bytes(String scrape, String metric, String reporter) {
    Matcher m = Pattern.compile(metric + "\\{[^}]*reporter=\"" + reporter
        + "\"[^}]*response_code=\"101\"[^}]*\\} (\\S+)").matcher(scrape);
    return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
  }

  private static String scrape(Sidecar sidecar) throws Exception {
    return RawHttp.get(sidecar.adminAddress(), "admin", "/stats/prometheus").body();
  }

  /** The app: echoes each text and binary frame as it arrives. */
  private static final class EchoFrames extends SimpleChannelInboundHandler<WebSocketFrame> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
      ctx.writeAndFlush(frame.retain());
    }
  }

  /** The app's answer to anything that is not the WebSocket path. */
  private static final class NotFound extends SimpleChannelInboundHandler<FullHttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
          HttpResponseStatus.NOT_FOUND, Unpooled.copiedBuffer("no such page: " + request.uri(),
              StandardCharsets.UTF_8));
      HttpUtil.setContentLength(response, response.content().readableBytes());
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      HttpUtil.setKeepAlive(response, keepAlive);
      var write = ctx.writeAndFlush(response);
      if (!keepAlive) {
        write.addListener(ChannelFutureListener.CLOSE);
      }
    }
  }

  /**
   * A WebSocket client on a connection to the client sidecar's outbound entry, with the mesh
   * host in its Host header; frames received are queued as text, bytes or "close code reason".
   */
  private static final class WsClient implements AutoCloseable {
    final BlockingQueue<Object> frames = new LinkedBlockingQueue<>();
    Channel channel;

    static WsClient connect(EventLoopGroup group, InetSocketAddress entry, String host)
        throws Exception {
      WsClient ws = new WsClient();
      CompletableFuture<Void> handshake = new CompletableFuture<>();
      var handshaker = WebSocketClientHandshakerFactory.newHandshaker(
          URI.create("ws://" + host + "/echo"), WebSocketVersion.V13, null, false,
          new DefaultHttpHeaders(), MAX_FRAME);
      ws.channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(65536),
                  new WebSocketClientProtocolHandler(handshaker, false),
                  new SimpleChannelInboundHandler<WebSocketFrame>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame f) {
                      if (f instanceof TextWebSocketFrame text) {
                        ws.frames.add(text.text());
                      } else if (f instanceof BinaryWebSocketFrame binary) {
                        ws.frames.add(ByteBufUtil.getBytes(binary.content()));
                      } else if (f instanceof CloseWebSocketFrame close) {
                        ws.frames.add("close " + close.statusCode() + " " + close.reasonText());
                      }
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                      if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent
                          .HANDSHAKE_COMPLETE) {
                        handshake.complete(null);
                      }
                      ctx.fireUserEventTriggered(evt);
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                      handshake.completeExceptionally(cause);
                      ctx.close();
                    }
                  });
            }
          }).connect(entry).sync().channel();
      handshake.get(10, TimeUnit.SECONDS);
      return ws;
    }

    String nextText() throws InterruptedException {
      Object frame = frames.poll(10, TimeUnit.SECONDS);
      assertThat(frame).isInstanceOf(String.class);
      return (String) frame;
    }

    byte[] nextBinary() throws InterruptedException {
      Object frame = frames.poll(30, TimeUnit.SECONDS);
      assertThat(frame).isInstanceOf(byte[].class);
      return (byte[]) frame;
    }

    @Override
    public void close() {
      channel.close().syncUninterruptibly();
    }
  }
}
