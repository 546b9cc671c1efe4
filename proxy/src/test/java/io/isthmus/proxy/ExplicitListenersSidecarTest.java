package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
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
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A real sidecar binds the outbound listeners the controller marks {@code bind_to_port: true}
 * (a Sidecar egress listener with {@code captureMode: NONE} and {@code bind}), on their own
 * address and port, and serves them as their chains say, with no traffic capture: an app dials
 * {@code bind:port} and its HTTP is routed by the chain's route configuration, its TCP relayed to
 * the chain's cluster. A listener left {@code bind_to_port: false} (captured) binds nothing. An
 * inbound listener with {@code bind_to_port: true} (a Sidecar ingress with
 * {@code captureMode: NONE}) is bound on its address and forwards to its cluster's endpoint, the
 * pod's localhost or its IP ({@code defaultEndpoint}).
 * Plain loopback sockets in 127.219.x.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ExplicitListenersSidecarTest {

  private static final String POD_IP = "127.219.1.1";
  private static final String LOCALHOST = "127.219.2.1";
  /** Istio's egress {@code bind}: any address the app can dial, not only the pod's localhost. */
  private static final String BIND = "127.219.2.9";
  private static final String UPSTREAMS = "127.219.3.1";
  private static final String HTTP_CLUSTER = "outbound|5000||helloworld.sample.svc.cluster.local";
  private static final String TCP_CLUSTER = "outbound|5432||db.sample.svc.cluster.local";

  @TempDir
  static Path dir;

  private HeaderEchoApp app;
  /** The workload, on the pod's localhost and on the pod's IP. */
  private HeaderEchoApp workload;
  private HeaderEchoApp workloadOnPodIp;
  private ServerSocket db;
  private Sidecar sidecar;
  private int httpPort;
  private int tcpPort;
  private final ReservedPorts ports = new ReservedPorts();
  private int capturedPort;
  private int inboundPort;
  private int inboundPodIpPort;

  @BeforeAll
  void start() throws Exception {
    app = new HeaderEchoApp(UPSTREAMS, 0);
    workload = new HeaderEchoApp(LOCALHOST, 0);
    workloadOnPodIp = new HeaderEchoApp(POD_IP, 0);
    db = new ServerSocket(0, 16, InetAddress.getByName(UPSTREAMS));
    Thread acceptor = new Thread(() -> {
      while (!db.isClosed()) {
        try (Socket socket = db.accept()) {
          socket.getOutputStream().write("db\n".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
          return;
        }
      }
    }, "explicit-listeners-db");
    acceptor.setDaemon(true);
    acceptor.start();
    httpPort = ports.on(BIND);
    tcpPort = ports.on(BIND);
    capturedPort = ports.on(BIND);
    inboundPort = ports.on(BIND);
    inboundPodIpPort = ports.on(BIND);
    List<Message> resources = List.of(
        cluster(HTTP_CLUSTER, app.port()), cluster(TCP_CLUSTER, db.getLocalPort()),
        // The route configuration of the service's port, as the controller names it: not the
        // listener's port, so only the chain can have chosen it.
        RouteConfiguration.newBuilder().setName("5000").addVirtualHosts(VirtualHost.newBuilder()
            .setName("helloworld.sample.svc.cluster.local:5000")
            .addDomains("helloworld.sample.svc.cluster.local")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster(HTTP_CLUSTER)))).build(),
        listener(httpPort, true, Filter.newBuilder()
            .setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                .setStatPrefix("outbound_" + BIND + "_" + httpPort)
                .setRds(Rds.newBuilder().setRouteConfigName("5000").setConfigSource(
                    io.envoyproxy.envoy.config.core.v3.ConfigSource.newBuilder().setAds(
                        io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                    .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                .build())).build()),
        listener(tcpPort, true, tcpProxy(TCP_CLUSTER)),
        listener(capturedPort, false, tcpProxy(TCP_CLUSTER)),
        // Sidecar ingress with captureMode NONE: defaultEndpoint 127.0.0.1:<app> (the pod's
        // localhost) and 0.0.0.0:<app> (the pod's IP), plaintext (PERMISSIVE's plaintext chain).
        inboundCluster(inboundPort, "127.0.0.1", workload.port()),
        inboundListener(inboundPort),
        inboundCluster(inboundPodIpPort, POD_IP, workloadOnPodIp.port()),
        inboundListener(inboundPodIpPort));
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
        .until(() -> sidecar.explicitOutboundAddresses().containsAll(
            List.of(BIND + ":" + httpPort, BIND + ":" + tcpPort))
            && sidecar.inboundPorts().containsAll(List.of(inboundPort, inboundPodIpPort)));
  }

  @AfterAll
  void stop() throws IOException {
    if (sidecar != null) {
      sidecar.close();
    }
    for (HeaderEchoApp a : new HeaderEchoApp[] {app, workload, workloadOnPodIp}) {
      if (a != null) {
        a.close();
      }
    }
    if (db != null) {
      db.close();
    }
    ports.close();
  }

  @Test
  void httpOnTheBoundAddressIsRoutedByItsChainsRouteConfiguration() throws IOException {
    String response = exchange(httpPort, "GET /explicit HTTP/1.1\r\nHost: "
        + "helloworld.sample.svc.cluster.local\r\nConnection: close\r\n\r\n");
    assertThat(response).startsWith("HTTP/1.1 200").contains("path: /explicit")
        .contains("x-request-id");
    // A host the route configuration does not have: the router's 404, not some other route.
    assertThat(exchange(httpPort, "GET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"))
        .startsWith("HTTP/1.1 404");
  }

  @Test
  void tcpOnTheBoundAddressIsRelayedToItsChainsCluster() throws IOException {
    assertThat(exchange(tcpPort, "")).isEqualTo("db\n");
  }

  @Test
  void aCapturedListenerIsNotBound() {
    assertThat(sidecar.explicitOutboundAddresses()).doesNotContain(BIND + ":" + capturedPort);
    assertThatThrownBy(() -> exchange(capturedPort, "")).isInstanceOf(ConnectException.class);
  }

  @Test
  void anIngressListenerThatBindsItsPortForwardsToItsDefaultEndpoint() throws IOException {
    String local = exchange(inboundPort, "GET /in HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
    assertThat(local).startsWith("HTTP/1.1 200").contains("path: /in");
    String onPodIp = exchange(inboundPodIpPort,
        "GET /in-pod-ip HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
    assertThat(onPodIp).startsWith("HTTP/1.1 200").contains("path: /in-pod-ip");
  }

  private static String exchange(int port, String request) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(BIND, port), 5000);
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      InputStream in = socket.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("\r", "");
    }
  }

  private static Listener listener(int port, boolean bindToPort, Filter filter) {
    return Listener.newBuilder().setName(BIND + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(BIND).setPortValue(port)))
        .setTrafficDirection(TrafficDirection.OUTBOUND)
        .addFilterChains(FilterChain.newBuilder().addFilters(filter))
        .setBindToPort(BoolValue.of(bindToPort))
        .build();
  }

  /** Istio's inbound listener for an ingress with captureMode NONE: its plaintext HTTP chain. */
  private static Listener inboundListener(int port) {
    String cluster = "inbound|" + port + "||";
    return Listener.newBuilder().setName(BIND + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(BIND).setPortValue(port)))
        .setTrafficDirection(TrafficDirection.INBOUND)
        .addFilterChains(FilterChain.newBuilder().setName(cluster)
            .setFilterChainMatch(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
                .setDestinationPort(com.google.protobuf.UInt32Value.of(port))
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

  private static Cluster inboundCluster(int port, String host, int targetPort) {
    String name = "inbound|" + port + "||";
    return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress(host)
                        .setPortValue(targetPort)))))))
        .build();
  }

  private static Filter tcpProxy(String cluster) {
    return Filter.newBuilder().setName("envoy.filters.network.tcp_proxy")
        .setTypedConfig(Any.pack(TcpProxy.newBuilder().setStatPrefix(cluster).setCluster(cluster)
            .build()))
        .build();
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
}
