package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import com.google.protobuf.UInt32Value;
import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A real sidecar limits what reaches its app by the inbound cluster's circuit breakers and
 * connection options (Istio's Sidecar {@code inboundConnectionPool}, {@code ingress[].connectionPool}
 * and a DestinationRule's {@code connectionPool} translate to them), as Envoy does: with N requests
 * held by a slow app, the next one is answered {@code 503} with flag {@code UO} without reaching the
 * app and counted, and the slots come back once the requests finish. Plain loopback sockets in
 * 127.228.x, one event loop so that pooled app connections are deterministic.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InboundConnectionPoolSidecarTest {

  private static final String POD_IP = "127.228.1.1";
  private static final String LOCALHOST = "127.228.2.1";
  private static final String BIND = "127.228.2.9";
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  static Path dir;

  private final ReservedPorts ports = new ReservedPorts();
  private SlowApp app;
  private HoldingTcpApp tcpApp;
  private Sidecar sidecar;
  private ExecutorService clients;
  private int maxRequestsPort;
  private int maxConnectionsPort;
  private int perConnectionPort;
  private int tcpPort;

  @BeforeAll
  void start() throws Exception {
    app = new SlowApp(LOCALHOST);
    tcpApp = new HoldingTcpApp(LOCALHOST);
    clients = Executors.newCachedThreadPool();
    maxRequestsPort = ports.on(BIND);
    maxConnectionsPort = ports.on(BIND);
    perConnectionPort = ports.on(BIND);
    tcpPort = ports.on(BIND);
    List<Message> resources = new ArrayList<>();
    // http2MaxRequests: 2 → max_requests 2; the rest Istio's "unlimited".
    resources.add(inboundCluster(maxRequestsPort, thresholds(0xFFFFFFFFL, 0xFFFFFFFFL, 2), null));
    resources.add(inboundListener(maxRequestsPort));
    // tcp.maxConnections: 2 (HTTP/1.1: a connection per request in flight). A request waiting
    // for its connection to open is pending: those are left unlimited.
    resources.add(inboundCluster(maxConnectionsPort, thresholds(2, 0xFFFFFFFFL, 0xFFFFFFFFL),
        null));
    resources.add(inboundListener(maxConnectionsPort));
    // http.maxRequestsPerConnection: 1 → a fresh app connection for each request.
    resources.add(inboundCluster(perConnectionPort, null,
        HttpProtocolOptions.newBuilder().setMaxRequestsPerConnection(UInt32Value.of(1)).build()));
    resources.add(inboundListener(perConnectionPort));
    // A TCP port (tcp_proxy): tcp.maxConnections 1.
    resources.add(inboundCluster(tcpPort, thresholds(1, 0xFFFFFFFFL, 0xFFFFFFFFL), null)
        .toBuilder().setLoadAssignment(ClusterLoadAssignment.newBuilder()
            .setClusterName("inbound|" + tcpPort + "||")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(tcpApp.port()))))))).build());
    resources.add(inboundTcpListener(tcpPort));
    Path config = Files.writeString(dir.resolve("pod.json"), XdsStaticConfig.render(resources));
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "server");
    Path root = Files.writeString(dir.resolve("root.pem"), pki.rootPem());
    Path chain = Files.writeString(dir.resolve("chain.pem"), cert.chainPem());
    Path key = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs("--pod-ip", POD_IP, "--localhost", LOCALHOST,
        "--pod-name", "server-v1-abc", "--namespace", "sample", "--service-account", "server",
        "--cluster", "east", "--network", "net1", "--labels", "app=server",
        "--root-cert", root.toString(), "--static-config", config.toString(),
        "--cert-chain", chain.toString(), "--key", key.toString(), "--concurrency", "1",
        "--admin-port", "0", "--health-port", "0", "--stats-port", "0", "--outbound-port", "0");
    sidecar = Sidecar.startStatic(main.flags.toOptions(null),
        main.flags.staticBootstrap().orElseThrow());
    await().atMost(WAIT).until(() -> sidecar.inboundPorts().containsAll(
        List.of(maxRequestsPort, maxConnectionsPort, perConnectionPort, tcpPort)));
  }

  @AfterAll
  void stop() throws IOException {
    if (app != null) {
      app.releaseAll();
    }
    if (clients != null) {
      clients.shutdownNow();
    }
    if (sidecar != null) {
      sidecar.close();
    }
    if (app != null) {
      app.close();
    }
    if (tcpApp != null) {
      tcpApp.close();
    }
    ports.close();
  }

  @Test
  void aTcpConnectionOverMaxConnectionsIsClosedAndTheSlotComesBack() throws Exception {
    String cluster = "inbound|" + tcpPort + "||";
    double overflowsBefore = overflows(cluster, "max_connections");
    try (Socket held = tcpConnect()) {
      assertThat(firstLine(held)).as("the first connection reaches the app").isEqualTo("hello");
      try (Socket refused = tcpConnect()) {
        // Closed by the sidecar without reaching the app: end of stream (or a reset), no greeting.
        assertThat(firstLine(refused)).isNull();
      }
      assertThat(tcpApp.accepted.get()).isEqualTo(1);
      await().atMost(WAIT).until(() -> overflows(cluster, "max_connections") > overflowsBefore);
    }
    // The held connection's slot is given back once its upstream closes.
    await().atMost(WAIT).until(() -> {
      try (Socket again = tcpConnect()) {
        return "hello".equals(firstLine(again));
      }
    });
  }

  private Socket tcpConnect() throws IOException {
    Socket socket = new Socket();
    socket.connect(new InetSocketAddress(BIND, tcpPort), 5000);
    socket.setSoTimeout(20_000);
    return socket;
  }

  /**
   * Says hello (the sidecar tells plaintext from TLS by the client's first bytes) and returns the
   * app's greeting, or null when the connection ends (or is reset) first.
   */
  private static String firstLine(Socket socket) throws IOException {
    try {
      socket.getOutputStream().write("hi\n".getBytes(StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      return new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
          StandardCharsets.US_ASCII)).readLine();
    } catch (java.net.SocketException reset) {
      return null;
    }
  }

  /**
   * Istio's inbound listener for a TCP ingress with captureMode NONE under PeerAuthentication
   * PERMISSIVE: a {@code tcp_proxy} chain for mTLS and one for plaintext (the test's client).
   */
  private static Listener inboundTcpListener(int port) {
    String cluster = "inbound|" + port + "||";
    Listener.Builder listener = Listener.newBuilder().setName(BIND + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(BIND).setPortValue(port)))
        .setTrafficDirection(TrafficDirection.INBOUND)
        .setBindToPort(BoolValue.of(true));
    for (String transport : List.of("tls", "raw_buffer")) {
      listener.addFilterChains(FilterChain.newBuilder().setName(cluster)
          .setFilterChainMatch(FilterChainMatch.newBuilder()
              .setDestinationPort(UInt32Value.of(port))
              .setTransportProtocol(transport))
          .addFilters(Filter.newBuilder().setName("envoy.filters.network.tcp_proxy")
              .setTypedConfig(Any.pack(
                  io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.newBuilder()
                      .setStatPrefix(cluster).setCluster(cluster).build()))));
    }
    return listener.build();
  }

  /**
   * A server-first TCP app: greets each connection with {@code hello} and holds it open until the
   * client closes its side.
   */
  private static final class HoldingTcpApp implements AutoCloseable {
    private final java.net.ServerSocket server;
    private final List<Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
    final AtomicInteger accepted = new AtomicInteger();

    HoldingTcpApp(String address) throws IOException {
      server = new java.net.ServerSocket(0, 16, java.net.InetAddress.getByName(address));
      Thread acceptor = new Thread(() -> {
        while (!server.isClosed()) {
          try {
            Socket socket = server.accept();
            accepted.incrementAndGet();
            held.add(socket);
            socket.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            // Closes its side when the client's ends (the sidecar relays a half-close as such).
            Thread reader = new Thread(() -> {
              try (socket) {
                while (socket.getInputStream().read() >= 0) {
                  // discard
                }
              } catch (IOException closed) {
                // reset or closed: done either way
              }
            }, "inbound-pool-tcp-conn");
            reader.setDaemon(true);
            reader.start();
          } catch (IOException e) {
            return;
          }
        }
      }, "inbound-pool-tcp-app");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
      server.close();
      for (Socket socket : held) {
        socket.close();
      }
    }
  }

  @Test
  void theRequestOverMaxRequestsIsAnswered503UoAndTheSlotsComeBack() throws Exception {
    assertOverflowThenRecovery(maxRequestsPort, "max_requests");
  }

  @Test
  void theConnectionOverMaxConnectionsIsAnswered503UoAndTheSlotsComeBack() throws Exception {
    assertOverflowThenRecovery(maxConnectionsPort, "max_connections");
  }

  @Test
  void maxRequestsPerConnectionOpensAFreshAppConnectionPerRequest() throws Exception {
    app.open();
    try {
      Set<Integer> before = Set.copyOf(app.peerPorts);
      for (int i = 0; i < 3; i++) {
        assertThat(exchange(perConnectionPort, "/one-per-connection")).startsWith("HTTP/1.1 200");
      }
      Set<Integer> used = new java.util.HashSet<>(app.peerPorts);
      used.removeAll(before);
      // Each request came on its own connection from the sidecar, none reused.
      assertThat(used).hasSize(3);
    } finally {
      app.hold();
    }
  }

  /**
   * Two requests held by the app fill the limit; the third is refused by the sidecar itself (the
   * app never sees it), counted under {@code limit}; once the two finish, requests pass again.
   */
  private void assertOverflowThenRecovery(int port, String limit) throws Exception {
    String cluster = "inbound|" + port + "||";
    double overflowsBefore = overflows(cluster, limit);
    int arrivedBefore = app.arrived.get();
    List<Future<String>> held = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      held.add(clients.submit(() -> exchange(port, "/held")));
    }
    await().atMost(WAIT).until(() -> app.arrived.get() == arrivedBefore + 2);

    String refused = exchange(port, "/refused");
    assertThat(refused).startsWith("HTTP/1.1 503")
        .contains("reset reason: overflow");
    assertThat(app.arrived.get()).as("the refused request never reaches the app")
        .isEqualTo(arrivedBefore + 2);
    await().atMost(WAIT).until(() -> overflows(cluster, limit) > overflowsBefore);
    await().atMost(WAIT).until(() -> scrape().lines().anyMatch(line ->
        line.startsWith("istio_requests_total{") && line.contains("response_flags=\"UO\"")
            && line.contains("reporter=\"destination\"")));

    app.open();
    try {
      for (Future<String> f : held) {
        assertThat(f.get(30, TimeUnit.SECONDS)).startsWith("HTTP/1.1 200");
      }
      // The slots are given back when the exchanges end, just after the responses went out.
      await().atMost(WAIT).until(() -> exchange(port, "/after").startsWith("HTTP/1.1 200"));
      // And all of them: two at once pass again.
      List<Future<String>> again = List.of(clients.submit(() -> exchange(port, "/again")),
          clients.submit(() -> exchange(port, "/again")));
      for (Future<String> f : again) {
        assertThat(f.get(30, TimeUnit.SECONDS)).startsWith("HTTP/1.1 200");
      }
    } finally {
      app.hold();
    }
  }

  private double overflows(String cluster, String limit) throws IOException {
    double sum = 0;
    for (String line : scrape().split("\n")) {
      if (line.startsWith("isthmus_upstream_overflow_total{")
          && line.contains("cluster=\"" + cluster + "\"")
          && line.contains("limit=\"" + limit + "\"")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  private String scrape() throws IOException {
    return RawHttp.get(sidecar.adminAddress(), "admin", "/stats/prometheus").body();
  }

  private static String exchange(int port, String path) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(BIND, port), 5000);
      socket.setSoTimeout(30_000);
      socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: server\r\n"
          + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static CircuitBreakers thresholds(long maxConnections, long maxPending,
      long maxRequests) {
    return CircuitBreakers.newBuilder().addThresholds(CircuitBreakers.Thresholds.newBuilder()
        .setMaxConnections(UInt32Value.of((int) maxConnections))
        .setMaxPendingRequests(UInt32Value.of((int) maxPending))
        .setMaxRequests(UInt32Value.of((int) maxRequests))
        .setMaxRetries(UInt32Value.of(-1))).build();
  }

  /** Istio's inbound listener for an ingress with captureMode NONE: its plaintext HTTP chain. */
  private static Listener inboundListener(int port) {
    String cluster = "inbound|" + port + "||";
    return Listener.newBuilder().setName(BIND + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(BIND).setPortValue(port)))
        .setTrafficDirection(TrafficDirection.INBOUND)
        .addFilterChains(FilterChain.newBuilder().setName(cluster)
            .setFilterChainMatch(FilterChainMatch.newBuilder()
                .setDestinationPort(UInt32Value.of(port))
                .setTransportProtocol("raw_buffer"))
            .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                    .setStatPrefix("inbound_0.0.0.0_" + port)
                    .setRouteConfig(RouteConfiguration.newBuilder().setName(cluster)
                        .addVirtualHosts(VirtualHost.newBuilder().setName("inbound|http|" + port)
                            .addDomains("*")
                            .addRoutes(Route.newBuilder()
                                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                                .setRoute(RouteAction.newBuilder().setCluster(cluster)))))
                    .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                    .build()))))
        .setBindToPort(BoolValue.of(true))
        .build();
  }

  /** {@code inbound|<port>||} to the app on the pod's localhost, with the given limits. */
  private Cluster inboundCluster(int port, CircuitBreakers breakers, HttpProtocolOptions common) {
    String name = "inbound|" + port + "||";
    Cluster.Builder cluster = Cluster.newBuilder().setName(name)
        .setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(app.port())))))));
    if (breakers != null) {
      cluster.setCircuitBreakers(breakers);
    }
    if (common != null) {
      cluster.putTypedExtensionProtocolOptions(
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          Any.pack(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.newBuilder()
              .setCommonHttpProtocolOptions(common)
              .setUseDownstreamProtocolConfig(
                  io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                      .UseDownstreamHttpConfig.getDefaultInstance())
              .build()));
    }
    return cluster.build();
  }

  /**
   * An app that holds each request until {@link #open()}: it counts arrivals and the sidecar's
   * source ports, and answers 200 once open.
   */
  private static final class SlowApp implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService workers = Executors.newCachedThreadPool();
    final AtomicInteger arrived = new AtomicInteger();
    final Set<Integer> peerPorts = ConcurrentHashMap.newKeySet();
    private volatile java.util.concurrent.CountDownLatch gate =
        new java.util.concurrent.CountDownLatch(1);

    SlowApp(String address) throws IOException {
      server = HttpServer.create(new InetSocketAddress(address, 0), 64);
      server.setExecutor(workers);
      server.createContext("/", exchange -> {
        arrived.incrementAndGet();
        peerPorts.add(exchange.getRemoteAddress().getPort());
        try {
          gate.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        byte[] body = "ok\n".getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, body.length);
        exchange.getResponseBody().write(body);
        exchange.close();
      });
      server.start();
    }

    int port() {
      return server.getAddress().getPort();
    }

    /** Lets every held request and every later one through. */
    void open() {
      gate.countDown();
    }

    /** Holds requests again (tests run one after another). */
    void hold() {
      gate = new java.util.concurrent.CountDownLatch(1);
    }

    void releaseAll() {
      gate.countDown();
    }

    @Override
    public void close() {
      server.stop(0);
      workers.shutdownNow();
    }
  }
}
