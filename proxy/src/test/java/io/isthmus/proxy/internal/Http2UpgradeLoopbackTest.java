package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.proxy.CaptureOptions;
import io.isthmus.proxy.testing.H2Client;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * DestinationRule {@code h2UpgradePolicy: UPGRADE} and {@code maxConcurrentStreams} as the
 * controller sends them ({@code explicit_http_config.http2_protocol_options}), honoured by a real
 * sidecar on loopback: an HTTP/1.1 client's requests reach an HTTP/2-only (h2c) server as
 * streams, and never more streams share one connection than the cap allows.
 */
class Http2UpgradeLoopbackTest {

  private static final String POD = "127.204.1.1";
  private static final String LOCALHOST = "127.204.2.1";
  private static final String SERVER_IP = "127.204.3.1";
  private static final String HOST = "h2.example.test";
  private static final String CLUSTER = "outbound|80||" + HOST;
  /**
   * How long the server holds an answer at most while it waits for the streams it expects (so
   * that concurrent requests overlap however slowly their threads start).
   */
  private static final long HOLD_MILLIS = 5_000;

  private SidecarServer sidecar;
  private EventLoopGroup serverLoop;
  private Channel server;
  /** The server's connections that carried a stream. */
  private final Set<Channel> connections = ConcurrentHashMap.newKeySet();
  /** The server answers once this many streams are waiting (or after HOLD_MILLIS). */
  private volatile int holdFor = 1;
  /** Answers not sent yet; used on the server's one event loop only. */
  private final List<Runnable> held = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    sidecar = SidecarServer.start(new SidecarSettings(POD, LOCALHOST, 0, 0, 0,
            new WorkloadInfo("curl", "sample", "east"), CaptureOptions.NONE, List.of()),
        MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry()), () -> true,
        () -> ConfigDump.mapper().createObjectNode());
    serverLoop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    server = new ServerBootstrap().group(serverLoop).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                  @Override
                  protected void initChannel(Http2StreamChannel stream) {
                    stream.pipeline().addLast(new H2Answer());
                  }
                }));
          }
        }).bind(new InetSocketAddress(SERVER_IP, 0)).sync().channel();
  }

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
    if (server != null) {
      server.close().sync();
    }
    if (serverLoop != null) {
      serverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  /**
   * Answers each request stream with "h2 <connection id>", once {@link #holdFor} streams wait
   * for an answer (at most after {@link #HOLD_MILLIS}).
   */
  private final class H2Answer extends SimpleChannelInboundHandler<Object> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof Http2HeadersFrame headers && headers.isEndStream()
          || msg instanceof io.netty.handler.codec.http2.Http2DataFrame data && data.isEndStream()) {
        Channel parent = ctx.channel().parent();
        connections.add(parent);
        java.util.concurrent.atomic.AtomicBoolean sent =
            new java.util.concurrent.atomic.AtomicBoolean();
        Runnable answer = () -> {
          if (sent.compareAndSet(false, true)) {
            byte[] body = ("h2 " + parent.id().asShortText()).getBytes(StandardCharsets.US_ASCII);
            ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                .setInt("content-length", body.length)));
            ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(body), true));
          }
        };
        held.add(answer);
        if (held.size() >= holdFor) {
          held.forEach(Runnable::run);
          held.clear();
        } else {
          ctx.executor().schedule(answer, HOLD_MILLIS, TimeUnit.MILLISECONDS);
        }
      }
    }
  }

  /** The cluster with {@code explicit_http_config.http2_protocol_options} (a cap when > 0), or none. */
  private void apply(boolean upgrade, int maxConcurrentStreams) {
    Http2ProtocolOptions.Builder h2 = Http2ProtocolOptions.newBuilder();
    if (maxConcurrentStreams > 0) {
      h2.setMaxConcurrentStreams(UInt32Value.of(maxConcurrentStreams));
    }
    Cluster.Builder cluster = MeshResources.outboundCluster(80, HOST).toBuilder().clearTransportSocket();
    if (upgrade) {
      cluster.putTypedExtensionProtocolOptions("envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          Any.pack(HttpProtocolOptions.newBuilder().setExplicitHttpConfig(
              HttpProtocolOptions.ExplicitHttpConfig.newBuilder().setHttp2ProtocolOptions(h2)).build()));
    }
    int port = ((InetSocketAddress) server.localAddress()).getPort();
    sidecar.apply(new XdsSnapshot(Map.of(CLUSTER, cluster.build()),
        Map.of(CLUSTER, MeshResources.endpoints(CLUSTER, "us-east",
            new MeshResources.Ep(SERVER_IP, port, 1, "external", false))),
        Map.of("0.0.0.0_80", MeshResources.outboundListener(80)),
        Map.of("80", MeshResources.routes(80, HOST)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, "1", XdsResourceType.LISTENER, "1")));
  }

  private String get() throws java.io.IOException {
    RawHttp.Response r = RawHttp.get(sidecar.outboundAddress(), HOST + ":80", "/");
    return r.status() + " " + r.body();
  }

  @Test
  void withUpgradeAnHttp1ClientReachesAnHttp2OnlyServer() throws Exception {
    // The caller's protocol: HTTP/1.1 to a server that only speaks HTTP/2 gets no answer from it.
    apply(false, 0);
    assertThat(get()).doesNotStartWith("200 ");
    apply(true, 0);
    assertThat(get()).startsWith("200 h2 ");
    assertThat(get()).startsWith("200 h2 ");
  }

  @Test
  void maxConcurrentStreamsCapsTheStreamsOnOneConnection() throws Exception {
    apply(true, 0);
    assertThat(streamsAtOnce(3)).hasSize(1);
    connections.clear();
    apply(true, 1);
    // One stream at a time per connection: three overlapping requests, three connections.
    assertThat(streamsAtOnce(3)).hasSize(3);
    assertThat(connections).hasSize(3);
  }

  /**
   * {@code n} overlapping requests as streams of one HTTP/2 client connection (so the sidecar
   * handles them on one event loop, with one upstream pool); the server connections that answered.
   */
  private Set<String> streamsAtOnce(int n) throws Exception {
    // A thread per request: the common pool may have fewer threads than n.
    java.util.concurrent.ExecutorService threads =
        java.util.concurrent.Executors.newFixedThreadPool(n);
    holdFor = n;
    try (H2Client client = new H2Client(sidecar.outboundAddress())) {
      List<CompletableFuture<H2Client.Response>> answers = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        answers.add(CompletableFuture.supplyAsync(() -> {
          try {
            return client.send(HttpMethod.GET, HOST + ":80", "/", Map.of(), new byte[0],
                java.time.Duration.ofSeconds(30));
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }, threads));
      }
      Set<String> servedBy = new java.util.TreeSet<>();
      for (CompletableFuture<H2Client.Response> a : answers) {
        H2Client.Response r = a.get(60, TimeUnit.SECONDS);
        assertThat(r.status()).isEqualTo(200);
        servedBy.add(new String(r.body(), StandardCharsets.US_ASCII));
      }
      return servedBy;
    } finally {
      holdFor = 1;
      threads.shutdownNow();
    }
  }
}
