package io.isthmus.proxy.internal.dns;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.timeout.ReadTimeoutException;

/**
 * The DNS port over TCP (RFC 7766): length-prefixed messages, framed before this handler; several
 * queries may share a connection and their answers may come back in any order.
 */
final class TcpDnsHandler extends SimpleChannelInboundHandler<ByteBuf> {

  private final DnsQueryProcessor processor;

  TcpDnsHandler(DnsQueryProcessor processor) {
    this.processor = processor;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, ByteBuf message) {
    processor.handle(ctx, message.retain(), false, answer -> {
      if (ctx.channel().isActive()) {
        ctx.writeAndFlush(answer);
      } else {
        answer.release();
      }
    });
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof io.netty.handler.codec.DecoderException) {
      processor.malformed("tcp");
    }
    if (!(cause instanceof ReadTimeoutException)) {
      DnsServer.log.debug("DNS TCP connection from {} closed: {}", ctx.channel().remoteAddress(),
          cause.toString());
    }
    ctx.close();
  }
}
