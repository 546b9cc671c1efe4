package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.CaptureOptions;
import io.isthmus.proxy.TelemetryOptions;
import io.isthmus.proxy.internal.telemetry.PeerMetadata;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
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
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import com.google.protobuf.UInt32Value;
import java.util.concurrent.CopyOnWriteArrayList;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the sidecar fails toward upstreams that do not behave, as Envoy does: a server that
 * accepts TCP and never answers the TLS handshake fails the attempt in the cluster's
 * {@code connect_timeout} (503 {@code UF}, retried by the route's policy), not in a fixed 10 s;
 * an HTTP/2-only server sent HTTP/1.1 is an upstream protocol error (503 {@code UPE}) with a
 * readable reason, counted and access-logged, not bytes of HTTP/2 frames relayed as a response.
 */
class UpstreamFailuresLoopbackTest {

  private static final String POD = "127.206.1.1";
  private static final String LOCALHOST = "127.206.2.1";
  private static final String SERVER_IP = "127.206.3.1";
  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String CLUSTER = "outbound|5000||" + HOST;

  @TempDir
  Path dir;
  private final TestPki pki = new TestPki();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final List<AutoCloseable> closing = new CopyOnWriteArrayList<>();
  private EventLoopGroup serverGroup;
  private SidecarServer sidecar;
  private Path accessLog;
  private final AtomicInteger version = new AtomicInteger();
  private TrustBundle bundle;

  @BeforeEach
  void start() throws Exception {
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, registry);
    accessLog = dir.resolve("access.log");
    sidecar = SidecarServer.start(new SidecarSettings(POD, LOCALHOST, 0, 0, 0,
            new WorkloadInfo("curl", "sample", "east"), CaptureOptions.NONE, List.of()),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode(),
        new TelemetrySettings(new PeerMetadata("curl-1", "sample", "east", "curl", "curl", "v1"),
            new TelemetryOptions(-1, "", 0, accessLog.toString(), "json", 1_000)));
    serverGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  }

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
    for (AutoCloseable c : closing) {
      c.close();
    }
    if (serverGroup != null) {
      serverGroup.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void aServerThatNeverAnswersTheHandshakeFailsInTheConnectTimeoutAndIsRetried() throws Exception {
    AtomicInteger accepted = new AtomicInteger();
    ServerSocket silent = new ServerSocket(0, 16, InetAddress.getByName(SERVER_IP));
    closing.add(silent);
    Thread acceptor = new Thread(() -> {
      while (!silent.isClosed()) {
        try {
          Socket s = silent.accept();
          accepted.incrementAndGet();
          closing.add(s); // held open, never read: the ClientHello goes unanswered
        } catch (IOException closed) {
          return;
        }
      }
    }, "upstream-id-silent-tls");
    acceptor.setDaemon(true);
    acceptor.start();
    Cluster cluster = MeshResources.outboundCluster(5000, HOST).toBuilder()
        .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(1)).build();
    apply(cluster, silent.getLocalPort(), retries(MeshResources.routes(5000, HOST), 1));

    long start = System.nanoTime();
    RawHttp.Response response = RawHttp.get(sidecar.outboundAddress(), HOST + ":5000", "/");
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(response.status()).isEqualTo(503);
    assertThat(response.body()).startsWith("upstream connect error or disconnect/reset before headers."
        + " reset reason: connection failure, transport failure reason: TLS_error: handshake timed out");
    // Two attempts of 1 s each (the retry policy's one retry): 2 s, where two of the 10 s
    // default would take 20 (the upper bound leaves room for a loaded machine).
    // The acceptor thread counts on its own time: awaited, not read.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(accepted).hasValue(2));
    assertThat(took).isGreaterThanOrEqualTo(Duration.ofSeconds(2)).isLessThan(Duration.ofSeconds(15));
    assertThat(sidecar.metrics().count("isthmus_upstream_tls_handshake_failures", "cluster", CLUSTER,
        "reason", "connection_error")).isEqualTo(2);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(Files.readAllLines(accessLog))
        .anySatisfy(line -> assertThat(line).contains("\"response_code\":503")
            .contains("\"response_flags\":\"URX\"")
            .contains("\"upstream_transport_failure_reason\":\"TLS_error: handshake timed out")));
  }

  @Test
  void http11ToAnHttp2OnlyServerIsA503UpstreamProtocolError() throws Exception {
    int port = h2cPriorKnowledgeServer();
    // The cluster speaks HTTP/1.1 (no HttpProtocolOptions, no h2UpgradePolicy) and plaintext.
    apply(MeshResources.outboundCluster(5000, HOST).toBuilder().clearTransportSocket().build(), port,
        MeshResources.routes(5000, HOST));

    RawHttp.Response response = RawHttp.get(sidecar.outboundAddress(), HOST + ":5000", "/");

    assertThat(response.status()).isEqualTo(503);
    assertThat(response.body()).startsWith("upstream connect error or disconnect/reset before headers."
        + " reset reason: protocol error");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(Files.readAllLines(accessLog))
        .anySatisfy(line -> assertThat(line).contains("\"response_code\":503")
            .contains("\"response_flags\":\"UPE\"")
            .contains("\"response_code_details\":\"upstream_reset_before_response_started{protocol_error")));
    assertThat(sidecar.metrics().count("isthmus_upstream_protocol_errors", "cluster", CLUSTER)).isEqualTo(1);
  }

  private static RouteConfiguration retries(RouteConfiguration routes, int retries) {
    RouteConfiguration.Builder builder = routes.toBuilder();
    builder.getVirtualHostsBuilder(0).getRoutesBuilder(0).getRouteBuilder()
        .setRetryPolicy(RetryPolicy.newBuilder()
            .setRetryOn("connect-failure")
            .setNumRetries(UInt32Value.of(retries))
            .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder()
                .setBaseInterval(com.google.protobuf.Duration.newBuilder().setNanos(5_000_000))));
    return builder.build();
  }

  private void apply(Cluster cluster, int port, RouteConfiguration routes) {
    String v = Integer.toString(version.incrementAndGet());
    sidecar.apply(new XdsSnapshot(Map.of(CLUSTER, cluster),
        Map.of(CLUSTER, MeshResources.endpoints(CLUSTER, "us-east",
            new MeshResources.Ep(SERVER_IP, port, 1, "east", false))),
        Map.of("0.0.0.0_5000", MeshResources.outboundListener(5000)),
        Map.of("5000", routes), Map.of(),
        Map.of(XdsResourceType.CLUSTER, v, XdsResourceType.LISTENER, v)));
  }

  /** An HTTP/2 server with prior knowledge only (h2c, no Upgrade), as a gRPC server is. */
  private int h2cPriorKnowledgeServer() throws InterruptedException {
    Channel server = new ServerBootstrap()
        .group(serverGroup)
        .channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel stream) {
                    stream.pipeline().addLast(new SimpleChannelInboundHandler<Http2HeadersFrame>() {
                      @Override
                      protected void channelRead0(ChannelHandlerContext ctx, Http2HeadersFrame frame) {
                        ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                        ctx.writeAndFlush(new DefaultHttp2DataFrame(
                            Unpooled.copiedBuffer("h2 only", StandardCharsets.UTF_8), true));
                      }
                    });
                  }
                }));
          }
        })
        .bind(SERVER_IP, 0).sync().channel();
    closing.add(() -> server.close().syncUninterruptibly());
    return ((InetSocketAddress) server.localAddress()).getPort();
  }
}
