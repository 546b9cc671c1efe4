package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.internal.telemetry.HttpTelemetryHandler;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
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
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
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
 * a half-close travels through, and a tunnel with no byte either way for the idle timeout is
 * closed ({@link BytePipe}). Any other answer is an ordinary response.
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
   * An upgrade request with a body (a {@link StreamingRequest}) is relayed as a plain request,
   * its upgrade headers dropped: the bytes after it would be the body's, not the tunnel's.
   */
  static String requested(Channel channel, HttpRequest request) {
    String upgrade = request.headers().get(HttpHeaderNames.UPGRADE);
    if (upgrade == null || channel instanceof Http2StreamChannel
        || request instanceof StreamingRequest
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
   * keeps counting the tunnel's bytes) with {@link BytePipe}s, and starts relaying once the read
   * that carried the 101 has been decoded, when the upstream's codec can go too.
   */
  static void start(Channel down, Channel up, ChannelHandler upstreamHandler, HttpResponse head,
      Duration idleTimeout) {
    requireNonNull(idleTimeout, "idleTimeout");
    up.config().setAutoRead(false);
    down.config().setAutoRead(false);
    BytePipe.Session session = new BytePipe.Session();
    BytePipe fromUp = BytePipe.holding(down, session, "upstream");
    BytePipe fromDown = BytePipe.holding(up, session, "downstream");
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
}
