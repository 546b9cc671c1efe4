package io.isthmus.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Holds the first bytes of a connection until the TLS ClientHello's SNI is known, then
 * fires {@link Sniffed} and removes itself, passing every buffered byte on untouched. Not
 * TLS, no SNI, malformed, too large or too slow: reports the reason and closes at once.
 */
final class SniSniffer extends ByteToMessageDecoder {

  /** User event: the ClientHello named this server. */
  record Sniffed(String serverName) {}

  private final long timeoutMillis;
  private final Consumer<String> onReject;
  private ScheduledFuture<?> timeout;
  private boolean decided;

  SniSniffer(long timeoutMillis, Consumer<String> onReject) {
    this.timeoutMillis = timeoutMillis;
    this.onReject = onReject;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    timeout = ctx.executor().schedule(() -> reject(ctx, "timeout"), timeoutMillis,
        TimeUnit.MILLISECONDS);
  }

  @Override
  protected void handlerRemoved0(ChannelHandlerContext ctx) {
    if (timeout != null) {
      timeout.cancel(false);
    }
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (decided) {
      in.skipBytes(in.readableBytes());
      return;
    }
    ClientHelloParser.Result result = ClientHelloParser.parse(in);
    if (result instanceof ClientHelloParser.Result.Found found) {
      decided = true;
      ctx.fireUserEventTriggered(new Sniffed(found.serverName()));
      // Removing a decoder hands its buffered bytes to the next handler.
      ctx.pipeline().remove(this);
    } else if (result instanceof ClientHelloParser.Result.Rejected rejected) {
      in.skipBytes(in.readableBytes());
      reject(ctx, rejected.reason());
    }
  }

  private void reject(ChannelHandlerContext ctx, String reason) {
    if (decided) {
      return;
    }
    decided = true;
    onReject.accept(reason);
    ctx.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    if (timeout != null) {
      timeout.cancel(false);
    }
    super.channelInactive(ctx);
  }
}
