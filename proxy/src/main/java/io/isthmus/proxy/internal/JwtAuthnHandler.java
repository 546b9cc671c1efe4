package io.isthmus.proxy.internal;

import io.isthmus.proxy.policy.JwtAuthentication;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AttributeKey;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inbound request authentication (RequestAuthentication → {@code jwt_authn}), before
 * authorization: verifies the request's JWTs with the port's providers. A token that no provider
 * verifies gets {@code 401} with {@code www-authenticate: Bearer realm="…", error="invalid_token"}
 * (gRPC: {@code grpc-status: 16}), counted in {@code isthmus_jwt_authn_denied_total{port, reason}}
 * (and in {@code istio_requests_total} by the telemetry handler in front). A request that passes
 * goes on with the token header removed unless forwarded, the configured payload and claim
 * headers set, and the verified payload in {@link #METADATA} for the {@link AuthorizationHandler}
 * right behind, which reads it while this handler's {@code fireChannelRead} runs. Runs on the
 * event loop and never blocks (keys are inline, verified tokens cached); owns a request it
 * refuses (releases it).
 */
final class JwtAuthnHandler extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(JwtAuthnHandler.class);

  /** The jwt_authn dynamic metadata of the request being passed on; set only during the pass. */
  static final AttributeKey<Map<String, Object>> METADATA =
      AttributeKey.valueOf("isthmus.jwt_authn.metadata");

  private final int port;
  private final IntFunction<JwtAuthentication> authentication;
  private final ProxyMetrics metrics;

  JwtAuthnHandler(int port, IntFunction<JwtAuthentication> authentication, ProxyMetrics metrics) {
    this.port = port;
    this.authentication = authentication;
    this.metrics = metrics;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest request)) {
      ctx.fireChannelRead(msg);
      return;
    }
    // Read per request: new keys and providers apply to open connections too.
    JwtAuthentication jwt = authentication.apply(port);
    if (!jwt.active()) {
      ctx.fireChannelRead(msg);
      return;
    }
    JwtAuthentication.Result result = jwt.authenticate(new JwtAuthentication.Request(
        request.method().name(), request.uri(), request.headers()));
    if (!result.allowed()) {
      metrics.counter("isthmus_jwt_authn_denied", "port", Integer.toString(port), "reason",
          result.failure().label());
      log.debug("inbound port {}: JWT refused for {} {}: {}", port, request.method(),
          request.uri(), result.failure().message());
      refuse(ctx, request, result.failure());
      return;
    }
    for (var change : result.headers()) {
      if (change.value() == null) {
        request.headers().remove(change.name());
      } else {
        request.headers().set(change.name(), change.value());
      }
    }
    if (result.metadata().isEmpty()) {
      ctx.fireChannelRead(request);
      return;
    }
    var attr = ctx.channel().attr(METADATA);
    attr.set(result.metadata());
    try {
      ctx.fireChannelRead(request);
    } finally {
      attr.set(null);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.warn("inbound port {}: request authentication failed, closing the connection", port,
        cause);
    ctx.close();
  }

  /** Envoy's local reply for a failed JWT: 401, the reason as body, a Bearer challenge. */
  private static void refuse(ChannelHandlerContext ctx, FullHttpRequest request,
      JwtAuthentication.Failure failure) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    boolean grpc = Grpc.isGrpc(request.headers());
    String host = request.headers().get(HttpHeaderNames.HOST, "");
    String path = request.uri();
    int query = path.indexOf('?');
    String realm = "http://" + host + (query < 0 ? path : path.substring(0, query));
    request.release();
    ctx.channel().config().setAutoRead(false);
    FullHttpResponse response;
    if (grpc) {
      response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
          Unpooled.EMPTY_BUFFER);
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc")
          .set(Grpc.STATUS, "16")
          .set(Grpc.MESSAGE, Grpc.percentEncode(failure.message()));
    } else {
      response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
          HttpResponseStatus.UNAUTHORIZED,
          Unpooled.copiedBuffer(failure.message() + "\n", StandardCharsets.UTF_8));
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
    }
    response.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer realm=\""
        + realm.replace("\"", "%22") + "\", error=\"invalid_token\"");
    HttpUtil.setContentLength(response, response.content().readableBytes());
    HttpUtil.setKeepAlive(response, keepAlive);
    ChannelFuture write = ctx.writeAndFlush(response);
    if (keepAlive) {
      write.addListener((ChannelFutureListener) f -> {
        if (f.isSuccess()) {
          ctx.channel().config().setAutoRead(true);
          ctx.read();
        }
      });
    } else {
      write.addListener(ChannelFutureListener.CLOSE);
    }
  }
}
