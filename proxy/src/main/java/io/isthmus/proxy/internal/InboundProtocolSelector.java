package io.isthmus.proxy.internal;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import java.util.function.Supplier;

/**
 * After the inbound mTLS handshake, builds the pipeline for the protocol ALPN chose: HTTP/2
 * (one child channel per stream, each with its own inbound handler) or HTTP/1.1, the
 * fallback for peers that offer no ALPN; on a TCP port, raw bytes to the app whatever ALPN
 * says.
 */
final class InboundProtocolSelector extends ApplicationProtocolNegotiationHandler {

  private final Supplier<ChannelHandler> handler;
  private final ProxyMetrics metrics;
  private final Supplier<ChannelHandler> tcp;

  /** {@code tcp} non-null: the port is raw TCP, relayed by what it supplies after mTLS. */
  InboundProtocolSelector(Supplier<ChannelHandler> handler,
      ProxyMetrics metrics, Supplier<ChannelHandler> tcp) {
    super(ApplicationProtocolNames.HTTP_1_1);
    this.handler = handler;
    this.metrics = metrics;
    this.tcp = tcp;
  }

  /** What relays a TCP port's bytes, or null for an HTTP port. */
  Supplier<ChannelHandler> tcp() {
    return tcp;
  }

  @Override
  protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
    if (tcp != null) {
      ctx.pipeline().addLast(tcp.get());
    } else if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
      Http2Pipelines.server(ctx.pipeline(), handler, metrics, "inbound");
    } else {
      ctx.pipeline().addLast(new HttpServerCodec(), new BodilessRequests(), handler.get());
    }
  }

  @Override
  protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
    // HandshakeGate counts and logs it.
    ctx.close();
  }
}
