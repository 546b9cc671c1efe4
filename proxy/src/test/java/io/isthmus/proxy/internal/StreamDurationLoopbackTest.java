package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code max_stream_duration} on the outbound entry, through the real pipeline and relay on
 * loopback with short limits: a route's limit, the connection manager's when the route has none
 * (an explicit zero on the route turns it off), {@code grpc_timeout_header_max} capping a gRPC
 * request's {@code grpc-timeout}; a stream past its limit is answered 504 (408 while its request
 * still comes), or reset when its response has started, as Envoy's connection manager does.
 */
class StreamDurationLoopbackTest {

  private ServerSocket upstream;
  private final ExecutorService upstreamThreads = Executors.newCachedThreadPool();
  private EventLoopGroup group;
  private Channel listener;
  private final ProxyMetrics metrics = new ProxyMetrics();

  private static com.google.protobuf.Duration millis(long ms) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(ms / 1000)
        .setNanos((int) (ms % 1000) * 1_000_000).build();
  }

  private static Route route(String prefix, RouteAction.MaxStreamDuration limit) {
    RouteAction.Builder action = RouteAction.newBuilder().setCluster("app")
        .setTimeout(millis(0));
    if (limit != null) {
      action.setMaxStreamDuration(limit);
    }
    return Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix(prefix))
        .setRoute(action).build();
  }

  @BeforeEach
  void start() throws Exception {
    upstream = new ServerSocket(0, 16, InetAddress.getByName("127.0.0.1"));
    upstreamThreads.execute(this::accept);
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(route("/limited", RouteAction.MaxStreamDuration.newBuilder()
                .setMaxStreamDuration(millis(300)).build()))
            .addRoutes(route("/grpc", RouteAction.MaxStreamDuration.newBuilder()
                .setGrpcTimeoutHeaderMax(millis(200)).build()))
            .addRoutes(route("/unlimited", RouteAction.MaxStreamDuration.newBuilder()
                .setMaxStreamDuration(millis(0)).build()))
            .addRoutes(route("/", null)))
        .build();
    // The connection manager's own limit, for routes that set none.
    Listener outbound = Listener.newBuilder().setName("0.0.0.0_80")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(80)))
        .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
            .setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                .setStatPrefix("outbound_0.0.0.0_80")
                .setRds(Rds.newBuilder().setRouteConfigName("80"))
                .setCommonHttpProtocolOptions(HttpProtocolOptions.newBuilder()
                    .setMaxStreamDuration(millis(400)))
                .build()))))
        .build();
    Cluster cluster = Cluster.newBuilder().setName("app").setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("app")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(upstream.getLocalPort())))))))
        .build();
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("app", cluster),
        Map.of(), Map.of("0.0.0.0_80", outbound), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1", metrics);
    group = Transports.newGroup(1, "stream-duration-test");
    listener = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new BodilessRequests(),
                new RequestGate(), new RequestStreamer(RequestBody.DEFAULT_BUFFER_LIMIT,
                    () -> { }, true),
                new OutboundHandler(() -> config, tls, relay, metrics,
                    new WorkloadInfo("curl", "sample", "west"), runtimes));
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  /**
   * The upstream: reads a request's head; a path ending in {@code /partial} gets the head of a
   * 100-byte response and 5 of its bytes; any other gets nothing. Then it waits for the close.
   */
  private void accept() {
    while (!upstream.isClosed()) {
      try {
        Socket socket = upstream.accept();
        upstreamThreads.execute(() -> {
          try (socket) {
            String head = RawHttp.readHead(socket.getInputStream());
            if (head.split(" ")[1].endsWith("/partial")) {
              socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                  + "hello").getBytes(StandardCharsets.US_ASCII));
              socket.getOutputStream().flush();
            }
            InputStream in = socket.getInputStream();
            while (in.read() >= 0) {
              // until the proxy closes it
            }
          } catch (IOException e) {
            // the proxy reset it
          }
        });
      } catch (IOException e) {
        return;
      }
    }
  }

  @AfterEach
  void stop() throws Exception {
    listener.close().syncUninterruptibly();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    upstream.close();
    upstreamThreads.shutdownNow();
  }

  @Test
  void aRouteLimitAnswers504ToAStreamWithoutResponse() throws Exception {
    long start = System.nanoTime();
    RawHttp.Response response = exchange("GET /limited/hang HTTP/1.1\r\nHost: svc\r\n\r\n");
    long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(response.status()).isEqualTo(504);
    assertThat(response.body()).contains("downstream duration timeout");
    // Upper bounds here only catch a limit that does not apply (a hang, the gRPC client's 10 s):
    // a loaded machine can fire a timer seconds late.
    assertThat(elapsed).isBetween(250L, 8_000L);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(metrics.scrape()).contains("response_flags=\"DT\""));
  }

  @Test
  void aRequestStillSendingItsBodyGets408AndTheClose() throws Exception {
    try (Socket client = connect()) {
      client.getOutputStream().write(("POST /limited/hang HTTP/1.1\r\nHost: svc\r\n"
          + "Content-Length: 10\r\n\r\nhello").getBytes(StandardCharsets.US_ASCII));
      String head = RawHttp.readHead(client.getInputStream());
      assertThat(head).startsWith("HTTP/1.1 408").containsIgnoringCase("connection: close");
    }
  }

  @Test
  void aStreamWhoseResponseStartedIsCutWhenItsTimeIsUp() throws Exception {
    try (Socket client = connect()) {
      client.getOutputStream().write("GET /limited/partial HTTP/1.1\r\nHost: svc\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      long start = System.nanoTime();
      byte[] all = client.getInputStream().readAllBytes();
      long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      String text = new String(all, StandardCharsets.ISO_8859_1);
      // The head and the first bytes came; then the connection closed, the body cut short.
      assertThat(text).startsWith("HTTP/1.1 200").endsWith("\r\n\r\nhello");
      assertThat(elapsed).isBetween(150L, 8_000L);
    }
  }

  @Test
  void grpcTimeoutHeaderMaxCapsTheClientsDeadline() throws Exception {
    long start = System.nanoTime();
    RawHttp.Response response = exchange("POST /grpc/hang HTTP/1.1\r\nHost: svc\r\n"
        + "Content-Type: application/grpc\r\ngrpc-timeout: 10S\r\nContent-Length: 0\r\n\r\n");
    long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    // A trailers-only gRPC answer: DEADLINE_EXCEEDED after the cap, not the client's 10 s.
    assertThat(response.status()).isEqualTo(200);
    assertThat(response.headers()).containsEntry("grpc-status", "4");
    assertThat(elapsed).isBetween(150L, 8_000L);
  }

  @Test
  void theConnectionManagersLimitAppliesWhereTheRouteSetsNone() throws Exception {
    long start = System.nanoTime();
    RawHttp.Response response = exchange("GET /other/hang HTTP/1.1\r\nHost: svc\r\n\r\n");
    long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(response.status()).isEqualTo(504);
    assertThat(elapsed).isBetween(350L, 8_000L);
  }

  @Test
  void aRouteLimitOfZeroTurnsTheConnectionManagersOff() throws Exception {
    try (Socket client = connect()) {
      client.setSoTimeout(1_200);
      client.getOutputStream().write("GET /unlimited/hang HTTP/1.1\r\nHost: svc\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      // Past the connection manager's 400 ms: still waiting for the upstream.
      assertThatThrownBy(() -> client.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class);
    }
  }

  private Socket connect() throws IOException {
    return RawHttp.connect((InetSocketAddress) listener.localAddress(), Duration.ofSeconds(10));
  }

  /** Sends {@code request} and reads the response: its head and Content-Length body. */
  private RawHttp.Response exchange(String request) throws IOException {
    try (Socket client = connect()) {
      client.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      return RawHttp.readResponse(client.getInputStream());
    }
  }
}
