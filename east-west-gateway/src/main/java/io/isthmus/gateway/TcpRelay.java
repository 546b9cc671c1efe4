package io.isthmus.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.function.LongConsumer;

/**
 * Copies bytes from this channel to {@code peer}, reading the next chunk only after the
 * previous write succeeded (both channels run with autoRead off). Closes the peer, after
 * flushing, when this side closes. Every byte read on this side is reported to {@code bytes}
 * (the gateway's TCP byte counters).
 */
final class TcpRelay extends ChannelInboundHandlerAdapter {

  private final Channel peer;
  private final LongConsumer bytes;

  TcpRelay(Channel peer, LongConsumer bytes) {
    this.peer = peer;
    this.bytes = bytes;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      ctx.read();
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    ctx.read();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!peer.isActive()) {
      ReferenceCountUtil.release(msg);
      ctx.close();
      return;
    }
    if (msg instanceof ByteBuf buf) {
      bytes.accept(buf.readableBytes());
    }
    peer.writeAndFlush(msg).addListener((ChannelFutureListener) f -> {
      if (f.isSuccess()) {
        ctx.read();
      } else {
        f.channel().close();
        ctx.close();
      }
    });
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closeOnFlush(peer);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    closeOnFlush(ctx.channel());
  }

  static void closeOnFlush(Channel ch) {
    if (ch.isActive()) {
      ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
  }
}
