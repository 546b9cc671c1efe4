package io.isthmus.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import java.util.function.Consumer;

/**
 * Closes a downstream connection that carried no byte either way for the idle timeout (the
 * {@link io.netty.handler.timeout.IdleStateHandler} before it decides when). Upstream bytes are
 * written to this channel, so one idle check here covers both directions; closing it closes
 * the upstream through the relay.
 */
final class IdleCloser extends ChannelInboundHandlerAdapter {

  private final Consumer<ChannelHandlerContext> onIdle;

  IdleCloser(Consumer<ChannelHandlerContext> onIdle) {
    this.onIdle = onIdle;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof IdleStateEvent) {
      onIdle.accept(ctx);
      ctx.close();
      return;
    }
    super.userEventTriggered(ctx, evt);
  }
}
