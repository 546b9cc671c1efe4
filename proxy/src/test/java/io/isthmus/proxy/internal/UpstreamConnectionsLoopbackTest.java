package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.UpstreamConnectionOptions;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A DestinationRule's {@code connectionPool} connection settings, as the controller sends them
 * ({@code HttpProtocolOptions.common_http_protocol_options}, {@code upstream_connection_options}),
 * honoured by the sidecar's pooled HTTP/1.1 upstream connections, on real loopback sockets: the
 * upstream counts the connections it accepts and sees which ones the proxy closes.
 */
class UpstreamConnectionsLoopbackTest {

  private ServerSocket upstream;
  private Thread acceptor;
  private final AtomicInteger accepted = new AtomicInteger();
  private final AtomicInteger closedByProxy = new AtomicInteger();
  private EventLoopGroup group;
  private Channel listener;

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = new ServerSocket(0, 16, InetAddress.getByName("127.0.0.1"));
    acceptor = new Thread(() -> {
      while (!upstream.isClosed()) {
        try {
          Socket s = upstream.accept();
          accepted.incrementAndGet();
          Thread t = new Thread(() -> serve(s), "upstream-conn");
          t.setDaemon(true);
          t.start();
        } catch (IOException e) {
          // closed by the test
        }
      }
    }, "upstream-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  private void serve(Socket socket) {
    try (socket) {
      BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
          StandardCharsets.ISO_8859_1));
      OutputStream out = socket.getOutputStream();
      while (true) {
        String line;
        while ((line = in.readLine()) != null && !line.isEmpty()) {
          // request headers
        }
        if (line == null) {
          closedByProxy.incrementAndGet();
          return;
        }
        out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
    } catch (IOException e) {
      // the test ended
    }
  }

  private void startProxy(UnaryOperator<Cluster.Builder> settings) throws Exception {
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("app"))))
        .build();
    Cluster cluster = settings.apply(Cluster.newBuilder().setName("app")
        .setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("app")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(upstream.getLocalPort()))))))))
        .build();
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("app", cluster),
        Map.of(), Map.of(), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    ProxyMetrics metrics = new ProxyMetrics();
    group = Transports.newGroup(1, "upstream-connections-test");
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

  @AfterEach
  void stop() throws Exception {
    if (listener != null) {
      listener.close().syncUninterruptibly();
    }
    if (group != null) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    upstream.close();
    acceptor.join(5_000);
  }

  private static Cluster.Builder common(Cluster.Builder c, HttpProtocolOptions.Builder common) {
    return c.putTypedExtensionProtocolOptions(DataPlaneConfig.HTTP_PROTOCOL_OPTIONS,
        com.google.protobuf.Any.pack(
            io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.newBuilder()
                .setCommonHttpProtocolOptions(common).build()));
  }

  private static com.google.protobuf.Duration millis(long ms) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(ms / 1000)
        .setNanos((int) (ms % 1000) * 1_000_000).build();
  }

  @Test
  void withoutSettingsOneConnectionServesEveryRequestAndStaysOpen() throws Exception {
    startProxy(c -> c);
    try (Socket client = client()) {
      for (int i = 0; i < 4; i++) {
        get(client);
      }
      assertThat(accepted.get()).isEqualTo(1);
      Thread.sleep(300); // nothing to wait for: the point is that nothing happens
      assertThat(closedByProxy.get()).isZero();
    }
  }

  @Test
  void maxRequestsPerConnectionOpensANewConnectionAfterThatMany() throws Exception {
    startProxy(c -> common(c, HttpProtocolOptions.newBuilder()
        .setMaxRequestsPerConnection(UInt32Value.of(2))));
    try (Socket client = client()) {
      for (int i = 0; i < 5; i++) {
        get(client);
      }
    }
    // 2 + 2 + 1 requests; the first two connections closed once spent.
    assertThat(accepted.get()).isEqualTo(3);
    await().atMost(Duration.ofSeconds(30)).until(() -> closedByProxy.get() >= 2);
  }

  @Test
  void anIdleConnectionIsClosedAfterIdleTimeout() throws Exception {
    // 2 s: the second request must find the connection still open even when a loaded machine
    // stalls the test between the two (300 ms did not always).
    startProxy(c -> common(c, HttpProtocolOptions.newBuilder().setIdleTimeout(millis(2_000))));
    try (Socket client = client()) {
      get(client);
      get(client);
      assertThat(accepted.get()).isEqualTo(1);
      await().atMost(Duration.ofSeconds(30)).until(() -> closedByProxy.get() == 1);
      get(client);
      assertThat(accepted.get()).isEqualTo(2);
    }
  }

  @Test
  void aConnectionOlderThanMaxConnectionDurationIsNotReused() throws Exception {
    startProxy(c -> common(c, HttpProtocolOptions.newBuilder()
        .setMaxConnectionDuration(millis(400))));
    try (Socket client = client()) {
      long start = System.nanoTime();
      get(client);
      // It goes when its age is reached, idle or not.
      await().atMost(Duration.ofSeconds(30)).until(() -> closedByProxy.get() == 1);
      assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(400));
      get(client);
      assertThat(accepted.get()).isEqualTo(2);
    }
  }

  @Test
  void tcpKeepaliveSetsTheSocketOptions() {
    Cluster cluster = Cluster.newBuilder().setName("app").setUpstreamConnectionOptions(
        UpstreamConnectionOptions.newBuilder().setTcpKeepalive(TcpKeepalive.newBuilder()
            .setKeepaliveProbes(UInt32Value.of(3)).setKeepaliveTime(UInt32Value.of(600))
            .setKeepaliveInterval(UInt32Value.of(60)))).build();
    Bootstrap bootstrap = new Bootstrap().channel(Transports.socketChannel());
    UpstreamConnections.of(cluster).configure(bootstrap, Transports.socketChannel());
    Map<ChannelOption<?>, Object> options = bootstrap.config().options();
    assertThat(options).containsEntry(ChannelOption.SO_KEEPALIVE, true);
    assertThat(options.values()).contains(600, 60, 3);

    Bootstrap plain = new Bootstrap().channel(Transports.socketChannel());
    UpstreamConnections.DEFAULT.configure(plain, Transports.socketChannel());
    assertThat(plain.config().options()).doesNotContainKey(ChannelOption.SO_KEEPALIVE);
  }

  @Test
  void aBadDurationIsRejectedNamingTheField() {
    Cluster cluster = common(Cluster.newBuilder().setName("app"), HttpProtocolOptions.newBuilder()
        .setIdleTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(-1))).build();
    assertThatThrownBy(() -> UpstreamConnections.of(cluster))
        .hasMessageContaining("cluster app: common_http_protocol_options.idle_timeout");
  }

  private Socket client() throws IOException {
    Socket client = new Socket();
    client.connect(listener.localAddress(), 10_000);
    client.setSoTimeout(30_000);
    return client;
  }

  private static void get(Socket client) throws IOException {
    OutputStream out = client.getOutputStream();
    out.write("GET / HTTP/1.1\r\nHost: svc\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = client.getInputStream();
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before the response head ended: " + head);
      }
      head.append((char) b);
    }
    assertThat(head.toString()).startsWith("HTTP/1.1 200");
    assertThat(in.readNBytes(2)).isEqualTo("ok".getBytes(StandardCharsets.US_ASCII));
  }
}
