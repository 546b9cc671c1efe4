package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One direction of a raw byte relay (a {@code tcp_proxy} connection, an upgraded WebSocket): what
 * this channel reads, the other channel writes. Back-pressure: the next chunk is read only after
 * the other side wrote the last one (the channel runs with auto-read off). Half-close: when this
 * side has sent all it will (its input shut, or a {@code close_notify} received), the other side's
 * output is shut once the last write is on the wire, with a TCP FIN, under TLS too, since a
 * {@code close_notify} would end the peer's TLS session in both directions while the answer still
 * has to come back; the connection ends once both directions of its {@link Session} finished. An
 * {@link IdleStateEvent} (from an idle handler in front) closes both.
 *
 * <p>A pipe made {@linkplain #holding holding} keeps what arrives until {@link #begin}: the bytes
 * a client sent while the other side was still connecting or upgrading. Objects that are not bytes
 * (an HTTP codec's last message before it left the pipeline) are dropped.
 */
final class BytePipe extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(BytePipe.class);

  /** Both directions of one relayed connection: it ends when both have finished. */
  static final class Session {
    private int finished;

    /** One direction finished; true when it was the second. */
    boolean finishOne() {
      return ++finished == 2;
    }
  }

  private final Channel other;
  private final Session session;
  private final String side;
  private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private ChannelFuture lastWrite;
  private boolean started;
  private boolean inputShutBeforeStart;
  private boolean inputDone;

  private BytePipe(Channel other, Session session, String side, boolean started) {
    this.other = requireNonNull(other, "other");
    this.session = requireNonNull(session, "session");
    this.side = requireNonNull(side, "side");
    this.started = started;
  }

  /** A pipe that relays from the first byte it reads. */
  static BytePipe relaying(Channel other, Session session, String side) {
    return new BytePipe(other, session, side, true);
  }

  /** A pipe that holds what it reads until {@link #begin}. */
  static BytePipe holding(Channel other, Session session, String side) {
    return new BytePipe(other, session, side, false);
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  /** Relays what was held, then reads; a holding pipe's input that already ended ends now. */
  void begin() {
    if (started || ctx == null || ctx.isRemoved()) {
      return;
    }
    started = true;
    ByteBuf held;
    while ((held = pending.poll()) != null) {
      lastWrite = other.write(held);
    }
    other.flush();
    if (inputShutBeforeStart) {
      inputFinished(ctx.channel());
    } else {
      ctx.read();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf buf)) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (!started) {
      pending.add(buf);
      return;
    }
    if (!other.isActive()) {
      buf.release();
      ctx.close();
      return;
    }
    lastWrite = other.writeAndFlush(buf);
    lastWrite.addListener((ChannelFutureListener) f -> {
      if (f.isSuccess()) {
        ctx.read();
      } else {
        ctx.close();
        other.close();
      }
    });
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent || evt instanceof SslCloseCompletionEvent) {
      if (started) {
        inputFinished(ctx.channel());
      } else {
        inputShutBeforeStart = true;
      }
      return;
    }
    if (evt instanceof IdleStateEvent) {
      log.debug("relayed connection {} idle, closing", ctx.channel().remoteAddress());
      ctx.close();
      other.close();
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  private void inputFinished(Channel self) {
    if (inputDone) {
      return;
    }
    inputDone = true;
    boolean both = session.finishOne();
    ChannelFuture written = lastWrite != null ? lastWrite : other.newSucceededFuture();
    written.addListener(w -> {
      ChannelFuture done = other instanceof DuplexChannel duplex && other.isActive()
          ? duplex.shutdownOutput() : other.close();
      done.addListener(f -> {
        if (both || !f.isSuccess()) {
          self.close();
          other.close();
        }
      });
    });
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releasePending();
    if (other.isActive()) {
      other.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releasePending();
  }

  private void releasePending() {
    ByteBuf held;
    while ((held = pending.poll()) != null) {
      held.release();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("relayed connection, {} side {}: {}", side, ctx.channel().remoteAddress(),
        cause.toString());
    ctx.close();
  }
}
