package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.v3.Percent;
import io.isthmus.proxy.internal.ClusterRuntimeTest.FakeClock;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Locality failover through the real outbound path on loopback: an {@link OutboundHandler}
 * relaying to HTTP servers in three priorities (P0 two servers in the proxy's zone, P1 one, P2
 * one), with outlier detection (one failure ejects for 10 s on the fake clock), retries of
 * connect failures on another host, and panic mode off as Istio sends it. Stopping both P0
 * servers moves every request to P1 without a failure; one P0 server back after its ejection
 * takes 70% (Envoy's overprovisioning); both back take everything.
 */
class LocalityFailoverLoopbackTest {

  private final FakeClock clock = new FakeClock();
  private final ProxyMetrics metrics = new ProxyMetrics();
  private final Map<String, HttpServer> servers = new TreeMap<>();
  private final Map<String, Integer> ports = new TreeMap<>();
  // A stopped upstream comes back on its port: held meanwhile, so nothing else takes it.
  private final ReservedPorts reserved = new ReservedPorts();
  private EventLoopGroup group;
  private Channel listener;

  /** An upstream that answers every request with its own name. */
  private void serve(String name, int port) throws IOException {
    serve(name, port, 200);
  }

  /**
   * An upstream that answers every request with {@code status} and its own name, on
   * {@code port} (0: a new port, held until the test ends).
   */
  private void serve(String name, int port, int status) throws IOException {
    int at = port == 0 ? reserved.on("127.0.0.1") : port;
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", at), 16);
    server.createContext("/", exchange -> {
      exchange.getRequestBody().readAllBytes();
      byte[] body = name.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(status, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
    servers.put(name, server);
    ports.put(name, server.getAddress().getPort());
  }

  private void stop(String name) {
    servers.remove(name).stop(0);
  }

  private LocalityLbEndpoints locality(int priority, String zone, String... names) {
    LocalityLbEndpoints.Builder b = LocalityLbEndpoints.newBuilder().setPriority(priority)
        .setLocality(Locality.newBuilder().setRegion("r").setZone(zone))
        .setLoadBalancingWeight(UInt32Value.of(names.length));
    for (String name : names) {
      b.addLbEndpoints(LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder().setAddress(
          Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
              .setAddress("127.0.0.1").setPortValue(ports.get(name))))));
    }
    return b.build();
  }

  private void startProxy() throws Exception {
    Cluster cluster = Cluster.newBuilder().setName("hello").setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("hello")
            .addEndpoints(locality(0, "near", "near-1", "near-2"))
            .addEndpoints(locality(1, "next", "next-1"))
            .addEndpoints(locality(2, "far", "far-1")))
        .setOutlierDetection(OutlierDetection.newBuilder()
            .setConsecutive5Xx(UInt32Value.of(1))
            .setBaseEjectionTime(com.google.protobuf.Duration.newBuilder().setSeconds(10))
            .setMaxEjectionPercent(UInt32Value.of(100)))
        .setCommonLbConfig(Cluster.CommonLbConfig.newBuilder()
            .setHealthyPanicThreshold(Percent.newBuilder().setValue(0)))
        .build();
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("hello").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("hello")
                    .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("connect-failure,5xx")
                        .setNumRetries(UInt32Value.of(3))
                        .addRetryHostPredicate(io.isthmus.proxy.testing.MeshResources
                            .previousHosts())))))
        .build();
    startProxy(cluster, routes);
  }

  private void startProxy(Cluster cluster, RouteConfiguration routes) throws Exception {
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("hello", cluster),
        Map.of(), Map.of(), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(clock, new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    group = Transports.newGroup(1, "failover-test");
    listener = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                new OutboundHandler(() -> config, tls, relay, metrics,
                    new WorkloadInfo("curl", "sample", "east"), runtimes));
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  @AfterEach
  void stopAll() {
    if (listener != null) {
      listener.close().syncUninterruptibly();
    }
    if (group != null) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    List.copyOf(servers.keySet()).forEach(this::stop);
    reserved.close();
  }

  /** Who answered {@code n} requests; a failed request counts under its status. */
  private Map<String, Integer> send(int n) throws IOException {
    Map<String, Integer> answered = new TreeMap<>();
    for (int i = 0; i < n; i++) {
      RawHttp.Response r = RawHttp.get((InetSocketAddress) listener.localAddress(), "hello", "/" + i);
      answered.merge(r.status() == 200 ? r.body() : "HTTP " + r.status(), 1, Integer::sum);
    }
    return answered;
  }

  @Test
  void theNearestLocalityDownMovesEveryRequestToTheNextAndTheyComeBackAfterTheEjections()
      throws Exception {
    for (String name : List.of("near-1", "near-2", "next-1", "far-1")) {
      serve(name, 0);
    }
    startProxy();
    assertThat(send(10)).isEqualTo(Map.of("near-1", 5, "near-2", 5));

    stop("near-1");
    stop("near-2");
    // The first request finds both dead (connect failures, each ejects its host) and is
    // retried on P1; from then on P0 has no healthy host and P1 takes everything. Never P2.
    assertThat(send(20)).isEqualTo(Map.of("next-1", 20));

    serve("near-1", ports.get("near-1"));
    clock.advance(Duration.ofSeconds(10));
    // Both ejections have ended; near-2 is still down, fails once more (retried, ejected again
    // for 2 × 10 s), and from then on P0 is half healthy: 1.4 × 50 = 70% of the load.
    assertThat(send(20)).containsOnlyKeys("near-1", "next-1");
    assertThat(send(20)).isEqualTo(Map.of("near-1", 14, "next-1", 6));

    serve("near-2", ports.get("near-2"));
    clock.advance(Duration.ofSeconds(20));
    assertThat(send(20)).isEqualTo(Map.of("near-1", 10, "near-2", 10));
    assertThat(metrics.count("istio_requests", "response_code", "503", "response_flags", "URX"))
        .isZero();
  }

  /**
   * Istio's {@code retryRemoteLocalities}: three P0 hosts answer 503, P1 answers. With
   * {@code previous_hosts} alone the two retries stay in P0 while it has untried hosts (Envoy
   * keeps the priority load); {@code previous_priorities} (update frequency 2, as Istio sends
   * it) moves the third attempt to P1.
   */
  @Test
  void previousPrioritiesSendsTheLastRetryToTheNextLocality() throws Exception {
    for (String name : List.of("near-1", "near-2", "near-3")) {
      serve(name, 0, 503);
    }
    serve("next-1", 0);
    Cluster cluster = Cluster.newBuilder().setName("hello").setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("hello")
            .addEndpoints(locality(0, "near", "near-1", "near-2", "near-3"))
            .addEndpoints(locality(1, "next", "next-1")))
        .build();
    RetryPolicy.Builder retry = RetryPolicy.newBuilder().setRetryOn("retriable-status-codes")
        .addRetriableStatusCodes(503).setNumRetries(UInt32Value.of(2))
        .addRetryHostPredicate(io.isthmus.proxy.testing.MeshResources.previousHosts());
    RouteConfiguration.Builder routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("hello").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/local"))
                .setRoute(RouteAction.newBuilder().setCluster("hello").setRetryPolicy(retry)))
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/remote"))
                .setRoute(RouteAction.newBuilder().setCluster("hello").setRetryPolicy(
                    retry.clone().setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
                        .setName("envoy.retry_priorities.previous_priorities")
                        .setTypedConfig(com.google.protobuf.Any.pack(io.envoyproxy.envoy.extensions
                            .retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                            .newBuilder().setUpdateFrequency(2).build())))))));
    startProxy(cluster, routes.build());
    InetSocketAddress proxy = (InetSocketAddress) listener.localAddress();
    for (int i = 0; i < 3; i++) {
      RawHttp.Response local = RawHttp.get(proxy, "hello", "/local/" + i);
      assertThat(local.status()).as("three P0 hosts tried, each once").isEqualTo(503);
      RawHttp.Response remote = RawHttp.get(proxy, "hello", "/remote/" + i);
      assertThat(remote.status()).isEqualTo(200);
      assertThat(remote.body()).isEqualTo("next-1");
    }
  }
}
