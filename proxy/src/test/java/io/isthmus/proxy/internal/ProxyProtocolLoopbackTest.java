package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A DestinationRule's {@code proxyProtocol}, as the controller sends it (the cluster's transport
 * socket wrapped in {@code envoy.transport_sockets.upstream_proxy_protocol}), on real loopback
 * sockets: each upstream connection starts with a PROXY protocol header, v1 or v2, naming the
 * downstream client's address and the address it connected to, which an upstream decodes with
 * Netty's {@link HAProxyMessageDecoder}; pooled HTTP connections are not shared between clients.
 */
class ProxyProtocolLoopbackTest {

  /** What the upstream decoded from one connection's header. */
  record Seen(HAProxyProtocolVersion version, String source, int sourcePort, String destination,
      int destinationPort) {}

  private final List<Seen> seen = new CopyOnWriteArrayList<>();
  private EventLoopGroup group;
  private Channel upstream;
  private Channel listener;

  @AfterEach
  void stop() {
    if (listener != null) {
      listener.close().syncUninterruptibly();
    }
    if (upstream != null) {
      upstream.close().syncUninterruptibly();
    }
    if (group != null) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @ParameterizedTest
  @EnumSource(value = ProxyProtocolConfig.Version.class, names = {"V1", "V2"})
  void eachHttpUpstreamConnectionStartsWithItsClientsAddresses(ProxyProtocolConfig.Version version)
      throws Exception {
    group = Transports.newGroup(1, "proxy-protocol-test");
    startUpstream(true);
    startHttpProxy(proxyProtocol(version, rawBuffer()));
    try (Socket a = client(); Socket b = client()) {
      assertThat(get(a)).isEqualTo("ok");
      assertThat(get(a)).isEqualTo("ok");
      assertThat(get(b)).isEqualTo("ok");
      // One connection per client (the second request of a reuses its own), each with its header.
      await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 2);
      HAProxyProtocolVersion expected = version == ProxyProtocolConfig.Version.V1
          ? HAProxyProtocolVersion.V1 : HAProxyProtocolVersion.V2;
      int proxyPort = ((InetSocketAddress) listener.localAddress()).getPort();
      assertThat(seen).containsExactlyInAnyOrder(
          new Seen(expected, "127.0.0.1", a.getLocalPort(), "127.0.0.1", proxyPort),
          new Seen(expected, "127.0.0.1", b.getLocalPort(), "127.0.0.1", proxyPort));
    }
  }

  @Test
  void aTcpRelayStartsWithTheHeaderThenRelaysTheBytes() throws Exception {
    group = Transports.newGroup(1, "proxy-protocol-tcp-test");
    startUpstream(false);
    int upstreamPort = ((InetSocketAddress) upstream.localAddress()).getPort();
    listener = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new TcpRelay(new TcpRelay.Target("127.0.0.1", upstreamPort, null, null,
                java.util.List.of(), HAProxyProtocolVersion.V2), "127.0.0.1", cause -> { }));
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
    try (Socket client = client()) {
      client.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
      client.getOutputStream().flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(),
          StandardCharsets.US_ASCII));
      assertThat(in.readLine()).isEqualTo("hello");
      assertThat(seen).containsExactly(new Seen(HAProxyProtocolVersion.V2, "127.0.0.1",
          client.getLocalPort(), "127.0.0.1", ((InetSocketAddress) listener.localAddress()).getPort()));
    }
  }

  /** An upstream that decodes the PROXY header, then answers HTTP/1.1 or echoes bytes. */
  private void startUpstream(boolean http) throws InterruptedException {
    upstream = new ServerBootstrap().group(group).channel(Transports.serverChannel())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HAProxyMessageDecoder(), new ChannelInboundHandlerAdapter() {
              @Override
              public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof HAProxyMessage header) {
                  seen.add(new Seen(header.protocolVersion(), header.sourceAddress(),
                      header.sourcePort(), header.destinationAddress(), header.destinationPort()));
                  header.release();
                  return;
                }
                ctx.fireChannelRead(msg);
              }
            });
            if (http) {
              ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                  new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                      ((FullHttpRequest) msg).release();
                      var response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                          HttpResponseStatus.OK, Unpooled.copiedBuffer("ok", StandardCharsets.US_ASCII));
                      response.headers().set(HttpHeaderNames.CONTENT_LENGTH, 2);
                      ctx.writeAndFlush(response);
                    }
                  });
            } else {
              ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                  ctx.writeAndFlush((ByteBuf) msg).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
                }
              });
            }
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  private void startHttpProxy(TransportSocket socket) throws Exception {
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("*")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("app"))))
        .build();
    Cluster cluster = cluster(socket, ((InetSocketAddress) upstream.localAddress()).getPort());
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of("app", cluster),
        Map.of(), Map.of(), Map.of("80", routes), Map.of(), Map.of()));
    ClusterRuntimes runtimes = new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(7));
    runtimes.update(config);
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    HttpRelay relay = new HttpRelay("127.0.0.1");
    ProxyMetrics metrics = new ProxyMetrics();
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

  private static Cluster cluster(TransportSocket socket, int port) {
    return Cluster.newBuilder().setName("app")
        .setType(Cluster.DiscoveryType.STATIC)
        .setTransportSocket(socket)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("app")
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1")
                        .setPortValue(port)))))))
        .build();
  }

  private static TransportSocket proxyProtocol(ProxyProtocolConfig.Version version,
      TransportSocket inner) {
    return TransportSocket.newBuilder().setName("envoy.transport_sockets.upstream_proxy_protocol")
        .setTypedConfig(Any.pack(ProxyProtocolUpstreamTransport.newBuilder()
            .setConfig(ProxyProtocolConfig.newBuilder().setVersion(version))
            .setTransportSocket(inner).build()))
        .build();
  }

  private static TransportSocket rawBuffer() {
    return TransportSocket.newBuilder().setName("envoy.transport_sockets.raw_buffer")
        .setTypedConfig(Any.pack(RawBuffer.getDefaultInstance())).build();
  }

  private Socket client() throws IOException {
    InetSocketAddress at = (InetSocketAddress) listener.localAddress();
    Socket socket = new Socket("127.0.0.1", at.getPort());
    socket.setSoTimeout(10_000);
    return socket;
  }

  /** One GET over {@code socket}'s keep-alive connection; the body. */
  private static String get(Socket socket) throws IOException {
    socket.getOutputStream().write(("GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    socket.getOutputStream().flush();
    var in = socket.getInputStream();
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("closed after " + head);
      }
      head.append((char) c);
    }
    int length = Integer.parseInt(head.toString().replaceAll("(?is).*content-length:\\s*(\\d+).*", "$1"));
    String body = new String(in.readNBytes(length), StandardCharsets.US_ASCII);
    assertThat(head.toString()).as(body).startsWith("HTTP/1.1 200");
    return body;
  }
}
