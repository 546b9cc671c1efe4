package io.isthmus.proxy.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.proxy.ProxyMain;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Transparent capture for real, as root: two network namespaces joined by a veth pair, a pod
 * ({@code 10.251.0.2}) with an app, our sidecar and the rules of {@code isthmus-proxy-init}, and
 * a client namespace ({@code 10.251.0.1}) with a plain client and the servers the app calls. Every
 * process is a child started with {@code ip netns exec}; the clients are plain HTTP/1.1 over
 * sockets that know nothing of the mesh. Proves that a client calling the app's port lands in the
 * sidecar (the app sees the sidecar's {@code x-forwarded-client-cert}), that a port with no chain
 * passes through from 127.0.0.6, and that the app's own calls (run as another user, as a real
 * app is) go through the sidecar by original destination: an HTTP service's address that exists
 * nowhere, a TCP service's ClusterIP, and an address outside the mesh (ALLOW_ANY passthrough).
 * Skipped unless root with {@code ip} and {@code iptables}; namespaces and processes are removed
 * after each run, failed or not, and swept before it.
 */
@Timeout(150)
class TransparentCaptureNetnsTest {

  /** A port whose protocol is detected: HTTP by its routes, anything else raw TCP. */
  private static final String LEGACY_VIP = "10.96.0.44";
  private static final String POD_IP = "10.251.0.2";
  private static final String CLIENT_IP = "10.251.0.1";
  /** An HTTP service's address that no interface has: only capture can reach it. */
  private static final String REVIEWS_VIP = "10.96.0.10";
  /** A TLS service's VIP (a VirtualService {@code tls} route's host), likewise nowhere. */
  private static final String TLS_VIP = "10.96.0.70";
  /** A TCP service's ClusterIP, likewise nowhere. */
  private static final String DB_VIP = "10.96.0.33";

  @TempDir
  Path dir;

  /** This run's namespaces: unique names, removed after each test and swept before the first. */
  @RegisterExtension
  final TestNamespaces namespaces = new TestNamespaces();

  private final List<Process> processes = new ArrayList<>();
  private String podNs;
  private String clientNs;

  @BeforeAll
  static void rootWithIpAndIptables() {
    Optional<String> why = unavailable();
    Assumptions.assumeTrue(why.isEmpty(), () -> why.orElse(""));
  }

  @BeforeEach
  void podAndClient() {
    podNs = namespaces.create("p");
    clientNs = namespaces.create("c");
    run("ip", "link", "add", "eth0", "netns", podNs, "type", "veth", "peer", "name", "eth0",
        "netns", clientNs);
    for (String[] ns : new String[][] {{podNs, POD_IP}, {clientNs, CLIENT_IP}}) {
      run("ip", "-n", ns[0], "link", "set", "lo", "up");
      run("ip", "-n", ns[0], "link", "set", "eth0", "up");
      run("ip", "-n", ns[0], "addr", "add", ns[1] + "/24", "dev", "eth0");
    }
    // The service addresses route somewhere, as ClusterIPs do, so the app's connect reaches the
    // nat OUTPUT hook; without capture they lead nowhere.
    run("ip", "-n", podNs, "route", "add", "default", "via", CLIENT_IP);
  }

  @AfterEach
  void cleanUp(org.junit.jupiter.api.TestInfo test) throws IOException {
    // What the kernel saw (rule counters, sockets, conntrack, TCP counters), for a post-mortem.
    StringBuilder diag = new StringBuilder();
    for (String ns : List.of(podNs, clientNs)) {
      for (String[] c : new String[][] {{"iptables-save", "-c"}, {"ss", "-tanoe"},
          {"cat", "/proc/net/nf_conntrack"}, {"nstat", "-az"}, {"ip", "rule"},
          {"ip", "route", "show", "table", "all"}}) {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        command.addAll(List.of(c));
        diag.append("### ").append(ns).append(": ").append(String.join(" ", c)).append('\n')
            .append(Optional.ofNullable(quietly(command.toArray(String[]::new))).orElse("(failed)\n"));
      }
    }
    Files.writeString(dir.resolve("diag.log"), diag);
    for (Process p : processes) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    // The namespaces themselves go in TestNamespaces.afterEach, after this method.
    // The children's logs outlive the temp dir, for a failure's post-mortem.
    Path logs = Path.of("target", "capture-logs", test.getDisplayName().replaceAll("\\W", "_"));
    Files.createDirectories(logs);
    try (var files = Files.list(dir)) {
      for (Path f : files.filter(f -> f.toString().endsWith(".log")).toList()) {
        Files.copy(f, logs.resolve(f.getFileName()),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"REDIRECT", "TPROXY"})
  void inboundAndOutboundTrafficIsCapturedByTheSidecar(String mode) throws Exception {
    Process upstreams = java("upstreams", clientNs, CaptureTestApps.class.getName(),
        CLIENT_IP + ":9090", CLIENT_IP + ":7070");
    Process app = java("app", podNs, CaptureTestApps.class.getName(), "0.0.0.0:8080",
        "0.0.0.0:8081");
    // The app's client runs as nobody, as an app runs as its own user.
    startCapturedSidecar(podConfig(), List.of("-m", mode),
        "--capture", mode.toLowerCase(java.util.Locale.ROOT));
    Agent client = agent("client", clientNs, false);
    Agent appClient = agent("app-client", podNs, true);
    awaitReady(upstreams, "upstreams");
    awaitReady(app, "app");
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
        .until(() -> client.send(POD_IP, 15021, "x", "/healthz/ready").startsWith("HTTP/1.1 200"));

    // Inbound: the client calls the app's port; the sidecar answers it and stamps the request.
    String inbound = client.get(POD_IP, 8080, "app", "/inbound");
    assertThat(inbound).startsWith("HTTP/1.1 200").contains("path: /inbound")
        .contains("x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/app;URI=")
        // The sidecar's own connection to the app (from the pod IP, as without capture; root's,
        // so never captured again).
        .contains("peer: " + POD_IP);
    // A port without a virtualInbound chain: passed through as it is, from 127.0.0.6.
    String passthroughIn = client.get(POD_IP, 8081, "app", "/passthrough");
    assertThat(passthroughIn).startsWith("HTTP/1.1 200").contains("peer: 127.0.0.6")
        .doesNotContain("x-forwarded-client-cert");

    // Outbound HTTP: an address that exists nowhere, port 9090 → route config 9090 → upstream.
    String http = appClient.get(REVIEWS_VIP, 9090, "reviews", "/outbound");
    assertThat(http).startsWith("HTTP/1.1 200").contains("path: /outbound")
        .contains("x-request-id: ").contains("peer: " + POD_IP);
    // Outbound TCP: the ClusterIP's own listener relays the bytes to its cluster's endpoint.
    String tcp = appClient.get(DB_VIP, 3306, "db", "/tcp");
    assertThat(tcp).startsWith("HTTP/1.1 200").contains("path: /tcp")
        .doesNotContain("x-request-id");
    // Outside the mesh, ALLOW_ANY: relayed to where it was going.
    String out = appClient.get(CLIENT_IP, 7070, "example.com", "/passthrough");
    assertThat(out).startsWith("HTTP/1.1 200").contains("path: /passthrough")
        .doesNotContain("x-request-id");
    // A connection to the capture port itself would loop: closed, its request unread (a reset).
    assertThat(client.send(POD_IP, 15006, "x", "/"))
        .matches(r -> r.isEmpty() || r.equals("ERROR java.net.SocketException: Connection reset"));

    String stats = client.get(POD_IP, 15020, "x", "/stats/prometheus");
    assertThat(stats)
        .contains("isthmus_capture_connections_total{decision=\"chain\",direction=\"inbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"passthrough\",direction=\"inbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"http\",direction=\"outbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"tcp\",direction=\"outbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"passthrough\",direction=\"outbound\"}")
        // TPROXY keeps 15006 as the local address: virtualInbound's blackhole. REDIRECT to the
        // port it came for leaves the NAT entry's original equal to the local address: a direct
        // connection, no original destination.
        .contains(mode.equals("TPROXY")
            ? "isthmus_capture_connections_total{decision=\"blackhole\",direction=\"inbound\"}"
            : "isthmus_capture_no_original_destination_total{listener=\"inbound\"}");
  }

  /**
   * DNS capture ({@code --redirect-dns}, {@code --dns-capture}): the pod's resolv.conf names a
   * resolver in the client namespace; the app (as nobody) resolves a mesh name through the
   * sidecar's DNS proxy, by its full name and its short name (the resolver's search list and
   * {@code ndots:5} go through the CNAME shortcut), connects to the VIP it got and is served; a
   * name outside the mesh is forwarded to the resolver by the sidecar itself, whose own query is
   * not captured (it reaches the resolver), and the app's connection to the answer passes through.
   */
  @org.junit.jupiter.api.Test
  void theAppResolvesMeshNamesThroughTheSidecarAndConnectsByVip() throws Exception {
    Path netnsDir = Path.of("/etc/netns", podNs);
    Files.createDirectories(netnsDir);
    // ip netns exec bind-mounts this over /etc/resolv.conf for every process in the namespace.
    Files.writeString(netnsDir.resolve("resolv.conf"), "search sample.svc.cluster.local"
        + " svc.cluster.local cluster.local\nnameserver " + CLIENT_IP + "\noptions ndots:5\n");
    List<Message> resources = new ArrayList<>(podConfig());
    resources.add(io.isthmus.trust.nds.NameTable.newBuilder()
        .putTable("helloworld.sample.svc.cluster.local", io.isthmus.trust.nds.NameTable.NameInfo
            .newBuilder().addIps(REVIEWS_VIP).setRegistry("Kubernetes").setShortname("helloworld")
            .setNamespace("sample").build())
        .build());

    Process upstreams = java("upstreams", clientNs, CaptureTestApps.class.getName(),
        CLIENT_IP + ":9090", CLIENT_IP + ":7070");
    Process resolver = java("resolver", clientNs,
        io.isthmus.proxy.testing.FakeDnsServer.class.getName(), CLIENT_IP, "53",
        "outside.example=" + CLIENT_IP);
    startCapturedSidecar(resources, List.of("--redirect-dns"), "--capture", "redirect",
        "--dns-capture");
    Agent appClient = agent("app-client", podNs, true);
    awaitReady(upstreams, "upstreams");
    awaitReady(resolver, "resolver");
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
        .until(() -> log("sidecar").contains("DNS name table: 1 hosts"));

    // The full name and the short one: both the VIP, captured there and routed by Host.
    for (String name : List.of("helloworld.sample.svc.cluster.local", "helloworld")) {
      String response = appClient.get(name, 9090, "helloworld", "/dns");
      assertThat(response).as(name).startsWith("HTTP/1.1 200").contains("path: /dns")
          .contains("x-request-id: ");
    }
    // Outside the mesh: the sidecar forwards the query; the app connects where the answer says.
    String outside = appClient.get("outside.example", 7070, "outside.example", "/out");
    assertThat(outside).startsWith("HTTP/1.1 200").contains("path: /out")
        .doesNotContain("x-request-id");
    // The resolver saw the sidecar's forwarded query (had it been captured, it would have looped
    // back to the sidecar and never arrived), and no query for a mesh name.
    assertThat(log("resolver")).contains("QUESTION outside.example. A")
        .doesNotContain("helloworld");

    String stats = appClient.get(POD_IP, 15020, "x", "/stats/prometheus");
    assertThat(stats).containsPattern("isthmus_dns_table_answers_total [1-9]")
        .containsPattern("dns_upstream_requests_total [1-9]");
  }

  /**
   * Outbound listeners by protocol, as the controller sends them: external TLS hosts share
   * {@code 0.0.0.0_443}, one chain per server name, and the app's TLS (as nobody, any TLS
   * client) is routed by its ClientHello's SNI, untouched; a name no chain has passes through to
   * where it was going. A port whose protocol is detected carries HTTP by its routes and TLS (not
   * HTTP) raw to its service.
   */
  @org.junit.jupiter.api.Test
  void tlsIsRoutedByItsServerNameAndADetectedPortByItsFirstBytes() throws Exception {
    List<Message> resources = new ArrayList<>(podConfig());
    String api = "outbound|443||api.example.com";
    String legacy = "outbound|8000||legacy.sample.svc.cluster.local";
    resources.add(plainCluster(api, CLIENT_IP, 8443));
    resources.add(MeshResources.sniListener(443, java.util.Map.of("api.example.com", api)));
    resources.add(plainCluster(legacy, CLIENT_IP, 8443));
    resources.add(MeshResources.sniffedListener(LEGACY_VIP, 8000,
        "legacy.sample.svc.cluster.local:8000", legacy));
    resources.add(RouteConfiguration.newBuilder().setName("legacy.sample.svc.cluster.local:8000")
        .addVirtualHosts(VirtualHost.newBuilder().setName("legacy.sample.svc.cluster.local:8000")
            .addDomains("legacy").addDomains(LEGACY_VIP + ":8000")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder()
                    .setCluster("outbound|9090||reviews.sample.svc.cluster.local"))))
        .build());

    Process upstreams = java("upstreams", clientNs, CaptureTestApps.class.getName(),
        CLIENT_IP + ":9090", "tls:" + CLIENT_IP + ":8443", "tls:" + CLIENT_IP + ":443");
    startCapturedSidecar(resources, List.of(), "--capture", "redirect");
    Agent appClient = agent("app-client", podNs, true);
    awaitReady(upstreams, "upstreams");
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
        .until(() -> appClient.send(POD_IP, 15021, "x", "/healthz/ready").startsWith("HTTP/1.1 200"));

    // SNI api.example.com: its chain, whose cluster is the server on 8443.
    assertThat(appClient.get(CLIENT_IP, 443, "api.example.com", "/sni tls"))
        .startsWith("HTTP/1.1 200").contains("server: 8443").contains("path: /sni");
    // A server name no chain has: the default chain, PassthroughCluster, to 443 itself.
    assertThat(appClient.get(CLIENT_IP, 443, "other.example.org", "/other tls"))
        .startsWith("HTTP/1.1 200").contains("server: 443");
    // The detected port: HTTP by the service's own routes (through the HTTP router) ...
    assertThat(appClient.get(LEGACY_VIP, 8000, "legacy", "/http"))
        .startsWith("HTTP/1.1 200").contains("path: /http").contains("x-request-id: ");
    // ... and TLS, not HTTP, raw to the service's cluster.
    assertThat(appClient.get(LEGACY_VIP, 8000, "legacy", "/raw tls"))
        .startsWith("HTTP/1.1 200").contains("server: 8443").contains("path: /raw");

    assertThat(appClient.get(POD_IP, 15020, "x", "/stats/prometheus"))
        .contains("isthmus_capture_connections_total{decision=\"sni\",direction=\"outbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"tcp\",direction=\"outbound\"}")
        .contains("isthmus_capture_connections_total{decision=\"http\",direction=\"outbound\"}");
  }

  /**
   * A VirtualService's {@code tls} and {@code tcp} routes as the controller translates them
   * ({@code L4RouteTranslator}): on the VIP's {@code <vip>_443} listener one chain per
   * {@code sniHosts} match, and on {@code 0.0.0.0_5432} one chain per {@code destinationSubnets}.
   * The app (as nobody) opens real TLS to the VIP with two server names and reaches two real TLS
   * servers, each presenting its own certificate; a name no route has passes through to the VIP
   * (which leads nowhere: no answer). Then plain TCP by the destination's subnet.
   */
  @org.junit.jupiter.api.Test
  void tlsRouteChainsBySniAndTcpRouteChainsBySubnetReachTheirOwnDestinations() throws Exception {
    String a = "outbound|443||a.example.com";
    String b = "outbound|443||b.example.com";
    String near = "outbound|5432||pg-near.example.com";
    String far = "outbound|5432||pg-far.example.com";
    List<Message> resources = new ArrayList<>(podConfig());
    resources.add(plainCluster(a, CLIENT_IP, 8443));
    resources.add(plainCluster(b, CLIENT_IP, 9443));
    resources.add(plainCluster(near, CLIENT_IP, 8443));
    resources.add(plainCluster(far, CLIENT_IP, 9443));
    resources.add(l4Listener(TLS_VIP + "_443", TLS_VIP, 443, List.of(
        chain(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
            .setTransportProtocol("tls").addServerNames("a.example.com"), a),
        chain(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
            .setTransportProtocol("tls").addServerNames("b.example.com"), b)), true));
    resources.add(l4Listener("0.0.0.0_5432", "0.0.0.0", 5432, List.of(
        chain(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
            .addPrefixRanges(cidr("10.20.0.0", 24)), near),
        chain(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
            .addPrefixRanges(cidr("10.30.0.0", 16)), far)), false));

    // The VIP exists in the client namespace, where nothing listens on 443: a connection passed
    // through to it is refused at once.
    run("ip", "-n", clientNs, "addr", "add", TLS_VIP + "/32", "dev", "eth0");
    Process upstreams = java("upstreams", clientNs, CaptureTestApps.class.getName(),
        "tls:" + CLIENT_IP + ":8443", "tls:" + CLIENT_IP + ":9443");
    startCapturedSidecar(resources, List.of(), "--capture", "redirect");
    Agent appClient = agent("app-client", podNs, true);
    awaitReady(upstreams, "upstreams");
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
        .until(() -> appClient.send(POD_IP, 15021, "x", "/healthz/ready").startsWith("HTTP/1.1 200"));

    // SNI a.example.com: its chain's cluster, the server on 8443 with its own certificate.
    assertThat(appClient.get(TLS_VIP, 443, "a.example.com", "/a tls"))
        .startsWith("HTTP/1.1 200").contains("server: 8443").contains("path: /a")
        .contains("tls-peer: spiffe://cluster.local/ns/ext/sa/server-8443");
    // SNI b.example.com: the other chain, the other server, the other certificate.
    assertThat(appClient.get(TLS_VIP, 443, "b.example.com", "/b tls"))
        .startsWith("HTTP/1.1 200").contains("server: 9443").contains("path: /b")
        .contains("tls-peer: spiffe://cluster.local/ns/ext/sa/server-9443");
    // A name no route has: the default chain, PassthroughCluster, to the VIP itself, where
    // nothing listens: refused, so the app's handshake fails; neither server saw it.
    assertThat(appClient.send(TLS_VIP, 443, "c.example.com", "/c tls")).startsWith("ERROR");

    // TCP by destinationSubnets: 10.20.0.0/24 → the first destination, 10.30.0.0/16 → the other.
    assertThat(appClient.get("10.20.0.7", 5432, "pg", "/near tls"))
        .startsWith("HTTP/1.1 200").contains("server: 8443").contains("path: /near");
    assertThat(appClient.get("10.30.4.9", 5432, "pg", "/far tls"))
        .startsWith("HTTP/1.1 200").contains("server: 9443").contains("path: /far");

    assertThat(appClient.get(POD_IP, 15020, "x", "/stats/prometheus"))
        .containsPattern("isthmus_capture_connections_total\\{decision=\"sni\",direction=\"outbound\"} [2-9]")
        .containsPattern("isthmus_capture_connections_total\\{decision=\"tcp\",direction=\"outbound\"} [2-9]");
  }

  /**
   * The sweep takes a namespace whose run is over (its owner pid is gone) and leaves one of a
   * live run (this JVM's) alone.
   */
  @org.junit.jupiter.api.Test
  void theSweepRemovesAFinishedRunsNamespacesAndKeepsALiveRunsOnes() throws Exception {
    Process finished = new ProcessBuilder("true").start();
    finished.waitFor(10, TimeUnit.SECONDS);
    String stale = TestNamespaces.PREFIX + Long.toString(finished.pid(), 36) + "-9x";
    String live = namespaces.create("x");
    try {
      run("ip", "netns", "add", stale);
      Files.createDirectories(Path.of("/etc/netns", stale));
      assertThat(TestNamespaces.sweepStale()).contains(stale).doesNotContain(live, podNs, clientNs);
      assertThat(TestNamespaces.list()).doesNotContain(stale).contains(live, podNs, clientNs);
      assertThat(Path.of("/etc/netns", stale)).doesNotExist();
    } finally {
      TestNamespaces.remove(stale);
    }
  }

  private static Listener l4Listener(String name, String ip, int port,
      List<io.envoyproxy.envoy.config.listener.v3.FilterChain> chains, boolean tlsInspector) {
    Listener.Builder listener = Listener.newBuilder().setName(name)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(ip).setPortValue(port)))
        .setTrafficDirection(io.envoyproxy.envoy.config.core.v3.TrafficDirection.OUTBOUND)
        .addAllFilterChains(chains)
        .setDefaultFilterChain(chain(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch
            .newBuilder(), "PassthroughCluster").toBuilder().setName("PassthroughFilterChain"))
        .setBindToPort(com.google.protobuf.BoolValue.of(false));
    if (tlsInspector) {
      // As the controller sends an SNI listener (its tls_inspector filter, which the sidecar's
      // ClientHello sniffing stands for, is left out: the static config cannot render it).
      listener.setListenerFiltersTimeout(com.google.protobuf.Duration.getDefaultInstance())
          .setContinueOnListenerFiltersTimeout(true);
    }
    return listener.build();
  }

  private static io.envoyproxy.envoy.config.listener.v3.FilterChain chain(
      io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.Builder match, String cluster) {
    return io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder().setName(cluster)
        .setFilterChainMatch(match)
        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
            .setName("envoy.filters.network.tcp_proxy")
            .setTypedConfig(com.google.protobuf.Any.pack(io.envoyproxy.envoy.extensions.filters
                .network.tcp_proxy.v3.TcpProxy.newBuilder().setStatPrefix(cluster)
                .setCluster(cluster).build())))
        .build();
  }

  private static io.envoyproxy.envoy.config.core.v3.CidrRange cidr(String prefix, int length) {
    return io.envoyproxy.envoy.config.core.v3.CidrRange.newBuilder().setAddressPrefix(prefix)
        .setPrefixLen(com.google.protobuf.UInt32Value.of(length)).build();
  }

  /** The pod's resources, as the controller would send them with capture. */
  private static List<Message> podConfig() {
    Listener inbound = MeshResources.virtualInbound(8080).toBuilder()
        .setFilterChains(0, MeshResources.virtualInbound(8080).getFilterChains(0).toBuilder()
            // PERMISSIVE: the plain client's plaintext is accepted.
            .clearTransportSocket())
        .build();
    return List.of(
        MeshResources.inboundCluster(8080, 8080), inbound,
        plainCluster("outbound|9090||reviews.sample.svc.cluster.local", CLIENT_IP, 9090),
        MeshResources.outboundListener(9090),
        RouteConfiguration.newBuilder().setName("9090").addVirtualHosts(VirtualHost.newBuilder()
            .setName("reviews").addDomains("reviews").addDomains("reviews:9090")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder()
                    .setCluster("outbound|9090||reviews.sample.svc.cluster.local"))))
            // What an app that resolved helloworld through the DNS proxy asks for.
            .addVirtualHosts(VirtualHost.newBuilder().setName("helloworld")
                .addDomains("helloworld").addDomains("helloworld:9090")
                .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                    .setRoute(RouteAction.newBuilder()
                        .setCluster("outbound|9090||reviews.sample.svc.cluster.local"))))
            .build(),
        plainCluster("outbound|3306||db.sample.svc.cluster.local", CLIENT_IP, 7070),
        MeshResources.outboundTcpListener(DB_VIP, 3306, "outbound|3306||db.sample.svc.cluster.local"),
        MeshResources.passthroughCluster(), MeshResources.virtualOutbound(true));
  }

  private static Cluster plainCluster(String name, String ip, int port) {
    return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress(ip)
                        .setPortValue(port)))))))
        .build();
  }

  /**
   * Writes the pod's xDS resources and workload certificate, runs {@code isthmus-proxy-init} in
   * the pod's namespace with {@code initFlags} (the proxy runs as root here, so root's
   * connections are the ones left alone), then starts the sidecar with {@code captureFlags}.
   */
  private void startCapturedSidecar(List<Message> resources, List<String> initFlags,
      String... captureFlags) throws Exception {
    Path config = Files.writeString(dir.resolve("pod.json"), XdsStaticConfig.render(resources));
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "app");
    Path root = Files.writeString(dir.resolve("root.pem"), pki.rootPem());
    Path chain = Files.writeString(dir.resolve("chain.pem"), cert.chainPem());
    Path key = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
    List<String> init = new ArrayList<>(List.of("-u", "0", "-g", "0"));
    init.addAll(initFlags);
    Process initProcess = java("init", podNs, ProxyInitMain.class.getName(),
        init.toArray(String[]::new));
    assertThat(initProcess.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(initProcess.exitValue()).as(log("init")).isZero();
    List<String> sidecar = new ArrayList<>(List.of("--pod-ip", POD_IP,
        "--localhost", "127.0.0.1", "--pod-name", "app-v1-abc", "--namespace", "sample",
        "--service-account", "app", "--cluster", "east", "--network", "net1",
        "--labels", "app=app", "--root-cert", root.toString(), "--static-config",
        config.toString(), "--cert-chain", chain.toString(), "--key", key.toString()));
    sidecar.addAll(List.of(captureFlags));
    java("sidecar", podNs, ProxyMain.class.getName(), sidecar.toArray(String[]::new));
  }

  /** A JVM with this test's classpath inside {@code ns}, its output in {@code <name>.log}. */
  private Process java(String name, String ns, String main, String... args) throws IOException {
    List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", ns,
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.log.io.isthmus.proxy.internal=debug",
        "-cp", System.getProperty("java.class.path"), main));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(dir.resolve(name + ".log").toFile()).start();
    processes.add(p);
    return p;
  }

  private void awaitReady(Process p, String name) {
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
      assertThat(p.isAlive()).as(name + " exited: " + log(name)).isTrue();
      return log(name).contains("READY");
    });
  }

  private String log(String name) {
    try {
      return Files.readString(dir.resolve(name + ".log"));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** A plain HTTP client process in {@code ns} (the JDK's source launcher: no classpath). */
  private Agent agent(String name, String ns, boolean unprivileged) throws Exception {
    Path source = dir.resolve("HttpAgent.java");
    if (!Files.exists(source)) {
      try (var in = getClass().getResourceAsStream("/capture/HttpAgent.java")) {
        Files.write(source, in.readAllBytes());
      }
      // nobody must read it: the temp dir is root's and private.
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
      Files.setPosixFilePermissions(source, PosixFilePermissions.fromString("rw-r--r--"));
    }
    List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", ns));
    if (unprivileged) {
      command.addAll(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"));
    }
    command.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx48m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", source.toString()));
    Process p = new ProcessBuilder(command)
        .redirectError(dir.resolve(name + ".log").toFile()).start();
    processes.add(p);
    Agent agent = new Agent(name, p);
    String ready = agent.readLine(Duration.ofSeconds(60));
    assertThat(ready).as(name + ": " + log(name)).isEqualTo("READY");
    return agent;
  }

  private final class Agent {
    private final String name;
    private final OutputStream in;
    private final BufferedReader out;

    Agent(String name, Process process) {
      this.name = name;
      this.in = process.getOutputStream();
      this.out = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8));
    }

    /** The whole response, its line breaks as real ones again; "" if closed without one. */
    String get(String ip, int port, String host, String path) throws Exception {
      String response = send(ip, port, host, path);
      assertThat(response).as(name + " → " + ip + ":" + port + "; sidecar: " + log("sidecar"))
          .doesNotStartWith("ERROR");
      return response;
    }

    /** As {@link #get}, but a failed connection is "ERROR ..." rather than a failed test. */
    synchronized String send(String ip, int port, String host, String path) throws Exception {
      in.write((ip + " " + port + " " + host + " " + path + "\n")
          .getBytes(StandardCharsets.UTF_8));
      in.flush();
      String line = readLine(Duration.ofSeconds(20));
      assertThat(line).as(name + " answered nothing: " + log(name)).isNotNull();
      return line.replace("\\n", "\n");
    }

    String readLine(Duration timeout) throws Exception {
      return CompletableFuture.supplyAsync(() -> {
        try {
          return out.readLine();
        } catch (IOException e) {
          return "ERROR " + e;
        }
      }).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  private static Optional<String> unavailable() {
    if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
      return Optional.of("network namespaces need Linux");
    }
    try {
      String status = Files.readString(Path.of("/proc/self/status"));
      if (!status.lines().filter(l -> l.startsWith("Uid:")).findFirst().orElse("")
          .split("\\s+")[2].equals("0")) {
        return Optional.of("capture needs root (network namespaces, iptables)");
      }
    } catch (IOException | RuntimeException e) {
      return Optional.of("cannot tell whether this is root: " + e);
    }
    for (String tool : List.of("ip", "iptables", "iptables-restore", "setpriv")) {
      if (quietly(tool, "-V") == null && quietly(tool, "--version") == null) {
        return Optional.of("'" + tool + "' is missing; install iproute2, iptables, util-linux");
      }
    }
    return Optional.empty();
  }

  private static String run(String... command) {
    String out = quietly(command);
    if (out == null) {
      throw new IllegalStateException("'" + String.join(" ", command) + "' failed");
    }
    return out;
  }

  /** The command's output, or null if it failed. */
  private static String quietly(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return p.waitFor(15, TimeUnit.SECONDS) && p.exitValue() == 0 ? out : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}
