package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A real sidecar's explicit outbound TCP listeners honour what a VirtualService's {@code tcp}
 * route and a DestinationRule's TCP idle timeout become: {@code tcp_proxy.weighted_clusters}
 * sends each new connection to one cluster in proportion to its weight (200 connections, 80/20),
 * and {@code tcp_proxy.idle_timeout} closes a connection with no byte either way for that long,
 * never one that keeps talking. Plain loopback sockets; the upstreams speak first and name
 * themselves.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TcpRoutesSidecarTest {

  private static final String POD_IP = "127.221.1.1";
  private static final String LOCALHOST = "127.221.2.1";
  private static final String UPSTREAMS = "127.221.3.1";
  private static final String V1 = "outbound|5432|v1|db.sample.svc.cluster.local";
  private static final String V2 = "outbound|5432|v2|db.sample.svc.cluster.local";

  @TempDir
  static Path dir;

  private final List<ServerSocket> servers = new ArrayList<>();
  private final ReservedPorts ports = new ReservedPorts();
  private Sidecar sidecar;
  private int weightedPort;
  private int idlePort;

  @BeforeAll
  void start() throws Exception {
    int v1 = serve("v1");
    int v2 = serve("v2");
    weightedPort = ports.on(LOCALHOST);
    idlePort = ports.on(LOCALHOST);
    TcpProxy weighted = TcpProxy.newBuilder().setStatPrefix("db")
        .setWeightedClusters(TcpProxy.WeightedCluster.newBuilder()
            .addClusters(TcpProxy.WeightedCluster.ClusterWeight.newBuilder().setName(V1).setWeight(80))
            .addClusters(TcpProxy.WeightedCluster.ClusterWeight.newBuilder().setName(V2).setWeight(20)))
        .build();
    TcpProxy idle = TcpProxy.newBuilder().setStatPrefix(V1).setCluster(V1)
        .setIdleTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(1)
            .setNanos(500_000_000))
        .build();
    List<Message> resources = List.of(cluster(V1, v1), cluster(V2, v2),
        listener(weightedPort, weighted), listener(idlePort, idle));
    Path config = Files.writeString(dir.resolve("pod.json"), XdsStaticConfig.render(resources));
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    Path root = Files.writeString(dir.resolve("root.pem"), pki.rootPem());
    Path chain = Files.writeString(dir.resolve("chain.pem"), cert.chainPem());
    Path key = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs("--pod-ip", POD_IP, "--localhost", LOCALHOST,
        "--pod-name", "curl-v1-abc", "--namespace", "sample", "--service-account", "curl",
        "--cluster", "east", "--network", "net1", "--labels", "app=curl",
        "--root-cert", root.toString(), "--static-config", config.toString(),
        "--cert-chain", chain.toString(), "--key", key.toString(),
        "--admin-port", "0", "--health-port", "0", "--stats-port", "0", "--outbound-port", "0");
    sidecar = Sidecar.startStatic(main.flags.toOptions(null),
        main.flags.staticBootstrap().orElseThrow());
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
        .until(() -> sidecar.outboundTcpPorts().containsAll(List.of(weightedPort, idlePort)));
  }

  @AfterAll
  void stop() throws IOException {
    if (sidecar != null) {
      sidecar.close();
    }
    for (ServerSocket server : servers) {
      server.close();
    }
    ports.close();
  }

  /** An upstream that says its name, then echoes what it reads until the client goes. */
  private int serve(String name) throws IOException {
    ServerSocket server = new ServerSocket(0, 64, InetAddress.getByName(UPSTREAMS));
    servers.add(server);
    Thread acceptor = new Thread(() -> {
      while (!server.isClosed()) {
        try {
          Socket socket = server.accept();
          Thread echo = new Thread(() -> {
            try (socket) {
              OutputStream out = socket.getOutputStream();
              out.write((name + "\n").getBytes(StandardCharsets.US_ASCII));
              out.flush();
              InputStream in = socket.getInputStream();
              byte[] buffer = new byte[256];
              for (int n; (n = in.read(buffer)) >= 0; ) {
                out.write(buffer, 0, n);
                out.flush();
              }
            } catch (IOException e) {
              // The proxy closed the connection: the next one comes.
            }
          }, "tcp-routes-" + name + "-conn");
          echo.setDaemon(true);
          echo.start();
        } catch (IOException e) {
          return;
        }
      }
    }, "tcp-routes-" + name);
    acceptor.setDaemon(true);
    acceptor.start();
    return server.getLocalPort();
  }

  private static Cluster cluster(String name, int port) {
    return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress(UPSTREAMS)
                        .setPortValue(port)))))))
        .build();
  }

  private static Listener listener(int port, TcpProxy proxy) {
    return Listener.newBuilder().setName("0.0.0.0_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(port)))
        .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
            .setName("envoy.filters.network.tcp_proxy").setTypedConfig(Any.pack(proxy))))
        .build();
  }

  /** The first line the upstream sent: its name. */
  private static String greeting(Socket socket) throws IOException {
    StringBuilder line = new StringBuilder();
    InputStream in = socket.getInputStream();
    for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
      line.append((char) c);
    }
    return line.toString();
  }

  @Test
  void aWeightedRouteSplitsConnectionsByWeight() throws Exception {
    Map<String, Integer> counts = new TreeMap<>();
    for (int i = 0; i < 200; i++) {
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(LOCALHOST, weightedPort), 5_000);
        socket.setSoTimeout(10_000);
        counts.merge(greeting(socket), 1, Integer::sum);
      }
    }
    assertThat(counts.keySet()).containsExactly("v1", "v2");
    assertThat(counts.get("v1") + counts.get("v2")).isEqualTo(200);
    // 160 expected, σ = √(200 × 0.8 × 0.2) ≈ 5.7: ±34 is six σ (a failure once in ~10⁹ runs),
    // and still far from 50/50 (100) or everything to one side (200).
    assertThat(counts.get("v1")).isBetween(126, 194);
  }

  @Test
  void anIdleConnectionIsClosedAndATalkingOneIsNot() throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LOCALHOST, idlePort), 5_000);
      socket.setSoTimeout(30_000);
      assertThat(greeting(socket)).isEqualTo("v1");
      // A byte every 150 ms for 3 s (two idle timeouts): each comes back, nothing closes. The
      // timeout (1.5 s) leaves a loaded machine over a second of slack between two bytes.
      long quietSince = 0;
      for (int i = 0; i < 20; i++) {
        if (i > 0) {
          Thread.sleep(150);
        }
        socket.getOutputStream().write('a' + i);
        socket.getOutputStream().flush();
        assertThat(socket.getInputStream().read()).isEqualTo('a' + i);
        quietSince = System.nanoTime();
      }
      // Then silence: closed after the timeout (1.5 s, counted from the proxy's last write, a
      // little before quietSince), not before; the upper bound only catches "never".
      assertThat(socket.getInputStream().read()).as("closed by the proxy").isEqualTo(-1);
      long quietMillis = (System.nanoTime() - quietSince) / 1_000_000;
      assertThat(quietMillis).isBetween(1_000L, 25_000L);
    }
  }
}
