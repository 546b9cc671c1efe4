package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.internal.telemetry.HttpTelemetryHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/1.1 upgrades (WebSocket), as Envoy's connection manager does them with
 * {@code upgrade_configs: [{upgrade_type: websocket}]}: the upgrade request is routed, authorized,
 * limited and counted like any request and sent upstream over HTTP/1.1; when the upstream answers
 * {@code 101 Switching Protocols}, {@link #start} relays the 101 downstream and turns both
 * connections into a raw byte relay for the rest of their lives: no HTTP handler is left in
 * either pipeline, each side reads its next chunk only after the other side wrote the last one,
 * a half-close travels through (the TCP FIN, as {@link TcpRelay} does it), and a tunnel with no
 * byte either way for the idle timeout is closed. Any other answer is an ordinary response.
 *
 * <p>An upgrade request whose connection manager does not enable its type is refused with 403,
 * as Envoy refuses it ({@code response_code_details: upgrade_failed}). The decision is made once
 * per request, from one header lookup, so plain requests pay nothing else. Everything happens on
 * the downstream channel's event loop, which the upstream channel shares.
 */
final class UpgradeRelay {

  private static final Logger log = LoggerFactory.getLogger(UpgradeRelay.class);

  /** The upgrade type Istio enables on every HTTP connection manager. */
  static final String WEBSOCKET = "websocket";

  /**
   * Envoy's {@code stream_idle_timeout} default: an upgraded stream with no byte either way for
   * this long is closed.
   */
  static final Duration IDLE_TIMEOUT = Duration.ofMinutes(5);

  private UpgradeRelay() {}

  /**
   * The upgrade {@code request} asks for (its {@code Upgrade} header, lower-cased), or null when it
   * is a plain request: an HTTP/2 stream never upgrades (RFC 9113 forbids the header), and
   * {@code Upgrade: h2c} is not an upgrade to relay (Envoy strips it; clients use prior knowledge).
   */
  static String requested(Channel channel, HttpRequest request) {
    String upgrade = request.headers().get(HttpHeaderNames.UPGRADE);
    if (upgrade == null || channel instanceof Http2StreamChannel
        || !request.headers().containsValue(HttpHeaderNames.CONNECTION,
            HttpHeaderValues.UPGRADE, true)) {
      return null;
    }
    String type = upgrade.trim().toLowerCase(java.util.Locale.ROOT);
    return type.equals("h2c") ? null : type;
  }

  /** Whether a connection manager with {@code websocket} enabled relays {@code type}. */
  static boolean allowed(String type, boolean websocket) {
    return websocket && WEBSOCKET.equals(type);
  }

  /**
   * Refuses an upgrade the connection manager does not enable: 403 with an empty body (Envoy's
   * local reply, {@code upgrade_failed}), counted in
   * {@code isthmus_upgrade_refused_total{direction, type}}; the connection stays HTTP.
   */
  static void refuse(ChannelHandlerContext ctx, String type, boolean keepAlive,
      ProxyMetrics metrics, String direction) {
    metrics.counter("isthmus_upgrade_refused", "direction", direction, "type",
        type.equals(WEBSOCKET) ? WEBSOCKET : "other");
    log.debug("{} upgrade to {} refused: not enabled by the connection manager's upgrade_configs",
        direction, type);
    HttpRelay.respondError(ctx, HttpResponseStatus.FORBIDDEN, "upgrade_failed", keepAlive);
  }

  /** Puts the upgrade headers back on {@code request} after the relay's hop-by-hop cleanup. */
  static void restoreHeaders(HttpHeaders headers, String type) {
    headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
    headers.set(HttpHeaderNames.UPGRADE, type);
  }

  /**
   * Switches {@code down} and {@code up} to a raw relay after {@code head} (the upstream's 101)
   * arrived on {@code up}: writes the 101 downstream while its HTTP codec is still there, replaces
   * {@code upstreamHandler} (the upstream's HTTP response handler) and the downstream's HTTP
   * handlers (all from its {@link HttpServerCodec} on, except the request's telemetry, which
   * keeps counting the tunnel's bytes) with {@link Tunnel}s, and starts relaying once the read
   * that carried the 101 has been decoded, when the upstream's codec can go too.
   */
  static void start(Channel down, Channel up, ChannelHandler upstreamHandler, HttpResponse head,
      Duration idleTimeout) {
    requireNonNull(idleTimeout, "idleTimeout");
    up.config().setAutoRead(false);
    down.config().setAutoRead(false);
    TcpRelay.Session session = new TcpRelay.Session();
    Tunnel fromUp = new Tunnel(down, session, "upstream");
    Tunnel fromDown = new Tunnel(up, session, "downstream");
    up.pipeline().replace(upstreamHandler, "upgrade-tunnel", fromUp);

    HttpResponse switching = new DefaultHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.SWITCHING_PROTOCOLS, head.headers());
    down.write(switching);
    down.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);

    ChannelPipeline pipeline = down.pipeline();
    ChannelHandlerContext codec = pipeline.context(HttpServerCodec.class);
    if (codec == null) {
      // Not an HTTP/1.1 server pipeline (cannot happen: requested() said HTTP/1.1): no tunnel.
      up.close();
      down.close();
      return;
    }
    List<String> after = new ArrayList<>();
    boolean seen = false;
    for (Map.Entry<String, ChannelHandler> entry : pipeline) {
      if (entry.getValue() == codec.handler()) {
        seen = true;
      } else if (seen && !(entry.getValue() instanceof HttpTelemetryHandler)) {
        after.add(entry.getKey());
      }
    }
    after.forEach(pipeline::remove);
    pipeline.addLast("upgrade-idle", new IdleStateHandler(0, 0, idleTimeout.toNanos(),
        TimeUnit.NANOSECONDS));
    pipeline.addLast("upgrade-tunnel", fromDown);
    // Whatever the client sent after its request (nothing, if it waited for the 101 as RFC 6455
    // says) passes from the codec's buffer to the tunnel, which holds it until the start.
    pipeline.remove(codec.handler());
    // We are inside the upstream codec's decode of the read that carried the 101; it can only be
    // removed once that returns. Until then the tunnel holds what it passes on.
    up.eventLoop().execute(() -> {
      HttpClientCodec clientCodec = up.pipeline().get(HttpClientCodec.class);
      if (clientCodec != null) {
        up.pipeline().remove(clientCodec);
      }
      if (!up.isActive() || !down.isActive()) {
        up.close();
        down.close();
        return;
      }
      up.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
      down.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
      fromUp.begin();
      fromDown.begin();
    });
  }

  /**
   * One direction of a tunnel: what this channel reads, the other channel writes. Until
   * {@link #begin} it holds what arrives (bytes decoded with the 101, or sent early) and drops
   * the HTTP objects the codecs still emit for the 101 itself.
   */
  static final class Tunnel extends ChannelInboundHandlerAdapter {
    private final Channel other;
    private final TcpRelay.Session session;
    private final String side;
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    private ChannelFuture lastWrite;
    private boolean started;
    private boolean inputShutBeforeStart;
    private boolean inputDone;

    Tunnel(Channel other, TcpRelay.Session session, String side) {
      this.other = other;
      this.session = session;
      this.side = side;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
    }

    /** Relays what was held, then reads. */
    void begin() {
      if (started || ctx.isRemoved()) {
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
        // The LastHttpContent of the 101 itself, decoded before the codec left.
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
        log.debug("upgraded connection {} idle, closing", ctx.channel().remoteAddress());
        ctx.close();
        other.close();
        return;
      }
      ctx.fireUserEventTriggered(evt);
    }

    /** This side sent all it will: end the other side's output; close once both are done. */
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
      log.debug("upgraded connection, {} side {}: {}", side, ctx.channel().remoteAddress(),
          cause.toString());
      ctx.close();
    }
  }
}
