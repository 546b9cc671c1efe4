package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The PROXY protocol header an upstream connection starts with (Envoy's
 * {@code envoy.transport_sockets.upstream_proxy_protocol}, a DestinationRule's
 * {@code proxyProtocol}): the downstream connection's client address and the address it was
 * made to, in version 1 (text) or 2 (binary). Written once, as soon as the connection is up,
 * before any other byte (a TLS handshake included); then the handler and its encoder leave the
 * pipeline. Addresses that are not both IPv4 or both IPv6 go as {@code UNKNOWN} (v1) or
 * {@code LOCAL} (v2), as Envoy sends them.
 *
 * @param version     the protocol version
 * @param source      the downstream client's address
 * @param destination the address the downstream connection was made to
 */
record ProxyProtocolHeader(HAProxyProtocolVersion version, SocketAddress source,
    SocketAddress destination) {

  ProxyProtocolHeader {
    requireNonNull(version, "version");
  }

  /** Adds the header's writer at the head of {@code pipeline}, before TLS and the codecs. */
  void install(ChannelPipeline pipeline) {
    pipeline.addFirst("proxy-protocol", new Writer(this));
    pipeline.addFirst("proxy-protocol-encoder", HAProxyMessageEncoder.INSTANCE);
  }

  /** The message to encode; the encoder releases it. */
  HAProxyMessage message() {
    if (source instanceof InetSocketAddress src && destination instanceof InetSocketAddress dst
        && !src.isUnresolved() && !dst.isUnresolved()
        && (src.getAddress() instanceof Inet4Address) == (dst.getAddress() instanceof Inet4Address)) {
      HAProxyProxiedProtocol family = src.getAddress() instanceof Inet4Address
          ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6;
      return new HAProxyMessage(version, HAProxyCommand.PROXY, family,
          src.getAddress().getHostAddress(), dst.getAddress().getHostAddress(), src.getPort(),
          dst.getPort());
    }
    return new HAProxyMessage(version, version == HAProxyProtocolVersion.V1
        ? HAProxyCommand.PROXY : HAProxyCommand.LOCAL, HAProxyProxiedProtocol.UNKNOWN, null, null,
        0, 0);
  }

  /**
   * Sends the header before the first byte anyone writes, or when the connection becomes active
   * if nothing was written by then (a protocol whose server speaks first). Both, not one: the
   * relay writes its request from the connect promise's listener, before channelActive.
   */
  private static final class Writer extends ChannelDuplexHandler {
    private final ProxyProtocolHeader header;
    private boolean sent;

    Writer(ProxyProtocolHeader header) {
      this.header = header;
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      send(ctx, false);
      ctx.write(msg, promise);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      send(ctx, true);
      ctx.fireChannelActive();
    }

    private void send(ChannelHandlerContext ctx, boolean flush) {
      if (sent) {
        return;
      }
      sent = true;
      // Toward the head, where only the encoder is.
      var written = flush ? ctx.writeAndFlush(header.message()) : ctx.write(header.message());
      written.addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
      ctx.pipeline().remove(HAProxyMessageEncoder.INSTANCE);
      ctx.pipeline().remove(this);
    }
  }
}
