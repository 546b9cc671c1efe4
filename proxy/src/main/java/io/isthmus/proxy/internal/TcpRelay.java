package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Raw TCP proxying (Envoy's {@code tcp_proxy}): once installed on a downstream connection, it
 * connects the upstream on the same event loop and relays bytes both ways, byte for byte, with
 * back-pressure (each side reads the next chunk only after the other side wrote the last one)
 * and half-close: when one side finishes sending, the other side's output is shut too, and the
 * connection ends once both directions are done. TLS toward the upstream (mesh mTLS with an
 * SNI) is optional; over TLS the half-close is the TCP FIN under the session (a
 * {@code close_notify} would end both directions), and a {@code close_notify} received counts
 * as the end of that side's input.
 */
final class TcpRelay extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(TcpRelay.class);
  private static final int CONNECT_TIMEOUT_MS = 5_000;

  /** Where the bytes go, and how: {@code tls} null for plaintext (the local app). */
  record Target(String host, int port, SslContext tls, String sni) {
    Target {
      requireNonNull(host, "host");
    }
  }

  private final Target target;
  private final String bindAddress;
  private final Consumer<Throwable> connectFailed;
  private final Session session = new Session();
  private final java.util.ArrayDeque<Object> pending = new java.util.ArrayDeque<>();
  private boolean inputShutBeforeStart;
  private Channel upstream;

  TcpRelay(Target target, String bindAddress, Consumer<Throwable> connectFailed) {
    this.target = requireNonNull(target, "target");
    this.bindAddress = requireNonNull(bindAddress, "bindAddress");
    this.connectFailed = requireNonNull(connectFailed, "connectFailed");
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
    if (upstream != null) {
      return;
    }
    Channel down = ctx.channel();
    down.config().setAutoRead(false);
    down.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
    Bootstrap bootstrap = new Bootstrap()
        .group(down.eventLoop())
        .channel(Transports.socketChannel())
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MS)
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (target.tls() != null) {
              SslHandler ssl = target.tls().newHandler(ch.alloc(), target.host(), target.port());
              if (target.sni() != null) {
                ServerNames.set(ssl.engine(), target.sni());
              }
              ch.pipeline().addLast(ssl);
            }
            ch.pipeline().addLast(new Pipe(down, session));
          }
        });
    var connect = bootstrap.connect(new InetSocketAddress(target.host(), target.port()),
        new InetSocketAddress(bindAddress, 0));
    upstream = connect.channel();
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
        begin(ctx, f.channel());
        return;
      }
      f.channel().read();
      ssl.handshakeFuture().addListener(h -> {
        if (h.isSuccess()) {
          begin(ctx, f.channel());
        } else {
          connectFailed.accept(h.cause());
          f.channel().close();
          down.close();
        }
      });
    });
  }

  private void begin(ChannelHandlerContext ctx, Channel up) {
    if (!ctx.channel().isActive()) {
      up.close();
      return;
    }
    Pipe pipe = new Pipe(up, session);
    Object msg;
    while ((msg = pending.poll()) != null) {
      pipe.lastWrite = up.write(msg);
    }
    up.flush();
    ctx.pipeline().replace(this, "tcp-pipe", pipe);
    if (inputShutBeforeStart) {
      pipe.inputFinished(ctx.channel());
    } else {
      ctx.channel().read();
    }
    up.read();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    // Bytes that came before the upstream was ready (with the TLS handshake's last record, or
    // held by a sniffer) wait here, in order, and go first.
    pending.add(msg);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent || evt instanceof SslCloseCompletionEvent) {
      inputShutBeforeStart = true;
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releasePending();
    if (upstream != null) {
      upstream.close();
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releasePending();
  }

  private void releasePending() {
    Object msg;
    while ((msg = pending.poll()) != null) {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  /** Both directions of one relayed connection: it ends when both have finished. */
  static final class Session {
    private int finished;

    /** One direction finished; true when it was the second. */
    boolean finishOne() {
      return ++finished == 2;
    }
  }

  /** One direction: what this channel reads, the other channel writes. */
  static final class Pipe extends ChannelInboundHandlerAdapter {
    private final Channel other;
    private final Session session;
    private boolean inputDone;
    private io.netty.channel.ChannelFuture lastWrite;

    Pipe(Channel other, Session session) {
      this.other = other;
      this.session = session;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (!other.isActive()) {
        ReferenceCountUtil.release(msg);
        ctx.close();
        return;
      }
      lastWrite = other.writeAndFlush(msg);
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
        inputFinished(ctx.channel());
        return;
      }
      ctx.fireUserEventTriggered(evt);
    }

    /** This side sent all it will: end the other side's output; close once both are done. */
    void inputFinished(Channel self) {
      if (inputDone) {
        return;
      }
      inputDone = true;
      boolean both = session.finishOne();
      // After the last write is on the wire, a TCP FIN, under TLS too: a close_notify would end
      // the peer's TLS session in both directions, and the answer still has to come back.
      io.netty.channel.ChannelFuture written = lastWrite != null ? lastWrite
          : other.newSucceededFuture();
      written.addListener(w -> {
        var done = other instanceof DuplexChannel duplex && other.isActive()
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
      if (other.isActive()) {
        other.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      log.debug("tcp relay {}: {}", ctx.channel().remoteAddress(), cause.toString());
      ctx.close();
    }
  }
}
