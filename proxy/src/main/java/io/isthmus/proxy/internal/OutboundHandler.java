package io.isthmus.proxy.internal;

import io.isthmus.proxy.internal.DataPlaneConfig.UpstreamCluster;
import io.isthmus.proxy.internal.telemetry.HttpTelemetryHandler;
import io.isthmus.proxy.internal.telemetry.RequestIds;
import io.isthmus.proxy.internal.telemetry.UpstreamInfo;
import io.isthmus.proxy.policy.CorsPolicy;
import io.isthmus.proxy.policy.FaultPolicy;
import io.isthmus.proxy.policy.HeaderMutation;
import io.isthmus.proxy.policy.RequestView;
import io.isthmus.proxy.policy.RouteTarget;
import io.isthmus.proxy.policy.RouteTarget.DirectResponse;
import io.isthmus.proxy.policy.RouteTarget.Forward;
import io.isthmus.proxy.policy.RouteTarget.HashRule;
import io.isthmus.proxy.policy.RouteTarget.Mirror;
import io.isthmus.proxy.policy.RouteTarget.Redirect;
import io.isthmus.proxy.policy.RouteTarget.WeightedTarget;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;

/**
 * The outbound HTTP entry (15001): Host header → route → fault → what the route does
 * (forward with rewrites, header operations, mirrors, timeout and retries; redirect; direct
 * response). Every answer is counted in {@code istio_requests_total} with Envoy's response
 * flags: 404 {@code NR} when nothing routes the request, 503 {@code NC} for a missing
 * cluster, {@code UH}/{@code UF}/{@code UO}/{@code UT}/{@code URX} from upstream trouble,
 * {@code DI}/{@code FI} for injected faults.
 */
final class OutboundHandler extends SimpleChannelInboundHandler<HttpRequest> {

  private final Supplier<DataPlaneConfig> config;
  private final TlsContexts tls;
  private final HttpRelay relay;
  private final ProxyMetrics metrics;
  private final WorkloadInfo self;
  private final ClusterRuntimes runtimes;
  private final RandomGenerator random;
  private io.netty.channel.Channel channel;
  private String sourceAddress;
  /** The current request's upgrade (requests on a connection are sequential), or null. */
  private String upgrade;
  /** The current request's CORS policy and its allowed {@code Origin} (null: none). */
  private CorsPolicy cors;
  private String corsOrigin;

  OutboundHandler(Supplier<DataPlaneConfig> config, TlsContexts tls, HttpRelay relay,
      ProxyMetrics metrics, WorkloadInfo self) {
    this(config, tls, relay, metrics, self,
        new ClusterRuntimes(Clock.systemUTC(), RandomGenerator.getDefault()));
  }

  OutboundHandler(Supplier<DataPlaneConfig> config, TlsContexts tls, HttpRelay relay,
      ProxyMetrics metrics, WorkloadInfo self, ClusterRuntimes runtimes) {
    super(false);
    this.config = config;
    this.tls = tls;
    this.relay = relay;
    this.metrics = metrics;
    this.self = self;
    this.runtimes = runtimes;
    this.random = runtimes.random();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, HttpRequest request) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    RequestGate.hold(ctx);
    String host = request.headers().get(HttpHeaderNames.HOST);
    boolean grpc = Grpc.isGrpc(request.headers());
    if (host == null) {
      ReferenceCountUtil.release(request);
      HttpRelay.respondError(ctx, HttpResponseStatus.BAD_REQUEST, "missing Host header",
          keepAlive, grpc, "-");
      return;
    }
    DataPlaneConfig current = config.get();
    RequestView view = RequestView.of(request, sourceAddress(ctx));
    // Captured: the listener of the original destination's port chose the route configuration.
    Optional<RouteTable.Match> matched = current.routes().route(view,
        io.isthmus.proxy.internal.capture.OriginalDestination.get(ctx.channel())
            .map(io.isthmus.proxy.internal.capture.OriginalDestination::routeConfig)
            .orElse(null));
    if (matched.isEmpty()) {
      ReferenceCountUtil.release(request);
      count(host, "unknown", 404, "NR", grpc);
      HttpRelay.respondError(ctx, HttpResponseStatus.NOT_FOUND,
          "no route for " + host + view.path(), keepAlive, grpc, "NR");
      return;
    }
    RouteTable.Match match = matched.get();
    upgrade = UpgradeRelay.requested(ctx.channel(), request);
    if (upgrade != null && !UpgradeRelay.allowed(upgrade, match.websocket())) {
      ReferenceCountUtil.release(request);
      count(host, "unknown", 403, "-");
      UpgradeRelay.refuse(ctx, upgrade, keepAlive, metrics, "outbound");
      return;
    }
    corsOrigin = null;
    if (match.route().cors().isPresent()
        && corsPreflightAnswered(ctx, request, keepAlive, view, match.route().cors().get())) {
      return;
    }
    Optional<FaultPolicy> fault = match.route().fault();
    if (fault.isPresent() && fault.get().hasDelay()
        && fault.get().delayFraction().roll(random)) {
      ctx.executor().schedule(() -> {
        if (!ctx.channel().isActive()) {
          ReferenceCountUtil.release(request);
          return;
        }
        afterDelay(ctx, request, keepAlive, current, view, match, "DI");
      }, fault.get().delay().toNanos(), TimeUnit.NANOSECONDS);
      return;
    }
    afterDelay(ctx, request, keepAlive, current, view, match, "-");
  }

  /**
   * Envoy's CORS filter, before the fault filter as Istio orders them: remembers an allowed
   * {@code Origin} for the response headers; answers a preflight itself (true) unless its
   * origin is not allowed and the policy forwards those.
   */
  private boolean corsPreflightAnswered(ChannelHandlerContext ctx, HttpRequest request,
      boolean keepAlive, RequestView view, CorsPolicy policy) {
    String origin = request.headers().get(HttpHeaderNames.ORIGIN);
    if (origin == null || origin.isEmpty() || !policy.enabled().roll(random)) {
      return false;
    }
    boolean allowed = policy.allows(origin);
    if (allowed) {
      cors = policy;
      corsOrigin = origin;
    }
    if (!CorsPolicy.isPreflight(request.method().name(), request.headers())
        || (!allowed && policy.forwardNotMatchingPreflights())) {
      return false;
    }
    HttpHeaders requestHeaders = request.headers();
    ReferenceCountUtil.release(request);
    count(view.authority(), "unknown", 200, "-");
    corsOrigin = null;
    respond(ctx, 200, "", keepAlive,
        headers -> policy.preflightHeaders(origin, allowed, requestHeaders, headers));
    return true;
  }

  private void afterDelay(ChannelHandlerContext ctx, HttpRequest request, boolean keepAlive,
      DataPlaneConfig current, RequestView view, RouteTable.Match match, String flags) {
    Optional<FaultPolicy> fault = match.route().fault();
    if (fault.isPresent() && fault.get().hasAbort()
        && fault.get().abortFraction().roll(random)) {
      boolean grpc = Grpc.isGrpc(request.headers());
      ReferenceCountUtil.release(request);
      int status = fault.get().abortStatus();
      int grpcStatus = fault.get().abortGrpcStatus();
      if (grpc) {
        // What a gRPC client understands, as Envoy's local reply: trailers-only, the injected
        // gRPC status or the HTTP status's mapping.
        int code = grpcStatus >= 0 ? grpcStatus : Grpc.statusForLocalReply(status, "FI");
        count(view.authority(), "unknown", grpcStatus >= 0 ? 200 : status, join(flags, "FI"),
            Integer.toString(code));
        Consumer<HttpHeaders> mutations = responseMutations(match, null);
        respond(ctx, 200, "", keepAlive, headers -> {
          headers.set(HttpHeaderNames.CONTENT_TYPE, "application/grpc")
              .set(Grpc.STATUS, Integer.toString(code))
              .set(Grpc.MESSAGE, Grpc.percentEncode("fault filter abort"));
          mutations.accept(headers);
        });
        return;
      }
      count(view.authority(), "unknown", status, join(flags, "FI"));
      respond(ctx, status, "fault filter abort", keepAlive,
          responseMutations(match, null));
      return;
    }
    RouteTarget target = match.route().target();
    if (target instanceof DirectResponse direct) {
      ReferenceCountUtil.release(request);
      count(view.authority(), "unknown", direct.status(), flags);
      respond(ctx, direct.status(), direct.body(), keepAlive, responseMutations(match, null));
    } else if (target instanceof Redirect redirect) {
      String rawQuery = new QueryStringDecoder(request.uri()).rawQuery();
      String location = redirect.location(view, rawQuery,
          match.route().matchedPrefix(view.path()));
      ReferenceCountUtil.release(request);
      count(view.authority(), "unknown", redirect.status(), flags);
      Consumer<HttpHeaders> mutations = responseMutations(match, null);
      respond(ctx, redirect.status(), "", keepAlive,
          headers -> {
            headers.set(HttpHeaderNames.LOCATION, location);
            mutations.accept(headers);
          });
    } else if (target instanceof Forward forward) {
      forward(ctx, request, keepAlive, current, view, match, forward, flags);
    }
  }

  private void forward(ChannelHandlerContext ctx, HttpRequest request, boolean keepAlive,
      DataPlaneConfig current, RequestView view, RouteTable.Match match, Forward forward,
      String flags) {
    WeightedTarget picked = forward.pick(random);
    UpstreamCluster cluster = current.clusters().get(picked.cluster());
    String service = serviceOf(picked.cluster(), view.authority());
    boolean grpc = Grpc.isGrpc(request.headers());
    if (cluster == null) {
      ReferenceCountUtil.release(request);
      count(service, "unknown", 503, join(flags, "NC"), grpc);
      HttpRelay.respondError(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE,
          "no cluster " + picked.cluster(), keepAlive, grpc, "NC");
      return;
    }
    ClusterRuntime runtime = runtimes.get(cluster);
    if (!runtime.tryAcquireRequest()) {
      ReferenceCountUtil.release(request);
      count(service, "unknown", 503, join(flags, "UO"), grpc);
      HttpRelay.respondError(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE,
          "upstream connect error or disconnect/reset before headers. reset reason: overflow",
          keepAlive, grpc, "UO");
      return;
    }
    // The view decoded the URI once already; the query is only needed for a rewrite.
    String rawPath = view.path();
    String newPath = forward.rewritePath(rawPath, match.route().matchedPrefix(rawPath));
    if (!newPath.equals(rawPath)) {
      String rawQuery = new QueryStringDecoder(request.uri()).rawQuery();
      request.headers().set("x-envoy-original-path", request.uri());
      request.setUri(newPath + (rawQuery.isEmpty() ? "" : "?" + rawQuery));
    }
    String hostRewrite = picked.hostRewrite() != null ? picked.hostRewrite()
        : forward.hostRewrite();
    if (hostRewrite != null) {
      request.headers().set(HttpHeaderNames.HOST, hostRewrite);
    }
    HttpHeaders headers = request.headers();
    picked.requestHeaders().apply(headers);
    match.route().requestHeaders().apply(headers);
    match.virtualHost().requestHeaders().apply(headers);
    match.config().requestHeaders().apply(headers);
    if (!headers.contains(REQUEST_ID)) {
      headers.set(REQUEST_ID, RequestIds.nextValue());
    }
    for (Mirror mirror : forward.mirrors()) {
      if (upgrade == null && mirror.fraction().roll(random)) {
        mirror(ctx, current, request, mirror);
      }
    }
    OptionalLong hash = hashKey(forward.hashPolicies(), view);
    boolean h2 = switch (cluster.protocol()) {
      case HTTP2 -> true;
      case HTTP1 -> false;
      case DOWNSTREAM -> ctx.channel() instanceof Http2StreamChannel;
    };
    Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser =
        failed -> runtime.pick(cluster.picker(), failed, hash)
            .map(e -> target(ctx, cluster, e, h2));
    HttpRelay.Outcome outcome = new HttpRelay.Outcome() {
          private UpstreamTlsFailure lastTlsFailure;

          @Override
          public void completed(int status, UpstreamEndpoint endpoint, String relayFlags) {
            completed(status, endpoint, relayFlags, "");
          }

          @Override
          public void completed(int status, UpstreamEndpoint endpoint, String relayFlags,
              String grpcStatus) {
            // Only a request that failed to connect in the end reports why the handshake failed;
            // one a retry saved does not.
            boolean connectFailed = relayFlags.contains("UF") || relayFlags.contains("URX");
            count(service,
                endpoint == null || endpoint.cluster().isEmpty() ? "unknown" : endpoint.cluster(),
                status, join(flags, relayFlags), grpcStatus, picked.cluster(),
                endpoint == null ? null : endpoint.address(),
                connectFailed && lastTlsFailure != null ? lastTlsFailure.detail() : null);
          }

          @Override
          public void upstreamTlsFailed(UpstreamTlsFailure failure) {
            lastTlsFailure = failure;
            failure.count(metrics, picked.cluster());
          }

          @Override
          public void upstreamProtocolError(String what) {
            metrics.counter("isthmus_upstream_protocol_errors", "cluster", picked.cluster());
          }
        };
    // No retry_policy: one retry of a connect failure, as the sidecar did before routes
    // carried policies (Istio always sends one, so this only covers bare routes).
    HttpRelay.Policy policy = new HttpRelay.Policy(forward.timeout(),
        forward.retry().or(HttpRelay.Policy.DEFAULT::retry),
        responseMutations(match, picked), runtime,
        forward.streamDuration().withConnectionMax(match.maxStreamDuration()));
    if (upgrade == null) {
      relay.forward(ctx, request, chooser, outcome, policy);
    } else {
      // Only HTTP/1.1 requests upgrade, and those are aggregated.
      relay.upgrade(ctx, (FullHttpRequest) request, upgrade, chooser, outcome, policy);
    }
  }

  private void mirror(ChannelHandlerContext ctx, DataPlaneConfig current,
      HttpRequest request, Mirror mirror) {
    UpstreamCluster cluster = current.clusters().get(mirror.cluster());
    if (cluster == null) {
      return;
    }
    Optional<UpstreamEndpoint> endpoint = runtimes.get(cluster)
        .pick(cluster.picker(), Set.of(), OptionalLong.empty());
    if (endpoint.isEmpty()) {
      return;
    }
    if (request instanceof StreamingRequest streaming) {
      // Only a body that is whole and still buffered can go twice: mirrored once it is, if it
      // is (as Envoy, which abandons a shadow whose body outgrows the buffer).
      RequestBody body = streaming.body();
      body.whenComplete(() -> {
        FullHttpRequest copy = body.bufferedCopy(streaming);
        if (copy != null) {
          sendMirror(ctx, cluster, endpoint.get(), copy, mirror);
        }
      });
      return;
    }
    sendMirror(ctx, cluster, endpoint.get(), ((FullHttpRequest) request).retainedDuplicate(),
        mirror);
  }

  private void sendMirror(ChannelHandlerContext ctx, UpstreamCluster cluster,
      UpstreamEndpoint endpoint, FullHttpRequest copy, Mirror mirror) {
    if (mirror.appendShadowSuffix()) {
      String host = copy.headers().get(HttpHeaderNames.HOST, "");
      int colon = host.lastIndexOf(':');
      copy.headers().set(HttpHeaderNames.HOST, colon > 0 && host.indexOf(']') < colon
          ? host.substring(0, colon) + "-shadow" + host.substring(colon)
          : host + "-shadow");
    }
    relay.mirror(ctx.channel().eventLoop(), target(ctx, cluster, endpoint, false), copy);
  }

  /** HTTP/2 over TLS offers ALPN h2 (one multiplexed connection), HTTP/1.1 offers http/1.1. */
  private UpstreamTarget target(ChannelHandlerContext ctx, UpstreamCluster cluster,
      UpstreamEndpoint endpoint, boolean h2) {
    // Per request: no Optional chains (each step a lambda and an Optional).
    DataPlaneConfig.UpstreamTls upstreamTls = cluster.tls().orElse(null);
    String sni = upstreamTls == null || upstreamTls.sni().isEmpty() ? null : upstreamTls.sni();
    UpstreamConnections connections = cluster.connections();
    // An HTTP/2 stream's addresses are its connection's.
    ProxyProtocolHeader header = connections.proxyProtocol().isEmpty() ? null
        : new ProxyProtocolHeader(connections.proxyProtocol().get(), ctx.channel().remoteAddress(),
            ctx.channel().localAddress());
    return new UpstreamTarget(endpoint.host(), endpoint.port(),
        upstreamTls == null ? null : upstreamTls.context(tls, h2), sni,
        upstreamTls == null ? List.of() : upstreamTls.peerIdentities(),
        endpoint, h2 ? UpstreamProtocol.HTTP2 : UpstreamProtocol.HTTP1, connections, header);
  }

  private static final io.netty.util.AsciiString REQUEST_ID =
      io.netty.util.AsciiString.cached("x-request-id");
  private static final Consumer<HttpHeaders> NO_MUTATIONS = headers -> { };

  /**
   * Response header operations, most specific first as Envoy applies them, then the CORS
   * headers of an allowed origin (the CORS filter encodes after the router).
   */
  private Consumer<HttpHeaders> responseMutations(RouteTable.Match match,
      WeightedTarget picked) {
    Consumer<HttpHeaders> route = routeResponseMutations(match, picked);
    String origin = corsOrigin;
    if (origin == null) {
      return route;
    }
    CorsPolicy policy = cors;
    return headers -> {
      route.accept(headers);
      policy.responseHeaders(origin, headers);
    };
  }

  private static Consumer<HttpHeaders> routeResponseMutations(RouteTable.Match match,
      WeightedTarget picked) {
    if ((picked == null || picked.responseHeaders().isEmpty())
        && match.route().responseHeaders().isEmpty()
        && match.virtualHost().responseHeaders().isEmpty()
        && match.config().responseHeaders().isEmpty()) {
      // The usual case: checked without building a list per request.
      return NO_MUTATIONS;
    }
    List<HeaderMutation> levels = picked == null
        ? List.of(match.route().responseHeaders(), match.virtualHost().responseHeaders(),
            match.config().responseHeaders())
        : List.of(picked.responseHeaders(), match.route().responseHeaders(),
            match.virtualHost().responseHeaders(), match.config().responseHeaders());
    return headers -> levels.forEach(level -> level.apply(headers));
  }

  static OptionalLong hashKey(List<HashRule> rules, RequestView view) {
    Long key = null;
    for (HashRule rule : rules) {
      String value = switch (rule.kind()) {
        case HEADER -> view.header(rule.name());
        case SOURCE_IP -> view.sourceAddress().isEmpty() ? null : view.sourceAddress();
        case QUERY_PARAMETER -> {
          List<String> values = view.queryParameters().get(rule.name());
          yield values == null || values.isEmpty() ? null : values.get(0);
        }
        case COOKIE -> {
          String cookies = view.headers().get(HttpHeaderNames.COOKIE);
          String found = null;
          if (cookies != null) {
            for (Cookie cookie : ServerCookieDecoder.LAX.decode(cookies)) {
              if (cookie.name().equals(rule.name())) {
                found = cookie.value();
              }
            }
          }
          yield found;
        }
      };
      if (value == null) {
        continue;
      }
      long h = ClusterRuntime.mix(value.hashCode() * 31L + value.length());
      key = key == null ? h : Long.rotateLeft(key, 1) ^ h;
      if (rule.terminal()) {
        break;
      }
    }
    return key == null ? OptionalLong.empty() : OptionalLong.of(key);
  }

  private void respond(ChannelHandlerContext ctx, int status, String body, boolean keepAlive,
      Consumer<HttpHeaders> mutations) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.valueOf(status), Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    if (!body.isEmpty()) {
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
    }
    HttpUtil.setContentLength(response, response.content().readableBytes());
    mutations.accept(response.headers());
    HttpUtil.setKeepAlive(response, keepAlive);
    ChannelFuture write = ctx.writeAndFlush(response);
    if (keepAlive) {
      write.addListener((ChannelFutureListener) f -> {
        if (f.isSuccess()) {
          RequestGate.next(ctx);
        }
      });
    } else {
      write.addListener(ChannelFutureListener.CLOSE);
    }
  }

  private void count(String service, String destinationCluster, int status, String flags) {
    count(service, destinationCluster, status, flags, "");
  }

  private void count(String service, String destinationCluster, int status, String flags,
      boolean grpc) {
    count(service, destinationCluster, status, flags,
        grpc ? Integer.toString(Grpc.statusForLocalReply(status, flags)) : "");
  }

  private void count(String service, String destinationCluster, int status, String flags,
      String grpcStatus) {
    count(service, destinationCluster, status, flags, grpcStatus, null, null);
  }

  /**
   * Tells the request's telemetry (Istio metrics, access log, span) what routing decided;
   * counts it here only when the channel has no telemetry handler (unit tests).
   */
  private void count(String service, String destinationCluster, int status, String flags,
      String grpcStatus, String upstreamCluster, String upstreamHost) {
    count(service, destinationCluster, status, flags, grpcStatus, upstreamCluster, upstreamHost,
        null);
  }

  private void count(String service, String destinationCluster, int status, String flags,
      String grpcStatus, String upstreamCluster, String upstreamHost,
      String transportFailureReason) {
    if (!HttpTelemetryHandler.annotate(channel, new UpstreamInfo(upstreamCluster, service,
        upstreamHost, destinationCluster.equals("unknown") ? null : destinationCluster, flags,
        grpcStatus, transportFailureReason))) {
      metrics.request("source", self.workload(), self.cluster(), service, destinationCluster,
          status, "unknown", flags, grpcStatus);
    }
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    channel = ctx.channel();
  }

  /** Envoy prints several flags comma-separated, "-" for none. */
  static String join(String a, String b) {
    if (a.equals("-")) {
      return b;
    }
    return b.equals("-") ? a : a + "," + b;
  }

  /** The client's address, formatted once per connection (or stream) rather than per request. */
  private String sourceAddress(ChannelHandlerContext ctx) {
    String known = sourceAddress;
    if (known == null) {
      known = ctx.channel().remoteAddress() instanceof InetSocketAddress address
          && address.getAddress() != null ? address.getAddress().getHostAddress() : "";
      sourceAddress = known;
    }
    return known;
  }

  /** {@code outbound|5000||helloworld.sample.svc.cluster.local} → the host part. */
  static String serviceOf(String clusterName, String fallback) {
    int bars = clusterName.lastIndexOf('|');
    return bars >= 0 && bars < clusterName.length() - 1 ? clusterName.substring(bars + 1) : fallback;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
