package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
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
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
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
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The relay's back-pressure on a real loopback path: an HTTP/1.1 upstream keeps reading on its
 * own (no read toggled per request), so only the downstream's writability holds it back. A
 * client that stops reading must stop the upstream's writes instead of making the proxy buffer
 * the whole response; when it reads again, every byte arrives, and the pooled connection
 * serves the next request.
 */
class RelayBackPressureLoopbackTest {

  private static final int BODY = 64 << 20;
  private static final int CHUNK = 64 << 10;

  private ServerSocket upstream;
  private Thread upstreamThread;
  private final AtomicLong written = new AtomicLong();
  private EventLoopGroup group;
  private Channel listener;

  @BeforeEach
  void start() throws Exception {
    upstream = new ServerSocket(0, 16, InetAddress.getByName("127.0.0.1"));
    upstreamThread = new Thread(this::serve, "big-upstream");
    upstreamThread.setDaemon(true);
    upstreamThread.start();
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("big"))))
        .build();
    Cluster cluster = Cluster.newBuilder().setName("big").setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("big")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(upstream.getLocalPort())))))))
        .build();
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("big", cluster),
        Map.of(), Map.of(), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    ProxyMetrics metrics = new ProxyMetrics();
    group = Transports.newGroup(1, "backpressure-test");
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

  /** Answers each request on a connection with BODY bytes, written as fast as it is let. */
  private void serve() {
    while (!upstream.isClosed()) {
      try (Socket socket = upstream.accept()) {
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
            StandardCharsets.ISO_8859_1));
        OutputStream out = socket.getOutputStream();
        byte[] chunk = new byte[CHUNK];
        while (true) {
          String line;
          while ((line = in.readLine()) != null && !line.isEmpty()) {
            // request headers
          }
          if (line == null) {
            break;
          }
          out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + BODY + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          for (int sent = 0; sent < BODY; sent += CHUNK) {
            out.write(chunk);
            written.addAndGet(CHUNK);
          }
          out.flush();
        }
      } catch (IOException e) {
        // the test closed the upstream or the proxy went away
      }
    }
  }

  @AfterEach
  void stop() throws Exception {
    listener.close().syncUninterruptibly();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    upstream.close();
    upstreamThread.join(5_000);
  }

  @Test
  void aClientThatStopsReadingStopsTheUpstreamAndThenGetsEveryByte() throws Exception {
    try (Socket client = new Socket()) {
      client.setReceiveBufferSize(64 << 10);
      client.connect(listener.localAddress(), 10_000);
      client.setSoTimeout(30_000);
      OutputStream out = client.getOutputStream();
      InputStream in = client.getInputStream();
      byte[] request = "GET /big HTTP/1.1\r\nHost: svc\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
      out.write(request);
      out.flush();

      // Not reading: the upstream's writes stall once the buffers on the way are full (at most
      // ~40 MiB by this machine's TCP limits), before the body's 64 MiB; without back-pressure
      // the proxy would take all of it into memory.
      long[] last = {-1};
      await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofSeconds(1))
          .until(() -> {
            long now = written.get();
            boolean stalled = now == last[0];
            last[0] = now;
            return stalled;
          });
      assertThat(last[0]).isPositive().isLessThan(BODY);

      assertThat(readResponseBody(in)).isEqualTo(BODY);
      // The upstream counts a chunk after its write returns, which can be after the client
      // read it: awaited.
      await().atMost(Duration.ofSeconds(30)).until(() -> written.get() == BODY);

      // The same keep-alive connection, through the pooled upstream connection.
      out.write(request);
      out.flush();
      assertThat(readResponseBody(in)).isEqualTo(BODY);
      await().atMost(Duration.ofSeconds(30)).until(() -> written.get() == 2L * BODY);
    }
  }

  /** Reads one response; returns how many body bytes it had (by its Content-Length). */
  private static long readResponseBody(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before the response head ended: " + head);
      }
      head.append((char) b);
    }
    assertThat(head.toString()).startsWith("HTTP/1.1 200");
    long length = Long.parseLong(head.toString().lines()
        .filter(l -> l.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:"))
        .findFirst().orElseThrow().substring("content-length:".length()).trim());
    byte[] buf = new byte[CHUNK];
    long read = 0;
    while (read < length) {
      int n = in.read(buf, 0, (int) Math.min(buf.length, length - read));
      if (n < 0) {
        break;
      }
      read += n;
    }
    return read;
  }
}
