package io.isthmus.proxy.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes an inbound connection whose mTLS handshake failed (plaintext, no client
 * certificate, untrusted or non-SPIFFE peer) and reports why; reports a successful handshake
 * (one per connection: a handshake per request would mean connections are not reused) and
 * removes itself.
 */
final class HandshakeGate extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(HandshakeGate.class);
  private final Consumer<Throwable> onFailure;
  private final Runnable onSuccess;

  HandshakeGate(Consumer<Throwable> onFailure) {
    this(onFailure, () -> { });
  }

  HandshakeGate(Consumer<Throwable> onFailure, Runnable onSuccess) {
    this.onFailure = onFailure;
    this.onSuccess = onSuccess;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof SslHandshakeCompletionEvent done) {
      if (done.isSuccess()) {
        onSuccess.run();
        ctx.pipeline().remove(this);
      } else {
        log.debug("inbound handshake from {} failed: {}", ctx.channel().remoteAddress(),
            done.cause().toString());
        onFailure.accept(done.cause());
        ctx.close();
        return;
      }
    }
    super.userEventTriggered(ctx, evt);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // SslHandler reports a failed handshake both ways; the event above does the counting.
    ctx.close();
  }
}
