package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.isthmus.proxy.testing.RawHttp;
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
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The downstream HTTP/1.1 connection keeps reading while its request is relayed (no
 * {@code epoll_ctl} pair per request), yet requests are still answered one at a time and in
 * order: pipelined requests wait in {@link RequestGate}, and a client that half-closes after
 * its request still gets the answer. Real sockets on loopback, through the real relay.
 */
class RequestGateLoopbackTest {

  private ServerSocket upstream;
  private Thread upstreamThread;
  /** Counted down by the upstream when a request arrived; the test then opens {@link #answer}. */
  private volatile CountDownLatch arrived = new CountDownLatch(0);
  private volatile CountDownLatch answer = new CountDownLatch(0);
  private final AtomicReference<Channel> accepted = new AtomicReference<>();
  private EventLoopGroup group;
  private Channel listener;

  @BeforeEach
  void start() throws Exception {
    upstream = new ServerSocket(0, 16, InetAddress.getByName("127.0.0.1"));
    upstreamThread = new Thread(this::serve, "gate-upstream");
    upstreamThread.setDaemon(true);
    upstreamThread.start();
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("app"))))
        .build();
    Cluster cluster = Cluster.newBuilder().setName("app").setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("app")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(upstream.getLocalPort())))))))
        .build();
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("app", cluster),
        Map.of(), Map.of(), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    ProxyMetrics metrics = new ProxyMetrics();
    group = Transports.newGroup(1, "gate-test");
    listener = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            accepted.set(ch);
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                new RequestGate(), new OutboundHandler(() -> config, tls, relay, metrics,
                    new WorkloadInfo("curl", "sample", "west"), runtimes));
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  /** Answers each request with its path as the body, once {@link #answer} is open. */
  private void serve() {
    while (!upstream.isClosed()) {
      try (Socket socket = upstream.accept()) {
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
            StandardCharsets.ISO_8859_1));
        OutputStream out = socket.getOutputStream();
        while (true) {
          String requestLine = in.readLine();
          if (requestLine == null) {
            break;
          }
          String line;
          while ((line = in.readLine()) != null && !line.isEmpty()) {
            // request headers
          }
          arrived.countDown();
          answer.await(30, TimeUnit.SECONDS);
          byte[] body = requestLine.split(" ")[1].getBytes(StandardCharsets.US_ASCII);
          out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          out.write(body);
          out.flush();
        }
      } catch (IOException e) {
        // the test closed the upstream or the proxy went away
      } catch (InterruptedException e) {
        return;
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
  void theConnectionKeepsReadingWhileItsRequestIsRelayed() throws Exception {
    try (Socket client = connect()) {
      arrived = new CountDownLatch(1);
      answer = new CountDownLatch(1);
      client.getOutputStream().write(request("/one"));
      assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
      // The request is at the upstream, its answer not back: reads were not switched off.
      assertThat(group.submit(() -> accepted.get().config().isAutoRead()).get()).isTrue();
      answer.countDown();
      assertThat(readBodies(client.getInputStream(), 1)).containsExactly("/one");
      assertThat(group.submit(() -> accepted.get().config().isAutoRead()).get()).isTrue();
    }
  }

  @Test
  void pipelinedRequestsAreAnsweredOneAtATimeInOrder() throws Exception {
    try (Socket client = connect()) {
      arrived = new CountDownLatch(1);
      answer = new CountDownLatch(1);
      OutputStream out = client.getOutputStream();
      out.write(concat(request("/a"), request("/b"), request("/c")));
      out.flush();
      assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
      // Two requests wait behind the first: the socket stops reading until their turn.
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() ->
          !group.submit(() -> accepted.get().config().isAutoRead()).get());
      answer.countDown();
      assertThat(readBodies(client.getInputStream(), 3)).containsExactly("/a", "/b", "/c");
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() ->
          group.submit(() -> accepted.get().config().isAutoRead()).get());
    }
  }

  @Test
  void aClientThatHalfClosesAfterItsRequestGetsTheAnswerThenTheClose() throws Exception {
    try (Socket client = connect()) {
      arrived = new CountDownLatch(1);
      answer = new CountDownLatch(1);
      client.getOutputStream().write(request("/half"));
      client.shutdownOutput();
      assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
      answer.countDown();
      InputStream in = client.getInputStream();
      assertThat(readBodies(in, 1)).containsExactly("/half");
      assertThat(in.read()).as("closed once answered").isEqualTo(-1);
    }
  }

  @Test
  void onlyASuccessfulCloseNotifyEndsTheInputNotAnSslHandlerRemovedBeforeItsHandshake() {
    io.netty.channel.embedded.EmbeddedChannel ch =
        new io.netty.channel.embedded.EmbeddedChannel(new RequestGate());
    // What removing the SslHandler of a plaintext port fires: the connection must stay open.
    ch.pipeline().fireUserEventTriggered(new io.netty.handler.ssl.SslCloseCompletionEvent(
        new javax.net.ssl.SSLException("SslHandler removed before handshake completed")));
    assertThat(ch.isOpen()).isTrue();
    ch.pipeline().fireUserEventTriggered(io.netty.handler.ssl.SslCloseCompletionEvent.SUCCESS);
    assertThat(ch.isOpen()).as("the peer's close_notify while idle").isFalse();
  }

  private Socket connect() throws IOException {
    return RawHttp.connect((InetSocketAddress) listener.localAddress(), Duration.ofSeconds(10));
  }

  private static byte[] request(String path) {
    return ("GET " + path + " HTTP/1.1\r\nHost: svc\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] concat(byte[]... parts) {
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    for (byte[] part : parts) {
      all.writeBytes(part);
    }
    return all.toByteArray();
  }

  /** Reads {@code count} responses, each a 200; returns their bodies (by Content-Length). */
  private static List<String> readBodies(InputStream in, int count) throws IOException {
    List<String> bodies = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      RawHttp.Response response = RawHttp.readResponse(in);
      assertThat(response.status()).isEqualTo(200);
      bodies.add(response.body());
    }
    return bodies;
  }
}
