package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.proxy.xds.XdsSnapshot;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The outbound handler on a real loopback socket in front of a scripted upstream: retries on
 * a 503-then-200 upstream, timeouts, circuit-breaker overflow, rewrites with header
 * operations and mirroring, and a redirect.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ResilienceLoopbackTest {

  /** One request the upstream saw. */
  record Seen(String method, String path, Map<String, String> headers) {}

  /** An upstream whose answer depends on the path; it records every request. */
  static final class ScriptedApp implements AutoCloseable {
    final HttpServer server;
    final ExecutorService executor = Executors.newFixedThreadPool(8);
    final List<Seen> seen = new CopyOnWriteArrayList<>();
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    final CountDownLatch hold = new CountDownLatch(1);

    final boolean sick;

    ScriptedApp(boolean sick) throws IOException {
      this.sick = sick;
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 32);
      server.setExecutor(executor);
      server.createContext("/", this::handle);
      server.start();
    }

    int port() {
      return server.getAddress().getPort();
    }

    private void handle(HttpExchange exchange) throws IOException {
      String path = exchange.getRequestURI().toString();
      Map<String, String> headers = new ConcurrentHashMap<>();
      exchange.getRequestHeaders().forEach((k, v) ->
          headers.put(k.toLowerCase(java.util.Locale.ROOT), String.join(",", v)));
      exchange.getRequestBody().readAllBytes();
      seen.add(new Seen(exchange.getRequestMethod(), path, headers));
      int call = calls.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
      int status = 200;
      String body = "ok " + path + " call " + call;
      try {
        if (path.startsWith("/flaky") && call == 1) {
          status = 503;
        } else if (path.startsWith("/sick") && sick) {
          status = 503;
        } else if (path.startsWith("/broken")) {
          status = 503;
        } else if (path.startsWith("/slow")) {
          Thread.sleep(3_000);
        } else if (path.startsWith("/hold")) {
          hold.await(20, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(status, bytes.length);
      exchange.getResponseBody().write(bytes);
      exchange.close();
    }

    List<Seen> seen(String prefix) {
      return seen.stream().filter(s -> s.path().startsWith(prefix)).toList();
    }

    @Override
    public void close() {
      hold.countDown();
      server.stop(0);
      executor.shutdownNow();
    }
  }

  private ScriptedApp app;
  private ScriptedApp shadow;
  private java.net.ServerSocket closer;
  private Thread closerThread;
  private final AtomicInteger closerConnections = new AtomicInteger();

  /**
   * An upstream that answers the first request on its first connection with keep-alive,
   * then closes that connection when the next request arrives on it (as when an idle
   * timeout races a new request), and answers normally on every later connection.
   */
  private void startCloser() throws IOException {
    closer = new java.net.ServerSocket(0, 16, java.net.InetAddress.getByName("127.0.0.1"));
    closerThread = new Thread(() -> {
      while (!closer.isClosed()) {
        try (Socket socket = closer.accept()) {
          int connection = closerConnections.incrementAndGet();
          var in = new java.io.BufferedReader(new java.io.InputStreamReader(
              socket.getInputStream(), StandardCharsets.ISO_8859_1));
          for (int request = 1; ; request++) {
            String line;
            while ((line = in.readLine()) != null && !line.isEmpty()) {
              // headers of the request
            }
            if (line == null || (connection == 1 && request == 2)) {
              break;
            }
            String body = "conn " + connection;
            socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: "
                + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
          }
        } catch (IOException e) {
          // closed by the test, or the proxy went away
        }
      }
    }, "closer-upstream");
    closerThread.setDaemon(true);
    closerThread.start();
  }
  private EventLoopGroup group;
  private Channel listener;
  private final ProxyMetrics metrics = new ProxyMetrics();

  private static Cluster staticCluster(String name, int port, Cluster.Builder extra) {
    return extra.setName(name).setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(port)))))))
        .build();
  }

  private Cluster pairCluster() {
    Cluster one = staticCluster("pair", app.port(), Cluster.newBuilder());
    Cluster.Builder both = one.toBuilder();
    both.getLoadAssignmentBuilder().getEndpointsBuilder(0).addLbEndpoints(
        one.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).toBuilder()
            .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                    .setPortValue(shadow.port())))));
    return both.build();
  }

  private static Route route(String prefix, RouteAction.Builder action) {
    return Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix(prefix))
        .setRoute(action).build();
  }

  private static com.google.protobuf.Duration millis(long ms) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(ms / 1000)
        .setNanos((int) (ms % 1000) * 1_000_000).build();
  }

  private static HeaderValueOption header(String name, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value)).build();
  }

  @BeforeAll
  void start() throws Exception {
    app = new ScriptedApp(true);
    shadow = new ScriptedApp(false);
    startCloser();
    RetryPolicy retry5xx = RetryPolicy.newBuilder().setRetryOn("5xx")
        .setNumRetries(UInt32Value.of(2))
        .addRetryHostPredicate(io.isthmus.proxy.testing.MeshResources.previousHosts()).build();
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(route("/flaky", RouteAction.newBuilder().setCluster("app")
                .setRetryPolicy(retry5xx)))
            .addRoutes(route("/sick", RouteAction.newBuilder().setCluster("pair")
                .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("retriable-status-codes")
                    .addRetriableStatusCodes(503).setNumRetries(UInt32Value.of(1))
                    .addRetryHostPredicate(io.isthmus.proxy.testing.MeshResources
                        .previousHosts()))))
            .addRoutes(route("/stale", RouteAction.newBuilder().setCluster("closer")))
            .addRoutes(route("/broken", RouteAction.newBuilder().setCluster("app")
                .setRetryPolicy(retry5xx)))
            .addRoutes(route("/slow-try", RouteAction.newBuilder().setCluster("app")
                .setTimeout(millis(20_000))
                .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("gateway-error")
                    .setNumRetries(UInt32Value.of(1)).setPerTryTimeout(millis(300)))))
            .addRoutes(route("/slow", RouteAction.newBuilder().setCluster("app")
                .setTimeout(millis(500))))
            .addRoutes(route("/hold", RouteAction.newBuilder().setCluster("tight")))
            .addRoutes(route("/api", RouteAction.newBuilder().setCluster("app")
                .setPrefixRewrite("/v2").setHostRewriteLiteral("rewritten.local")
                .addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder()
                    .setCluster("shadow")))
                .toBuilder()
                .addRequestHeadersToAdd(header("x-added", "yes"))
                .addRequestHeadersToRemove("x-drop")
                .addResponseHeadersToAdd(header("x-served-by", "isthmus"))
                .build())
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/moved"))
                .setRedirect(RedirectAction.newBuilder().setHostRedirect("elsewhere.local")
                    .setPathRedirect("/here")
                    .setResponseCode(RedirectAction.RedirectResponseCode.TEMPORARY_REDIRECT))))
        .build();
    Map<String, Cluster> clusters = Map.of(
        "app", staticCluster("app", app.port(), Cluster.newBuilder()),
        "shadow", staticCluster("shadow", shadow.port(), Cluster.newBuilder()),
        "pair", pairCluster(),
        "closer", staticCluster("closer", closer.getLocalPort(), Cluster.newBuilder()),
        "tight", staticCluster("tight", app.port(), Cluster.newBuilder().setCircuitBreakers(
            CircuitBreakers.newBuilder().addThresholds(CircuitBreakers.Thresholds.newBuilder()
                .setMaxRequests(UInt32Value.of(1))))));
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(clusters, Map.of(), Map.of(),
        Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(5));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    group = Transports.newGroup(1, "resilience-test");
    listener = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                new OutboundHandler(() -> config, tls, relay, metrics,
                    new WorkloadInfo("curl", "sample", "west"), runtimes));
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  @AfterAll
  void stop() {
    if (listener != null) {
      listener.close().syncUninterruptibly();
    }
    if (group != null) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    app.close();
    shadow.close();
    try {
      closer.close();
      closerThread.join(5_000);
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  record Response(int status, Map<String, String> headers, String body) {}

  private Response call(String method, String path, String... headers) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(listener.localAddress(), 10_000);
      socket.setSoTimeout(30_000);
      StringBuilder request = new StringBuilder(method + " " + path + " HTTP/1.1\r\n"
          + "Host: svc\r\nConnection: close\r\nContent-Length: 0\r\n");
      for (int i = 0; i < headers.length; i += 2) {
        request.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
      }
      socket.getOutputStream().write((request + "\r\n").getBytes(StandardCharsets.US_ASCII));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      socket.getInputStream().transferTo(out);
      String text = out.toString(StandardCharsets.ISO_8859_1);
      int end = text.indexOf("\r\n\r\n");
      String[] lines = text.substring(0, end).split("\r\n");
      Map<String, String> parsed = new ConcurrentHashMap<>();
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        parsed.put(lines[i].substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT),
            lines[i].substring(colon + 1).trim());
      }
      return new Response(Integer.parseInt(lines[0].split(" ")[1]), parsed,
          text.substring(end + 4));
    }
  }

  private double count(String code, String flags) {
    return metrics.count("istio_requests", "response_code", code, "response_flags", flags);
  }

  @Test
  void a503IsRetriedAndTheClientSeesTheSecondAnswer() throws Exception {
    Response response = call("GET", "/flaky/get");
    assertThat(response.status()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("ok /flaky/get call 2");
    assertThat(app.seen("/flaky/get")).hasSize(2);
  }

  @Test
  void aRetryGoesToAnotherEndpointWhenThereIsOne() throws Exception {
    for (int i = 0; i < 4; i++) {
      Response response = call("GET", "/sick/" + i);
      assertThat(response.status()).isEqualTo(200);
      assertThat(shadow.seen("/sick/" + i)).hasSize(1);
    }
    // Some first tries hit the sick host (one retry allowed); each retry left it.
    assertThat(app.seen("/sick")).isNotEmpty();
  }

  @Test
  void aPooledConnectionClosedUnderARequestIsReplacedWithoutFailingIt() throws Exception {
    assertThat(call("GET", "/stale/1").body()).isEqualTo("conn 1");
    // The pooled connection is closed when this request arrives on it.
    Response second = call("GET", "/stale/2");
    assertThat(second.status()).isEqualTo(200);
    assertThat(second.body()).isEqualTo("conn 2");
  }

  @Test
  void aNonIdempotentRequestIsNotReplayedAfterAnAnswer() throws Exception {
    Response response = call("POST", "/flaky/post");
    assertThat(response.status()).isEqualTo(503);
    assertThat(app.seen("/flaky/post")).hasSize(1);
  }

  @Test
  void retriesStopAtNumRetriesAndAreFlaggedURX() throws Exception {
    double before = count("503", "URX");
    Response response = call("GET", "/broken");
    assertThat(response.status()).isEqualTo(503);
    assertThat(app.seen("/broken")).hasSize(3);
    // Counted on the proxy's loop: awaited, as nothing orders it before the answer.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(count("503", "URX")).isEqualTo(before + 1));
  }

  @Test
  void aSlowUpstreamAnswers504AfterTheRouteTimeout() throws Exception {
    double before = count("504", "UT");
    Response response = call("GET", "/slow");
    assertThat(response.status()).isEqualTo(504);
    assertThat(response.body()).isEqualTo("upstream request timeout\n");
    // Counted on the proxy's loop: awaited, as nothing orders it before the answer.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(count("504", "UT")).isEqualTo(before + 1));
  }

  @Test
  void eachTryHasItsOwnTimeoutAndTimedOutTriesAreRetried() throws Exception {
    Response response = call("GET", "/slow-try");
    assertThat(response.status()).isEqualTo(504);
    // Both tries reached the upstream: the first timed out and was retried.
    await().atMost(Duration.ofSeconds(30)).until(() -> app.seen("/slow-try").size() == 2);
  }

  @Test
  void requestsBeyondMaxRequestsOverflowWith503UO() throws Exception {
    ExecutorService client = Executors.newSingleThreadExecutor();
    try {
      Future<Response> held = client.submit(() -> call("GET", "/hold/1"));
      await().atMost(Duration.ofSeconds(30)).until(() -> !app.seen("/hold/1").isEmpty());
      double before = count("503", "UO");

      Response overflow = call("GET", "/hold/2");

      assertThat(overflow.status()).isEqualTo(503);
      assertThat(overflow.body()).contains("overflow");
      // Counted on the proxy's loop: awaited, as nothing orders it before the answer.
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
          assertThat(count("503", "UO")).isEqualTo(before + 1));
      assertThat(app.seen("/hold/2")).isEmpty();
      app.hold.countDown();
      assertThat(held.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
      // The slot is free again once the first request is done.
      assertThat(call("GET", "/hold/3").status()).isEqualTo(200);
    } finally {
      client.shutdownNow();
    }
  }

  @Test
  void rewritesHeaderOperationsAndAMirroredCopy() throws Exception {
    Response response = call("GET", "/api/users?id=7", "x-drop", "secret");

    assertThat(response.status()).isEqualTo(200);
    assertThat(response.headers()).containsEntry("x-served-by", "isthmus");
    Seen seen = app.seen("/v2/users").get(0);
    assertThat(seen.path()).isEqualTo("/v2/users?id=7");
    assertThat(seen.headers()).containsEntry("host", "rewritten.local")
        .containsEntry("x-added", "yes").containsEntry("x-envoy-original-path", "/api/users?id=7")
        .doesNotContainKey("x-drop");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(shadow.seen("/v2/users")).singleElement().satisfies(copy ->
            assertThat(copy.headers()).containsEntry("host", "rewritten.local-shadow")));
  }

  @Test
  void aRedirectRouteNeverReachesTheUpstream() throws Exception {
    Response response = call("GET", "/moved/x");
    assertThat(response.status()).isEqualTo(307);
    assertThat(response.headers()).containsEntry("location", "http://elsewhere.local/here");
    assertThat(app.seen("/moved")).isEmpty();
  }
}
