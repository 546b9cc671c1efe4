package io.isthmus.proxy.internal;

import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.policy.AuthzRequest;
import io.isthmus.proxy.policy.PathNormalizer;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inbound authorization of each HTTP request, before it is forwarded to the app: normalizes the
 * path as the port's connection manager asks (and forwards the normalized path, so the app acts
 * on what was authorized), then evaluates the port's RBAC filters with the verified peer SPIFFE
 * identity of the mTLS session, the peer address, method, headers and port. A denied request gets
 * {@code 403 RBAC: access denied}, a path that cannot be normalized safely {@code 400}; both are
 * counted in {@code istio_requests_total} by the telemetry handler in front, denials also in
 * {@code isthmus_rbac_denied_total{port, policy}}. Runs on the event loop; owns a request it
 * refuses (releases it), passes the others on untouched otherwise.
 */
final class AuthorizationHandler extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(AuthorizationHandler.class);
  static final String DENIED_BODY = "RBAC: access denied";

  private final int port;
  private final IntFunction<Authorization> authorization;
  private final TlsContexts tls;
  private final ProxyMetrics metrics;
  private final WorkloadInfo self;

  AuthorizationHandler(int port, IntFunction<Authorization> authorization, TlsContexts tls,
      ProxyMetrics metrics, WorkloadInfo self) {
    this.port = port;
    this.authorization = authorization;
    this.tls = tls;
    this.metrics = metrics;
    this.self = self;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HttpRequest request)) {
      ctx.fireChannelRead(msg);
      return;
    }
    // Read per request: a new configuration applies to open connections too.
    Authorization authz = authorization.apply(port);
    if (!authz.enforcing() && !authz.paths().any()) {
      ctx.fireChannelRead(msg);
      return;
    }
    // On HTTP/2 the handshake belongs to the connection, the parent of this stream's channel.
    SslHandler ssl = Http2Pipelines.connection(ctx.channel()).pipeline().get(SslHandler.class);
    Optional<String> peer = ssl == null ? Optional.empty()
        : tls.peerIdentity().apply(ssl.engine().getSession());
    PathNormalizer.Result path = PathNormalizer.normalize(request.uri(), authz.paths());
    if (path.rejected()) {
      log.debug("inbound port {}: refusing {} {}: {}", port, request.method(), request.uri(),
          path.rejection());
      refuse(ctx, request, peer, HttpResponseStatus.BAD_REQUEST, "Bad Request", "-");
      return;
    }
    if (authz.paths().any()) {
      request.setUri(path.uri());
    }
    if (authz.enforcing()) {
      InetSocketAddress remote = (InetSocketAddress) ctx.channel().remoteAddress();
      InetSocketAddress local =
          (InetSocketAddress) io.isthmus.proxy.internal.capture.OriginalDestination.localAddress(ctx.channel());
      AuthzRequest view = new AuthzRequest(peer, remote.getAddress(), remote.getAddress(),
          local.getAddress(), local.getPort(), ssl == null ? "" : sni(ssl),
          request.method().name(), request.headers().get(HttpHeaderNames.HOST, ""),
          PathNormalizer.forMatching(path.path()), request.headers(),
          jwtMetadata(ctx));
      Authorization.Decision decision = authz.decide(view);
      if (!decision.allowed()) {
        metrics.counter("isthmus_rbac_denied", "port", Integer.toString(port), "policy",
            decision.reason());
        log.debug("inbound port {}: RBAC denied {} {} from {} ({})", port, request.method(),
            request.uri(), peer.orElse(remote.getAddress().getHostAddress()), decision.reason());
        refuse(ctx, request, peer, HttpResponseStatus.FORBIDDEN, DENIED_BODY, "-");
        return;
      }
    }
    ctx.fireChannelRead(request);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.warn("inbound port {}: authorization failed, closing the connection", port, cause);
    ctx.close();
  }

  /** What the {@link JwtAuthnHandler} in front verified for this request, if anything. */
  private static java.util.Map<String, Object> jwtMetadata(ChannelHandlerContext ctx) {
    java.util.Map<String, Object> m = ctx.channel().attr(JwtAuthnHandler.METADATA).get();
    return m == null ? java.util.Map.of() : m;
  }

  private static String sni(SslHandler ssl) {
    try {
      if (ssl.engine().getSession() instanceof javax.net.ssl.ExtendedSSLSession extended) {
        for (var name : extended.getRequestedServerNames()) {
          if (name instanceof javax.net.ssl.SNIHostName host) {
            return host.getAsciiName();
          }
        }
      }
    } catch (IllegalArgumentException e) {
      // The JDK refuses Istio's SNI names (outbound_.5000_._.host: '_' is not LDH): none known.
    }
    return "";
  }

  private void refuse(ChannelHandlerContext ctx, HttpRequest request, Optional<String> peer,
      HttpResponseStatus status, String body, String flags) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    boolean grpc = Grpc.isGrpc(request.headers());
    // A streaming request's body is released with it (StreamingRequest).
    ReferenceCountUtil.release(request);
    // istio_requests_total for this reply comes from the telemetry handler in front of this one.
    ctx.channel().config().setAutoRead(false);
    HttpRelay.respondError(ctx, status, body, keepAlive, grpc, flags);
  }
}
