package io.isthmus.gateway;

import io.isthmus.proxy.internal.Transports;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;

/**
 * The first handler of a connection to a carried controller port ({@link ControllerRoute}):
 * connects to the controller on the same port, from the gateway's address, on the connection's
 * own event loop, then replaces itself with a {@link TcpRelay} each way. Nothing is read from the
 * client before the upstream is up (auto-read is off), so no byte needs buffering. An unreachable
 * controller closes the client at once, counted as {@code controller_unreachable}.
 */
final class ControllerRelay extends ChannelInboundHandlerAdapter {

  static final String SERVICE = "istiod.istio-system.svc.cluster.local";
  private static final int CONNECT_TIMEOUT_MS = 5_000;

  private final InetSocketAddress controller;
  private final String bindAddress;
  private final TcpMetrics tcp;
  private final Rejected rejected;

  /** Where a refused connection is reported: reason, client, detail. */
  interface Rejected {
    void rejected(String reason, Channel client, String detail);
  }

  ControllerRelay(InetSocketAddress controller, String bindAddress, TcpMetrics tcp, Rejected rejected) {
    this.controller = controller;
    this.bindAddress = bindAddress;
    this.tcp = tcp;
    this.rejected = rejected;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    Channel downstream = ctx.channel();
    new Bootstrap()
        .group(downstream.eventLoop())
        .channel(Transports.socketChannel(downstream.eventLoop()))
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MS)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .handler(new TcpRelay(downstream, tcp.sent()::increment))
        .connect(controller, new InetSocketAddress(bindAddress, 0))
        .addListener((ChannelFutureListener) f -> {
          if (!f.isSuccess()) {
            rejected.rejected("controller_unreachable", downstream,
                "connect to the controller " + controller + ": " + f.cause());
            downstream.close();
            return;
          }
          Channel upstream = f.channel();
          if (!downstream.isActive()) {
            upstream.close();
            return;
          }
          tcp.opened().increment();
          upstream.closeFuture().addListener(c -> tcp.closed().increment());
          downstream.closeFuture().addListener(c -> upstream.close());
          ctx.pipeline().replace(this, "relay", new TcpRelay(upstream, tcp.received()::increment));
        });
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    // Auto-read is off until the relay replaces this handler; a stray read has nowhere to go.
    ReferenceCountUtil.release(msg);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
