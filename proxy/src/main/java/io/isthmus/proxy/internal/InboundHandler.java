package io.isthmus.proxy.internal;

import io.isthmus.proxy.internal.telemetry.HttpTelemetryHandler;
import io.isthmus.proxy.internal.telemetry.UpstreamInfo;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Inbound (after mTLS was verified): stamps {@code x-forwarded-client-cert} with the
 * verified peer identity (replacing anything the peer sent), appends the TCP peer to
 * {@code x-forwarded-for}, and forwards in plaintext to the app on the pod's localhost, within
 * the inbound cluster's circuit breakers (a request over {@code max_requests}, or one that needs a
 * connection over {@code max_connections}/{@code max_pending_requests}: {@code 503} {@code UO})
 * and connection options ({@code idle_timeout}, {@code max_requests_per_connection}).
 */
final class InboundHandler extends SimpleChannelInboundHandler<HttpRequest> {

  /**
   * What limits the requests to the app: the inbound cluster's runtime (its circuit breakers;
   * null for none, when the config has no such cluster) and its connection options.
   */
  record AppLimits(ClusterRuntime runtime, UpstreamConnections connections) {
    static final AppLimits NONE = new AppLimits(null, UpstreamConnections.DEFAULT);

    AppLimits {
      java.util.Objects.requireNonNull(connections, "connections");
    }
  }

  private final String appHost;
  private final int appPort;
  private final TlsContexts tls;
  private final HttpRelay relay;
  private final ProxyMetrics metrics;
  private final WorkloadInfo self;
  private final UpstreamEndpoint app;
  private final String appAddress;
  private final UpstreamTarget appTarget;
  private final boolean websocket;
  private final HttpRelay.Policy policy;
  private final ClusterRuntime runtime;

  InboundHandler(String appHost, int appPort, TlsContexts tls, HttpRelay relay,
      ProxyMetrics metrics, WorkloadInfo self) {
    this(appHost, appPort, tls, relay, metrics, self, false, java.time.Duration.ZERO,
        AppLimits.NONE);
  }

  /**
   * {@code websocket}: the port's connection manager enables WebSocket upgrades; {@code
   * maxStreamDuration}: its {@code common_http_protocol_options.max_stream_duration} (zero: none);
   * {@code limits}: the inbound cluster's circuit breakers and connection options.
   */
  InboundHandler(String appHost, int appPort, TlsContexts tls, HttpRelay relay,
      ProxyMetrics metrics, WorkloadInfo self, boolean websocket,
      java.time.Duration maxStreamDuration, AppLimits limits) {
    super(false);
    this.runtime = limits.runtime();
    HttpRelay.Policy base = HttpRelay.Policy.DEFAULT;
    if (runtime != null) {
      // The cluster's hooks: connections to the app and the waits for them take its slots.
      base = new HttpRelay.Policy(base.timeout(), base.retry(), base.responseHeaders(), runtime,
          base.streamDuration());
    }
    this.policy = maxStreamDuration.isZero() ? base
        : base.withStreamDuration(
            io.isthmus.proxy.policy.StreamDuration.NONE.withConnectionMax(maxStreamDuration));
    this.websocket = websocket;
    this.appHost = appHost;
    this.appPort = appPort;
    this.tls = tls;
    this.relay = relay;
    this.metrics = metrics;
    this.self = self;
    this.app = new UpstreamEndpoint(appHost, appPort, 1, "", 0, self.cluster(), "",
        self.workload(), false);
    this.appAddress = app.address();
    // The app gets the caller's protocol: h2c for HTTP/2 (gRPC needs it), else HTTP/1.1.
    this.appTarget = new UpstreamTarget(appHost, appPort, null, null, app,
        UpstreamProtocol.DOWNSTREAM, limits.connections());
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, HttpRequest request) {
    String upgrade = UpgradeRelay.requested(ctx.channel(), request);
    if (upgrade != null && !UpgradeRelay.allowed(upgrade, websocket)) {
      boolean keepAlive = io.netty.handler.codec.http.HttpUtil.isKeepAlive(request);
      io.netty.util.ReferenceCountUtil.release(request);
      if (!HttpTelemetryHandler.annotate(ctx.channel(), new UpstreamInfo(null, null, null,
          self.cluster(), "-", ""))) {
        metrics.request("destination", "unknown", "unknown",
            self.workload() + "." + self.namespace(), self.cluster(), 403, "mutual_tls", "-", "");
      }
      UpgradeRelay.refuse(ctx, upgrade, keepAlive, metrics, "inbound");
      return;
    }
    // On HTTP/2 the handshake belongs to the connection, the parent of this stream's channel.
    SslHandler ssl = Http2Pipelines.connection(ctx.channel()).pipeline().get(SslHandler.class);
    Optional<String> peer = ssl == null ? Optional.empty()
        : tls.peerIdentity().apply(ssl.engine().getSession());
    HttpHeaders headers = request.headers();
    String own = tls.ownIdentity().get().orElse("");
    headers.set("x-forwarded-client-cert", "By=" + own + ";URI=" + peer.orElse(""));
    String peerAddress = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress()
        .getHostAddress();
    String xff = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", xff == null || xff.isBlank() ? peerAddress
        : xff + ", " + peerAddress);
    headers.set("x-forwarded-proto", "https");
    String source = peer.orElse("unknown");
    HttpRelay.Outcome outcome = new HttpRelay.Outcome() {
          @Override
          public void completed(int status, UpstreamEndpoint endpoint, String flags) {
            completed(status, endpoint, flags, "");
          }

          @Override
          public void completed(int status, UpstreamEndpoint endpoint, String flags,
              String grpcStatus) {
            if (!HttpTelemetryHandler.annotate(ctx.channel(), new UpstreamInfo(null, null,
                appAddress, self.cluster(), flags, grpcStatus))) {
              metrics.request("destination", workloadOf(source), "unknown",
                  self.workload() + "." + self.namespace(), self.cluster(), status, "mutual_tls",
                  flags, grpcStatus);
            }
          }
        };
    if (runtime != null && !runtime.tryAcquireRequest()) {
      // Envoy's max_requests overflow: a local reply, the app never sees the request. The slot
      // is given back by the relay once a forwarded exchange ends.
      boolean keepAlive = io.netty.handler.codec.http.HttpUtil.isKeepAlive(request);
      boolean grpc = Grpc.isGrpc(request.headers());
      io.netty.util.ReferenceCountUtil.release(request);
      outcome.completed(503, null, "UO",
          grpc ? Integer.toString(Grpc.statusForLocalReply(503, "UO")) : "");
      HttpRelay.respondError(ctx, io.netty.handler.codec.http.HttpResponseStatus.SERVICE_UNAVAILABLE,
          "upstream connect error or disconnect/reset before headers. reset reason: overflow",
          keepAlive, grpc, "UO");
      return;
    }
    Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser =
        failed -> failed.isEmpty() ? Optional.of(appTarget) : Optional.empty();
    if (upgrade == null) {
      relay.forward(ctx, request, chooser, outcome, policy);
    } else {
      relay.upgrade(ctx, (FullHttpRequest) request, upgrade, chooser, outcome, policy);
    }
  }

  /** {@code spiffe://td/ns/sample/sa/curl} → {@code curl}; Istio uses the workload name. */
  private static String workloadOf(String spiffe) {
    int sa = spiffe.lastIndexOf("/sa/");
    return sa >= 0 ? spiffe.substring(sa + 4) : spiffe;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
