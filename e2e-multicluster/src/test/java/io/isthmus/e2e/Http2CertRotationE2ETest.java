package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 7, point 2: one long-lived HTTP/2 connection between sidecars in different clusters
 * (west, net1 → eu's east-west gateway → eu, net2) stays up across several certificate rotations
 * (on the shared {@link DemoMesh} certificates live 6 s and are renewed at half their remaining
 * lifetime), under a steady stream of h2c requests from the client app: 0 failures, the app's h2c
 * connection never replaced, and the server sidecar accepts no new connection while it runs
 * (established mTLS sessions are not torn down when the certificate behind them changes). The
 * server is this class's own service, {@code h2rotation}, one pod in eu, removed afterwards.
 */
@SharedDemoMesh
@Timeout(value = 7, unit = TimeUnit.MINUTES)
class Http2CertRotationE2ETest {

  private static final Logger log = LoggerFactory.getLogger(Http2CertRotationE2ETest.class);
  // At least three certificates of each sidecar: about six renewals at 6 s certificates.
  private static final Duration STEADY = Duration.ofSeconds(20);
  private static final Pattern NOT_AFTER = Pattern.compile("\"notAfter\"\\s*:\\s*\"([^\"]+)\"");
  private static final Pattern EU = Pattern.compile("\"cluster\"\\s*:\\s*\"eu\"");
  private static final Pattern INBOUND_CONNECTIONS = Pattern.compile(
      "isthmus_inbound_connections_total\\{port=\"5000\"\\} ([0-9.]+)");

  private static final WorkloadSpec SERVER = DemoMesh.server("h2rotation-v1", "eu", "h2rotation", "v1");

  private static DemoMesh demo;
  private static Topology topology;
  private static LocalMesh mesh;
  private static DemoScenario scenario;
  private static final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2)).build();

  @BeforeAll
  static void addTheService(DemoMesh shared) {
    demo = shared;
    mesh = demo.mesh();
    scenario = demo.addServers(demo.fromWest().client(), List.of(SERVER));
    topology = mesh.topology();
  }

  @AfterAll
  static void removeTheService() {
    if (scenario != null) {
      demo.retire(List.of(SERVER));
    }
  }

  @Test
  void oneHttp2ConnectionAcrossClustersOutlivesSeveralCertificateRotationsWithNoFailure()
      throws Exception {
    String clientAdmin = mesh.sidecarAdminUrl(scenario.client());
    String serverAdmin = mesh.sidecarAdminUrl(scenario.servers().get(0));
    String localhost = topology.podLocalhost(scenario.client());
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    try {
      Channel connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                  new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
            }
          })
          .connect(new InetSocketAddress(localhost, LocalMesh.OUTBOUND_PORT),
              new InetSocketAddress(localhost, 0))
          .sync().channel();
      // The first h2 request opens the sidecar-to-sidecar connection; count from there.
      assertThat(send(connection, 0).status().code()).isEqualTo(200);
      double connectionsBefore = inboundConnections(serverAdmin);
      Set<String> clientCerts = new TreeSet<>();
      Set<String> serverCerts = new TreeSet<>();
      List<String> failures = new ArrayList<>();
      int sent = 0;
      Instant end = Instant.now().plus(STEADY);
      while (Instant.now().isBefore(end)) {
        sent++;
        try {
          Answer answer = send(connection, sent);
          if (answer.status().code() != 200 || !EU.matcher(answer.body()).find()) {
            failures.add("request " + sent + ": " + answer.status() + " " + answer.body());
          }
        } catch (Exception e) {
          failures.add("request " + sent + ": " + e);
        }
        if (sent % 5 == 0) {
          clientCerts.add(notAfter(clientAdmin));
          serverCerts.add(notAfter(serverAdmin));
        }
        Thread.sleep(100);
      }
      log.info("{} h2 requests; client certificates {}, server certificates {}", sent,
          clientCerts, serverCerts);

      assertThat(failures).as("failed requests out of %d", sent).isEmpty();
      assertThat(connection.isActive()).as("the app's h2c connection").isTrue();
      assertThat(clientCerts).as("client sidecar certificates seen").hasSizeGreaterThanOrEqualTo(3);
      assertThat(serverCerts).as("server sidecar certificates seen").hasSizeGreaterThanOrEqualTo(3);
      assertThat(inboundConnections(serverAdmin))
          .as("connections the server sidecar accepted on 5000 during the run")
          .isEqualTo(connectionsBefore);
      connection.close().sync();
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private record Answer(io.netty.handler.codec.http.HttpResponseStatus status, String body) {}

  private static Answer send(Channel connection, int n) throws Exception {
    CompletableFuture<Answer> result = new CompletableFuture<>();
    Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection)
        .handler(new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel ch) {
            ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false),
                new HttpObjectAggregator(1 << 20),
                new SimpleChannelInboundHandler<FullHttpResponse>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                    result.complete(new Answer(r.status(),
                        r.content().toString(StandardCharsets.UTF_8)));
                  }

                  @Override
                  public void channelInactive(ChannelHandlerContext ctx) {
                    result.completeExceptionally(new IOException("stream closed"));
                  }
                });
          }
        }).open().sync().getNow();
    DefaultFullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
        HttpMethod.GET, "/h2/" + n, Unpooled.EMPTY_BUFFER);
    request.headers().set(HttpHeaderNames.HOST, scenario.authority());
    stream.writeAndFlush(request);
    try {
      return result.get(5, TimeUnit.SECONDS);
    } finally {
      stream.close();
    }
  }

  private static String notAfter(String adminUrl) throws Exception {
    Matcher m = NOT_AFTER.matcher(get(adminUrl + "/certs"));
    return m.find() ? m.group(1) : "?";
  }

  private static double inboundConnections(String adminUrl) throws Exception {
    Matcher m = INBOUND_CONNECTIONS.matcher(get(adminUrl + "/stats/prometheus"));
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  private static String get(String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5))
        .build(), HttpResponse.BodyHandlers.ofString()).body();
  }
}
