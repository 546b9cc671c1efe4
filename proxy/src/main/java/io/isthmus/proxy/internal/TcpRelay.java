package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.isthmus.proxy.policy.TcpRoute;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Raw TCP proxying (Envoy's {@code tcp_proxy}): once installed on a downstream connection, it
 * connects the upstream on the same event loop, then leaves the relay to a {@link BytePipe} per
 * direction (back-pressure, half-close), and itself leaves the pipeline. TLS toward the upstream
 * (mesh mTLS with an SNI) is optional. A connection with no byte either way for its idle timeout
 * (Envoy's {@code tcp_proxy.idle_timeout}, 1 h unless set) is closed on both sides.
 */
final class TcpRelay extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(TcpRelay.class);

  /**
   * Where the bytes go, and how: {@code tls} null for plaintext (the local app); with TLS, the
   * SPIFFE IDs that may answer ({@link UpstreamIdentity}; empty: any the context trusts); the
   * cluster's connect timeout, for the TCP connect and the TLS handshake each;
   * {@code proxyProtocol} not null to start with a PROXY protocol header carrying the downstream
   * connection's addresses.
   */
  record Target(String host, int port, SslContext tls, String sni, java.util.List<String> peerIdentities,
      java.time.Duration connectTimeout, HAProxyProtocolVersion proxyProtocol) {
    Target {
      requireNonNull(host, "host");
      peerIdentities = java.util.List.copyOf(peerIdentities);
      requireNonNull(connectTimeout, "connectTimeout");
    }

    Target(String host, int port, SslContext tls, String sni, java.util.List<String> peerIdentities,
        java.time.Duration connectTimeout) {
      this(host, port, tls, sni, peerIdentities, connectTimeout, null);
    }

    Target(String host, int port, SslContext tls, String sni, java.util.List<String> peerIdentities,
        HAProxyProtocolVersion proxyProtocol) {
      this(host, port, tls, sni, peerIdentities, UpstreamConnections.DEFAULT_CONNECT_TIMEOUT, proxyProtocol);
    }

    Target(String host, int port, SslContext tls, String sni) {
      this(host, port, tls, sni, java.util.List.of(), UpstreamConnections.DEFAULT_CONNECT_TIMEOUT, null);
    }

    int connectTimeoutMillis() {
      return (int) Math.max(1, Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()));
    }
  }

  private final Target target;
  private final String bindAddress;
  private final Consumer<Throwable> connectFailed;
  private final java.time.Duration idleTimeout;
  private final RelayHooks limits;
  private boolean started;
  private Channel upstream;

  /** With Envoy's default idle timeout ({@link TcpRoute#DEFAULT_IDLE_TIMEOUT}, 1 h). */
  TcpRelay(Target target, String bindAddress, Consumer<Throwable> connectFailed) {
    this(target, bindAddress, connectFailed, TcpRoute.DEFAULT_IDLE_TIMEOUT);
  }

  /**
   * @param idleTimeout the connection is closed, both sides, after this long without a byte
   *     either way ({@code tcp_proxy.idle_timeout}); zero for never
   */
  TcpRelay(Target target, String bindAddress, Consumer<Throwable> connectFailed,
      java.time.Duration idleTimeout) {
    this(target, bindAddress, connectFailed, idleTimeout, RelayHooks.NONE);
  }

  /**
   * @param limits the upstream cluster's circuit breakers: each relayed connection holds a
   *     {@code max_connections} slot until its upstream closes; over the limit the downstream
   *     connection is closed at once (Envoy's {@code tcp_proxy}, {@code upstream_cx_overflow})
   */
  TcpRelay(Target target, String bindAddress, Consumer<Throwable> connectFailed,
      java.time.Duration idleTimeout, RelayHooks limits) {
    this.target = requireNonNull(target, "target");
    this.bindAddress = requireNonNull(bindAddress, "bindAddress");
    this.connectFailed = requireNonNull(connectFailed, "connectFailed");
    this.idleTimeout = requireNonNull(idleTimeout, "idleTimeout");
    this.limits = requireNonNull(limits, "limits");
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      start(ctx);
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    start(ctx);
    ctx.fireChannelActive();
  }

  private void start(ChannelHandlerContext ctx) {
    if (started) {
      return;
    }
    started = true;
    Channel down = ctx.channel();
    if (!limits.tryAcquireConnection()) {
      log.debug("tcp upstream {}:{}: max_connections overflow, connection closed", target.host(),
          target.port());
      down.close();
      return;
    }
    down.config().setAutoRead(false);
    down.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
    BytePipe.Session session = new BytePipe.Session();
    Bootstrap bootstrap = new Bootstrap()
        .group(down.eventLoop())
        .channel(Transports.socketChannel(down.eventLoop()))
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, target.connectTimeoutMillis())
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (target.proxyProtocol() != null) {
              new ProxyProtocolHeader(target.proxyProtocol(), down.remoteAddress(),
                  down.localAddress()).install(ch.pipeline());
            }
            if (target.tls() != null) {
              SslHandler ssl = target.tls().newHandler(ch.alloc(), target.host(), target.port());
              ssl.setHandshakeTimeoutMillis(target.connectTimeoutMillis());
              if (target.sni() != null) {
                ServerNames.set(ssl.engine(), target.sni());
              }
              ch.pipeline().addLast(ssl);
            }
            ch.pipeline().addLast(BytePipe.relaying(down, session, "upstream"));
          }
        });
    var connect = bootstrap.connect(new InetSocketAddress(target.host(), target.port()),
        new InetSocketAddress(bindAddress, 0));
    upstream = connect.channel();
    upstream.closeFuture().addListener(f -> limits.connectionClosed());
    // Bytes that come before the upstream is ready (with the TLS handshake's last record, or
    // held by a sniffer) wait in the pipe, in order, and go first.
    BytePipe fromDown = BytePipe.holding(upstream, session, "downstream");
    ctx.pipeline().addAfter(ctx.name(), "tcp-pipe", fromDown);
    if (!idleTimeout.isZero()) {
      // Every byte either way crosses the downstream channel (read from it, or written to it), so
      // its idleness is the connection's; the pipe closes both sides on the event.
      ctx.pipeline().addBefore(ctx.name(), "tcp-idle",
          new IdleStateHandler(0, 0, idleTimeout.toNanos(), TimeUnit.NANOSECONDS));
    }
    connect.addListener((ChannelFutureListener) f -> {
      if (!f.isSuccess()) {
        log.debug("tcp upstream {}:{} failed: {}", target.host(), target.port(),
            f.cause().toString());
        connectFailed.accept(f.cause());
        down.close();
        return;
      }
      SslHandler ssl = f.channel().pipeline().get(SslHandler.class);
      if (ssl == null) {
        begin(ctx, fromDown, f.channel());
        return;
      }
      f.channel().read();
      ssl.handshakeFuture().addListener(h -> {
        Throwable refused = h.isSuccess()
            ? UpstreamIdentity.check(ssl.engine().getSession(), target.peerIdentities()) : h.cause();
        if (refused == null) {
          begin(ctx, fromDown, f.channel());
        } else {
          connectFailed.accept(refused);
          f.channel().close();
          down.close();
        }
      });
    });
  }

  private void begin(ChannelHandlerContext ctx, BytePipe fromDown, Channel up) {
    if (!ctx.channel().isActive()) {
      up.close();
      return;
    }
    ctx.pipeline().remove(this);
    fromDown.begin();
    up.read();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (upstream != null) {
      upstream.close();
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
