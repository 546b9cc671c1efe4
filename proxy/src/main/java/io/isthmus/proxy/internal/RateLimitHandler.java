package io.isthmus.proxy.internal;

import io.isthmus.proxy.internal.telemetry.HttpTelemetryHandler;
import io.isthmus.proxy.internal.telemetry.UpstreamInfo;
import io.isthmus.proxy.policy.RateLimits;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inbound local rate limiting of each HTTP request (HTTP/1.1 and each HTTP/2 stream), after
 * authorization and before the app: applies the port's {@link RateLimits} (Envoy's
 * {@code local_ratelimit} filters) and answers a request over an enforced limit itself, with
 * {@code 429 Too Many Requests} (or the configured status), body {@code local_rate_limited}, and,
 * when the config asks, {@code x-ratelimit-limit}, {@code x-ratelimit-remaining},
 * {@code x-ratelimit-reset} and {@code retry-after}; a gRPC request gets a trailers-only
 * {@code grpc-status: 14} (UNAVAILABLE: Envoy's mapping of 429). Each limit hit (dry runs
 * included) is counted in {@code isthmus_ratelimit_limited_total{port, filter, rule, enforced}};
 * a refused request in {@code istio_requests_total} with {@code response_flags="RL"}. When the
 * config asks for the headers, the response of an allowed request carries them too
 * ({@code x-ratelimit-limit}, {@code x-ratelimit-remaining}, {@code x-ratelimit-reset} of the
 * bucket with the fewest tokens left it took from), as Envoy's {@code DRAFT_VERSION_03}. Runs on
 * the event loop and never waits: the token buckets are lock-free (per-header-value rules take one
 * short lock to find their bucket). Owns a request it refuses (releases it), passes the others on
 * untouched.
 */
final class RateLimitHandler extends ChannelDuplexHandler {

  private static final Logger log = LoggerFactory.getLogger(RateLimitHandler.class);
  static final String BODY = "local_rate_limited";
  /** Envoy's response flag for a request its local or global rate limit refused. */
  static final String FLAG = "RL";

  private final int port;
  private final String portLabel;
  private final IntFunction<RateLimits> rateLimits;
  private final ProxyMetrics metrics;
  private final WorkloadInfo self;
  private final Consumer<RateLimits.Limited> count;
  /** The current request's allowed-response headers; requests on a channel are sequential. */
  private final RateLimits.Allowed allowed = new RateLimits.Allowed();
  private boolean headersPending;

  RateLimitHandler(int port, IntFunction<RateLimits> rateLimits, ProxyMetrics metrics,
      WorkloadInfo self) {
    this.port = port;
    this.portLabel = Integer.toString(port);
    this.rateLimits = rateLimits;
    this.metrics = metrics;
    this.self = self;
    this.count = limited -> metrics.counter("isthmus_ratelimit_limited", "port", portLabel,
        "filter", limited.filter(), "rule", limited.rule(),
        "enforced", Boolean.toString(limited.enforced()));
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HttpRequest request)) {
      ctx.fireChannelRead(msg);
      return;
    }
    headersPending = false;
    // Read per request: a new configuration applies to open connections too.
    RateLimits limits = rateLimits.apply(port);
    if (limits.isEmpty()) {
      ctx.fireChannelRead(msg);
      return;
    }
    RateLimits.Limited limited = limits.check(request, count, allowed);
    if (limited == null) {
      headersPending = allowed.isSet();
      ctx.fireChannelRead(msg);
      return;
    }
    log.debug("inbound port {}: rate limited {} {} ({} {})", port, request.method(),
        request.uri(), limited.filter(), limited.rule());
    refuse(ctx, request, limited);
  }

  private void refuse(ChannelHandlerContext ctx, HttpRequest request,
      RateLimits.Limited limited) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    boolean grpc = Grpc.isGrpc(request.headers());
    // A streaming request's body is released with it (StreamingRequest).
    ReferenceCountUtil.release(request);
    HttpResponseStatus status = HttpResponseStatus.valueOf(limited.status());
    String grpcStatus = grpc ? Integer.toString(Grpc.statusForLocalReply(status.code(), FLAG)) : "";
    // istio_requests_total for this reply comes from the telemetry handler in front of this one.
    if (!HttpTelemetryHandler.annotate(ctx.channel(),
        new UpstreamInfo(null, null, null, self.cluster(), FLAG, grpcStatus))) {
      metrics.request("destination", "unknown", "unknown", self.workload() + "." + self.namespace(),
          self.cluster(), grpc ? 200 : status.code(), "mutual_tls", FLAG, grpcStatus);
    }
    HttpHeaders headers = EmptyHttpHeaders.INSTANCE;
    if (limited.headers()) {
      long resetSeconds = resetSeconds(limited.resetNanos());
      headers = new DefaultHttpHeaders()
          .set("x-ratelimit-limit", limited.limit())
          .set("x-ratelimit-remaining", 0)
          .set("x-ratelimit-reset", resetSeconds)
          .set(HttpHeaderNames.RETRY_AFTER, resetSeconds);
    }
    // No next request is read before this reply is written (HTTP/1.1 answers in order).
    ctx.channel().config().setAutoRead(false);
    HttpRelay.respondError(ctx, status, BODY, keepAlive, grpc, FLAG, headers);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (headersPending && msg instanceof HttpResponse response
        && response.status().code() >= 200) {
      headersPending = false;
      response.headers()
          .set("x-ratelimit-limit", allowed.limit())
          .set("x-ratelimit-remaining", allowed.remaining())
          .set("x-ratelimit-reset", resetSeconds(allowed.resetNanos()));
    }
    ctx.write(msg, promise);
  }

  /** Whole seconds until the next fill, rounded up, at least 1. */
  private static long resetSeconds(long nanos) {
    return Math.max(1, (nanos + 999_999_999L) / 1_000_000_000L);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.warn("inbound port {}: rate limiting failed, closing the connection", port, cause);
    ctx.close();
  }
}
