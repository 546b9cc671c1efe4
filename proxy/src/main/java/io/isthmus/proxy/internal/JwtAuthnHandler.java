package io.isthmus.proxy.internal;

import io.isthmus.proxy.policy.JwtAuthentication;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.AttributeKey;
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
    if (!(msg instanceof HttpRequest request)) {
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
  private static void refuse(ChannelHandlerContext ctx, HttpRequest request,
      JwtAuthentication.Failure failure) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    boolean grpc = Grpc.isGrpc(request.headers());
    String host = request.headers().get(HttpHeaderNames.HOST, "");
    String path = request.uri();
    int query = path.indexOf('?');
    String realm = "http://" + host + (query < 0 ? path : path.substring(0, query));
    // A streaming request's body is released with it (StreamingRequest).
    ReferenceCountUtil.release(request);
    ctx.channel().config().setAutoRead(false);
    HttpHeaders challenge = new DefaultHttpHeaders().set(HttpHeaderNames.WWW_AUTHENTICATE,
        "Bearer realm=\"" + realm.replace("\"", "%22") + "\", error=\"invalid_token\"");
    HttpRelay.respondError(ctx, HttpResponseStatus.UNAUTHORIZED, failure.message(), keepAlive, grpc,
        "-", challenge);
  }
}
