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
import io.isthmus.proxy.testing.ReservedPorts;
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
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
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
 * Who may answer for a mesh cluster: a real sidecar dials real mTLS servers whose certificates
 * the mesh CA issued, with the cluster's {@code UpstreamTlsContext} as the controller sends it
 * (pilot's {@code combined_validation_context}: SDS {@code ROOTCA} and the destination's
 * service accounts as {@code match_subject_alt_names}). The server with the service account
 * the cluster names is served; one with another service account of the same mesh is refused
 * with a 503 {@code UF} naming both identities, counted by reason and access-logged, over
 * HTTP and over a TCP proxy alike; a cluster that names none accepts any identity of the mesh.
 */
class UpstreamIdentityLoopbackTest {

  private static final String POD = "127.205.1.1";
  private static final String LOCALHOST = "127.205.2.1";
  private static final String SERVER_IP = "127.205.3.1";
  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String CLUSTER = "outbound|5000||" + HOST;
  private static final String HELLOWORLD = "spiffe://cluster.local/ns/sample/sa/helloworld";
  private static final String OTHER = "spiffe://cluster.local/ns/sample/sa/other";

  @TempDir
  Path dir;
  private final TestPki pki = new TestPki();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private EventLoopGroup serverGroup;
  private SidecarServer sidecar;
  private Path accessLog;
  private final AtomicInteger version = new AtomicInteger();
  private TrustBundle bundle;
  private CertificateAuthority eu;
  private final ReservedPorts ports = new ReservedPorts();

  @BeforeEach
  void start() throws Exception {
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    eu = pki.intermediate("eu");
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
    if (serverGroup != null) {
      serverGroup.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
    ports.close();
  }

  @Test
  void theServiceAccountTheClusterNamesIsServedAnotherIsRefusedWithA503NamingBoth() throws Exception {
    int right = meshServer("helloworld");
    int wrong = meshServer("other");

    apply(right, List.of(HELLOWORLD));
    assertThat(get()).isEqualTo("200 hello from helloworld");

    apply(wrong, List.of(HELLOWORLD));
    RawHttp.Response refused = RawHttp.get(sidecar.outboundAddress(), HOST + ":5000", "/");
    assertThat(refused.status()).isEqualTo(503);
    assertThat(refused.body()).startsWith("upstream connect error or disconnect/reset before headers."
        + " reset reason: connection failure, transport failure reason: TLS_error: CERTIFICATE_VERIFY_FAILED:"
        + " verify SAN list: upstream presented " + OTHER + ", expected one of [" + HELLOWORLD + "]");
    assertThat(failures("fail_verify_san")).isPositive();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(Files.readAllLines(accessLog))
        .anySatisfy(line -> assertThat(line).contains("\"response_code\":503")
            .containsPattern("\"response_flags\":\"(UF|URX)\"")
            .contains("\"upstream_cluster\":\"" + CLUSTER + "\"")
            .contains("upstream presented " + OTHER)));

    // Either of several identities (the service's accounts in every cluster) is accepted.
    apply(wrong, List.of(HELLOWORLD, OTHER));
    assertThat(get()).isEqualTo("200 hello from other");
  }

  @Test
  void aClusterThatNamesNoIdentityAcceptsAnyOfTheMesh() throws Exception {
    apply(meshServer("other"), List.of());
    assertThat(get()).isEqualTo("200 hello from other");
    assertThat(failures("fail_verify_san")).isZero();
  }

  @Test
  void aTcpProxyRefusesTheWrongIdentityBeforeAnyByteReachesIt() throws Exception {
    int wrong = meshServer("other");
    int right = meshServer("helloworld");
    // Held until the sidecar binds it: a probed and released port could be given to another.
    int listenerPort = ports.on(LOCALHOST);
    applyTcp(right, listenerPort);
    await().atMost(Duration.ofSeconds(30)).until(() -> sidecar.outboundTcpPorts().contains(listenerPort));
    assertThat(tcpGet(listenerPort)).startsWith("HTTP/1.1 200").endsWith("hello from helloworld");

    applyTcp(wrong, listenerPort);
    assertThat(tcpGet(listenerPort)).isEmpty();
    // Counted on the relay's failure path: nothing orders it before the client's close.
    await().atMost(Duration.ofSeconds(30)).until(() -> failures("fail_verify_san") > 0);
  }

  private double failures(String reason) {
    return sidecar.metrics().count("isthmus_upstream_tls_handshake_failures", "cluster", CLUSTER,
        "reason", reason);
  }

  private String get() throws IOException {
    RawHttp.Response response = RawHttp.get(sidecar.outboundAddress(), HOST + ":5000", "/");
    return response.status() + " " + response.body();
  }

  /** One HTTP/1.1 request through the TCP proxy; what came back before the connection closed. */
  private String tcpGet(int listenerPort) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LOCALHOST, listenerPort), 10_000);
      socket.setSoTimeout(20_000);
      socket.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + HOST + "\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      InputStream in = socket.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    } catch (java.net.SocketException reset) {
      return "";
    }
  }

  /** The mesh's mTLS as the controller sends it, asking for {@code identities} (none: any). */
  @SuppressWarnings("deprecation")
  private static Cluster cluster(List<String> identities) {
    CommonTlsContext.Builder common = CommonTlsContext.newBuilder()
        .addAlpnProtocols("http/1.1")
        .addTlsCertificateSdsSecretConfigs(SdsSecretConfig.newBuilder().setName("default"));
    if (identities.isEmpty()) {
      common.setValidationContextSdsSecretConfig(SdsSecretConfig.newBuilder().setName("ROOTCA"));
    } else {
      CertificateValidationContext.Builder match = CertificateValidationContext.newBuilder();
      identities.forEach(id -> match.addMatchSubjectAltNames(StringMatcher.newBuilder().setExact(id)));
      common.setCombinedValidationContext(CommonTlsContext.CombinedCertificateValidationContext.newBuilder()
          .setDefaultValidationContext(match)
          .setValidationContextSdsSecretConfig(SdsSecretConfig.newBuilder().setName("ROOTCA")));
    }
    return MeshResources.outboundCluster(5000, HOST).toBuilder()
        .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
            .setTypedConfig(Any.pack(UpstreamTlsContext.newBuilder()
                .setSni(MeshResources.sni(5000, HOST)).setCommonTlsContext(common).build())))
        .build();
  }

  private void apply(int port, List<String> identities) {
    String v = Integer.toString(version.incrementAndGet());
    sidecar.apply(new XdsSnapshot(Map.of(CLUSTER, cluster(identities)),
        Map.of(CLUSTER, MeshResources.endpoints(CLUSTER, "us-east",
            new MeshResources.Ep(SERVER_IP, port, 1, "eu", false))),
        Map.of("0.0.0.0_5000", MeshResources.outboundListener(5000)),
        Map.of("5000", MeshResources.routes(5000, HOST)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, v, XdsResourceType.LISTENER, v)));
  }

  private void applyTcp(int port, int listenerPort) {
    String v = Integer.toString(version.incrementAndGet());
    sidecar.apply(new XdsSnapshot(Map.of(CLUSTER, cluster(List.of(HELLOWORLD))),
        Map.of(CLUSTER, MeshResources.endpoints(CLUSTER, "us-east",
            new MeshResources.Ep(SERVER_IP, port, 1, "eu", false))),
        Map.of("0.0.0.0_" + listenerPort, MeshResources.outboundTcpListener(listenerPort, CLUSTER)),
        Map.of(), Map.of(),
        Map.of(XdsResourceType.CLUSTER, v, XdsResourceType.LISTENER, v)));
  }

  /**
   * A workload's mTLS server, as its sidecar's inbound side: a certificate for
   * {@code sample/<serviceAccount>} from the mesh CA (eu's intermediate), client certificates
   * required, answering every request with its service account.
   */
  private int meshServer(String serviceAccount) throws InterruptedException {
    WorkloadCertificate cert = pki.leaf(eu, "sample", serviceAccount);
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, registry);
    Channel server = new ServerBootstrap()
        .group(serverGroup)
        .channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(tls.inboundServer().newHandler(ch.alloc()), new HttpServerCodec(),
                new HttpObjectAggregator(8192), new SimpleChannelInboundHandler<FullHttpRequest>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
                    var response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                        Unpooled.copiedBuffer("hello from " + serviceAccount, StandardCharsets.UTF_8));
                    response.headers().set(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes());
                    ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
                  }
                });
          }
        })
        .bind(SERVER_IP, 0).sync().channel();
    return ((InetSocketAddress) server.localAddress()).getPort();
  }
}
