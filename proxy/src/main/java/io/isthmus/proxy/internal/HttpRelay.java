package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLHandshakeException;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.isthmus.proxy.policy.RouteTarget.RetryRules;
import io.isthmus.proxy.policy.StreamDuration;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.time.Duration;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one aggregated HTTP/1.1 request to an upstream and streams the response back to
 * the downstream channel, with back-pressure: an HTTP/2 stream upstream is read only after the
 * previous chunk was written downstream; an HTTP/1.1 upstream reads on its own and is paused
 * while the downstream is not writable. Response parts are flushed once per upstream read
 * batch. Upstream channels live on the downstream channel's event
 * loop and are pooled per event loop and {@link UpstreamTarget.Key}, so no state is shared
 * across threads.
 *
 * <p>Each request is one {@link Exchange}: it owns the buffered request (released exactly
 * once), sends a retained duplicate per attempt, and applies the route's timeout, per-try
 * timeout and retry policy with timers on the event loop. A request is replayed after it was
 * sent (5xx, reset, per-try timeout) only when its method is idempotent; a connect failure
 * is retried for any method, since nothing reached the upstream.
 */
final class HttpRelay {

  private static final Logger log = LoggerFactory.getLogger(HttpRelay.class);
  private static final Set<HttpMethod> IDEMPOTENT = Set.of(HttpMethod.GET, HttpMethod.HEAD,
      HttpMethod.OPTIONS, HttpMethod.TRACE, HttpMethod.PUT, HttpMethod.DELETE);

  /**
   * Told the outcome of each request once, for telemetry, when it is over (a relayed response
   * when its last byte was written); {@code flags} are Envoy's, or "-".
   */
  interface Outcome {
    void completed(int status, UpstreamEndpoint endpoint, String flags);

    /**
     * With the {@code grpc-status} the response ended with (trailers, or headers when
     * trailers-only; for a local reply to a gRPC request, the status it was mapped to), empty
     * when not gRPC.
     */
    default void completed(int status, UpstreamEndpoint endpoint, String flags,
        String grpcStatus) {
      completed(status, endpoint, flags);
    }

    /**
     * An attempt's TLS handshake with the upstream failed (told once per attempt, before
     * {@link #completed}): for the cluster's handshake-failure metric and the access log.
     */
    default void upstreamTlsFailed(UpstreamTlsFailure failure) {
    }

    /**
     * An attempt's upstream answered with something that is no HTTP/1.1 response (an
     * HTTP/2-only server's frames, garbage): Envoy's upstream protocol error, for the cluster's
     * metric. Told once per such attempt, before {@link #completed}.
     */
    default void upstreamProtocolError(String what) {
    }
  }

  /**
   * How to relay one request: overall timeout (zero: none), retry policy, what to do to
   * response headers, the cluster runtime's hooks, and the stream's duration limit.
   */
  record Policy(Duration timeout, Optional<RetryRules> retry,
      Consumer<HttpHeaders> responseHeaders, RelayHooks hooks, StreamDuration streamDuration) {
    /** The local app: no timeout, one retry of a connect failure, as before policies. */
    static final Policy DEFAULT = new Policy(Duration.ZERO,
        Optional.of(new RetryRules(Set.of("connect-failure"), 1, Duration.ZERO, Set.of(),
            Duration.ZERO, Duration.ZERO, true, 0)), h -> { }, RelayHooks.NONE);

    Policy {
      requireNonNull(timeout, "timeout");
      requireNonNull(retry, "retry");
      requireNonNull(responseHeaders, "responseHeaders");
      requireNonNull(hooks, "hooks");
      requireNonNull(streamDuration, "streamDuration");
    }

    Policy(Duration timeout, Optional<RetryRules> retry, Consumer<HttpHeaders> responseHeaders,
        RelayHooks hooks) {
      this(timeout, retry, responseHeaders, hooks, StreamDuration.NONE);
    }

    /** The same with {@code limit} on the stream's duration. */
    Policy withStreamDuration(StreamDuration limit) {
      return new Policy(timeout, retry, responseHeaders, hooks, limit);
    }
  }

  /** A circuit breaker refused a connection or a pending slot. */
  static final class Overflow extends Exception {
    Overflow(String what) {
      super(what, null, false, false);
    }
  }

  private static final FastThreadLocal<Map<UpstreamTarget.Key, ArrayDeque<Channel>>> POOLS =
      new FastThreadLocal<>() {
        @Override
        protected Map<UpstreamTarget.Key, ArrayDeque<Channel>> initialValue() {
          return new HashMap<>();
        }
      };

  /** Multiplexed HTTP/2 connections, per event loop like the HTTP/1.1 pool. */
  private static final FastThreadLocal<Map<UpstreamTarget.Key, List<H2Connection>>> H2_POOLS =
      new FastThreadLocal<>() {
        @Override
        protected Map<UpstreamTarget.Key, List<H2Connection>> initialValue() {
          return new HashMap<>();
        }
      };

  /**
   * Plaintext endpoints that answered h2c prior knowledge in HTTP/1 (an HTTP/1.1-only app behind
   * a port that does not declare its protocol): requests that follow the downstream protocol
   * go there in HTTP/1.1 from then on, as Istio's sniffing would have it.
   */
  private static final Set<String> HTTP1_ONLY = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private final String bindAddress;
  private final ProxyMetrics metrics;

  HttpRelay(String bindAddress) {
    this(bindAddress, new ProxyMetrics());
  }

  HttpRelay(String bindAddress, ProxyMetrics metrics) {
    this.bindAddress = requireNonNull(bindAddress, "bindAddress");
    this.metrics = requireNonNull(metrics, "metrics");
  }

  void forward(ChannelHandlerContext downstream, HttpRequest request,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome) {
    forward(downstream, request, chooser, outcome, Policy.DEFAULT);
  }

  /**
   * Forwards {@code request} (ownership passes to the relay) to the target the chooser
   * picks, excluding endpoints that already failed when another one is left. The downstream
   * stops reading until the response has been written. A {@link StreamingRequest}'s head goes
   * out at once and its body follows as it arrives ({@link RequestBody}).
   */
  void forward(ChannelHandlerContext downstream, HttpRequest request,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome,
      Policy policy) {
    RequestGate.hold(downstream);
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    prepareRequest(request);
    new Exchange(downstream, request, keepAlive, chooser, outcome, policy, null).start();
  }

  /**
   * As {@link #forward}, for an upgrade request ({@code type}, e.g. {@code websocket}) its
   * connection manager enables: sent upstream over HTTP/1.1 with its upgrade headers; a 101
   * answer turns both connections into a raw relay ({@link UpgradeRelay}), any other answer is
   * relayed as a response.
   */
  void upgrade(ChannelHandlerContext downstream, FullHttpRequest request, String type,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome,
      Policy policy) {
    requireNonNull(type, "type");
    downstream.channel().config().setAutoRead(false);
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    prepareRequest(request);
    UpgradeRelay.restoreHeaders(request.headers(), type);
    new Exchange(downstream, request, keepAlive, chooser, outcome, policy, type).start();
  }

  /**
   * Sends {@code copy} (ownership passes) to {@code target} on a fresh connection and drops
   * whatever comes back: request mirroring, fire and forget.
   */
  void mirror(EventLoop loop, UpstreamTarget target, FullHttpRequest copy) {
    target = target.withProtocol(UpstreamProtocol.HTTP1);
    prepareRequest(copy);
    HttpUtil.setKeepAlive(copy, false);
    UpstreamTarget mirrorTarget = target;
    connect(loop, target, RelayHooks.NONE, false, new ReadTimeoutHandler(30),
        new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            boolean last = msg instanceof LastHttpContent;
            ReferenceCountUtil.release(msg);
            if (last) {
              ctx.close();
            } else {
              ctx.read();
            }
          }

          @Override
          public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
          }
        }).addListener((Future<Channel> f) -> {
          if (!f.isSuccess()) {
            copy.release();
            log.debug("mirror to {} failed: {}", mirrorTarget.endpoint().address(),
                f.cause().toString());
            return;
          }
          Channel ch = f.getNow();
          ch.writeAndFlush(copy).addListener((ChannelFutureListener) w -> {
            if (w.isSuccess()) {
              ch.read();
            } else {
              ch.close();
            }
          });
        });
  }

  /** One request's life: attempts, retries, timers, and the one response it gets. */
  private final class Exchange {
    private final ChannelHandlerContext down;
    /** A FullHttpRequest, or a StreamingRequest whose body is {@link #body}. */
    private final HttpRequest request;
    /** The streaming body, or null when the request is whole. */
    private final RequestBody body;
    private final boolean keepAlive;
    private final Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser;
    private final Outcome outcome;
    private final Policy policy;
    private final RetryRules retry;
    private final boolean replayable;
    private final boolean grpc;
    private final boolean downstreamH2;
    /** The upgrade asked for (HTTP/1.1 upstream, 101 switches to a tunnel), or null. */
    private final String upgrade;
    /** Endpoints that failed an attempt; allocated at the first failure (most requests have none). */
    private Set<UpstreamEndpoint> failed = Set.of();
    /** Failed attempts and the priorities they went to (a bit per level), for previous_priorities. */
    private int attemptsFailed;
    private long triedPriorities;
    private long excludedPriorities;
    private int grpcStatus = -1;
    private int relayedStatus;
    private String relayedFlags;
    private int attemptId;
    private int retriesUsed;
    private boolean retryHeld;
    private boolean retryLimitHit;
    private boolean done;
    private boolean responseStarted;
    private boolean attemptActive;
    private boolean reusedConnection;
    private boolean staleRetried;
    private boolean followsDownstream;
    private boolean downgraded;
    private UpstreamEndpoint endpoint;
    private Channel upstream;
    private Deadlines.Timer globalTimer;
    private Deadlines.Timer tryTimer;
    private Deadlines.Timer streamTimer;

    Exchange(ChannelHandlerContext down, HttpRequest request, boolean keepAlive,
        Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome,
        Policy policy, String upgrade) {
      this.down = down;
      this.upgrade = upgrade;
      this.request = request;
      this.body = request instanceof StreamingRequest streaming ? streaming.body() : null;
      this.keepAlive = keepAlive;
      this.chooser = chooser;
      this.outcome = outcome;
      this.policy = policy;
      this.retry = policy.retry().orElse(null);
      this.grpc = Grpc.isGrpc(request.headers());
      // gRPC's retry conditions say the server did not act on the call (Envoy replays any
      // method for them); for plain HTTP only idempotent methods are replayed.
      this.replayable = IDEMPOTENT.contains(request.method()) || grpc;
      this.downstreamH2 = down.channel() instanceof Http2StreamChannel;
    }

    void start() {
      StreamDuration streamDuration = policy.streamDuration();
      if (streamDuration.isSet()) {
        // max_stream_duration runs from the request's start, through its response.
        Optional<Duration> limit = streamDuration.limit(Grpc.timeout(request.headers()));
        if (limit.isPresent()) {
          streamTimer = Deadlines.schedule(down.executor(), limit.get().toNanos(),
              this::onStreamDurationReached);
        }
      }
      if (body == null) {
        startGlobalTimer();
      } else {
        // A client that resets its stream cancels the upstream's too.
        body.onDownstreamClosed(this::abandon);
        // As Envoy's router: the route timeout runs from the end of the downstream request.
        body.whenComplete(this::startGlobalTimer);
      }
      attempt();
    }

    private void startGlobalTimer() {
      Duration timeout = Grpc.effectiveTimeout(policy.timeout(), request.headers());
      if (!timeout.isZero() && !done) {
        globalTimer = Deadlines.schedule(down.executor(), timeout.toNanos(),
            this::onGlobalTimeout);
      }
    }

    /** The request can be sent again from its start: its method allows it, its body is kept. */
    private boolean replayable() {
      return replayable && (body == null || body.replayable());
    }

    private void attempt() {
      if (done) {
        return;
      }
      if (!down.channel().isActive()) {
        abandon();
        return;
      }
      Optional<UpstreamTarget> picked = chooser.apply(exclusions());
      if (picked.isEmpty() && !failed.isEmpty()) {
        // Only failed endpoints are left: Envoy retries the same host rather than none.
        picked = chooser.apply(Set.of());
      }
      if (picked.isEmpty()) {
        fail(503, "no healthy upstream", "UH");
        return;
      }
      UpstreamTarget target = picked.get();
      if (upgrade != null) {
        // An upgrade is an HTTP/1.1 affair: WebSocket over HTTP/2 (RFC 8441) is not offered.
        target = target.withProtocol(UpstreamProtocol.HTTP1);
      } else if (target.protocol() == UpstreamProtocol.DOWNSTREAM) {
        boolean h2 = downstreamH2 && !downgraded && !(target.sslContext() == null
            && HTTP1_ONLY.contains(target.endpoint().address()));
        target = target.withProtocol(h2 ? UpstreamProtocol.HTTP2 : UpstreamProtocol.HTTP1);
        followsDownstream = true;
      }
      UpstreamTarget chosen = target;
      endpoint = target.endpoint();
      int id = ++attemptId;
      attemptActive = true;
      policy.hooks().attemptStarted(endpoint);
      acquire(down.channel().eventLoop(), target, policy.hooks())
          .addListener((Future<Channel> f) -> connected(id, chosen, f));
    }

    private void connected(int id, UpstreamTarget target, Future<Channel> f) {
      if (done || id != attemptId) {
        if (f.isSuccess()) {
          f.getNow().close();
        }
        return;
      }
      if (!down.channel().isActive()) {
        if (f.isSuccess()) {
          f.getNow().close();
        }
        abandon();
        return;
      }
      if (!f.isSuccess()) {
        if (f.cause() instanceof Http1Answer.NotHttp2 && followsDownstream && !downgraded
            && (body == null || body.replayable())) {
          // h2c to a server that answered in HTTP/1, or closed before its HTTP/2 preface:
          // nothing of the request was sent; once more in HTTP/1.1 (the body from its buffer).
          downgraded = true;
          endAttempt(null);
          attempt();
          return;
        }
        if (f.cause() instanceof Overflow) {
          endAttempt(null);
          fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
              + " overflow", "UO");
          return;
        }
        log.debug("connect to {} failed: {}", target.endpoint().address(), f.cause().toString());
        Optional<UpstreamTlsFailure> tlsFailure = UpstreamTlsFailure.of(f.cause());
        tlsFailure.ifPresent(outcome::upstreamTlsFailed);
        endAttempt(RelayHooks.CONNECT_FAILURE);
        markFailed(target.endpoint());
        if (retry != null && retry.retriesConnectFailure()
            && (body == null || body.replayable()) && tryRetry()) {
          return;
        }
        // As Envoy: the reason a handshake failed is named, so that a certificate or SAN
        // mismatch is told from a refused connection without the proxy's logs.
        fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
            + " connection failure" + tlsFailure.map(t -> ", transport failure reason: " + t.detail())
                .orElse(""), retryLimitHit ? "URX" : "UF");
        return;
      }
      upstream = f.getNow();
      reusedConnection = upstream.pipeline().get(ResponseRelay.class).begin(this, id);
      if (upstream instanceof Http2StreamChannel stream) {
        reusedConnection = H2Connection.streamsOpened(stream.parent()) > 1;
      }
      if (retry != null && !retry.perTryTimeout().isZero()) {
        if (body == null) {
          tryTimer = Deadlines.schedule(down.executor(), retry.perTryTimeout().toNanos(),
              () -> onTryTimeout(id));
        } else {
          // Envoy's per-try timeout also runs from the end of the downstream request.
          body.whenComplete(() -> {
            if (!done && id == attemptId && !responseStarted) {
              tryTimer = Deadlines.schedule(down.executor(), retry.perTryTimeout().toNanos(),
                  () -> onTryTimeout(id));
            }
          });
        }
      }
      Channel ch = upstream;
      boolean stream = ch instanceof Http2StreamChannel;
      if (!stream) {
        // An HTTP/1.1 upstream reads on its own while its response is relayed; only a
        // downstream that stops taking writes pauses it (ResponseRelay). Turning reads off and
        // on per request costs an epoll_ctl each way.
        ch.config().setAutoRead(true);
      }
      if (body == null && !stream) {
        // Nothing to do after the write but close on failure: the void promise fires the
        // failure into the upstream's pipeline, whose ResponseRelay closes it. No promise and no
        // listener per request.
        ch.writeAndFlush(attemptCopy(), ch.voidPromise());
      } else {
        // A streaming request's head is flushed with the first parts of its body (attach).
        (body == null ? ch.writeAndFlush(attemptCopy()) : ch.write(streamingHead(stream)))
            .addListener((ChannelFutureListener) w -> {
              if (!w.isSuccess()) {
                ch.close();
              } else if (stream) {
                ch.read();
              }
            });
      }
      if (body != null && !body.attach(ch)) {
        // Cannot happen: attempts start only while the body is replayable. Fail safe.
        detachUpstream();
        fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
            + " request body not replayable", "UF");
      }
    }

    /**
     * A streaming request's head for one attempt: its own headers, encoded right away; over
     * HTTP/1.1, chunked unless the client declared the length.
     */
    private HttpRequest streamingHead(boolean http2) {
      HttpHeaders headers = request.headers();
      headers.remove(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
      if (!http2 && !headers.contains(HttpHeaderNames.CONTENT_LENGTH)) {
        headers.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
      } else {
        headers.remove(HttpHeaderNames.TRANSFER_ENCODING);
      }
      return new DefaultHttpRequest(request.protocolVersion(), request.method(), request.uri(),
          headers);
    }

    /** The upstream connection carried the whole request and may serve another one. */
    boolean requestSent() {
      return body == null || body.sentToAttempt();
    }

    /**
     * What one attempt writes: the request's own headers (encoded right away, on this event
     * loop, before any other attempt can start) over a retained view of its body, whose reader
     * index the write consumes. {@code retainedDuplicate()} would copy every header.
     */
    private FullHttpRequest attemptCopy() {
      // The HTTP/2 codec sets x-http2-scheme on what it encodes; an HTTP/1.1 retry must not
      // send it.
      FullHttpRequest full = (FullHttpRequest) request;
      full.headers().remove(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
      return new DefaultFullHttpRequest(full.protocolVersion(), full.method(),
          full.uri(), full.content().retainedDuplicate(), full.headers(),
          full.trailingHeaders());
    }

    /** The upstream's response head: relay it, or drop it and try again. */
    boolean onResponseHead(int id, HttpResponse response) {
      if (done || id != attemptId) {
        return false;
      }
      cancel(tryTimer);
      int status = response.status().code();
      if (status < 200) {
        return status != 101 || upgrade == null || switchProtocols(response);
      }
      int headerGrpcStatus = grpc ? Grpc.status(response.headers()) : -1;
      if (retry != null && replayable() && (retry.retriesStatus(status)
          || Grpc.retries(retry, headerGrpcStatus))) {
        endAttempt(status);
        markFailed(endpoint);
        if (reserveRetry()) {
          detachUpstream();
          scheduleRetry();
          return false;
        }
      } else {
        endAttempt(status);
      }
      responseStarted = true;
      grpcStatus = headerGrpcStatus;
      policy.responseHeaders().accept(response.headers());
      relayedStatus = status;
      relayedFlags = retryLimitHit ? "URX" : "-";
      return true;
    }

    /**
     * The upstream accepted the upgrade: the tunnel takes both connections over, and the exchange
     * is over (the request counted as 101). False: the relay lets go of the upstream without
     * closing it.
     */
    private boolean switchProtocols(HttpResponse response) {
      endAttempt(101);
      responseStarted = true;
      policy.responseHeaders().accept(response.headers());
      relayedStatus = 101;
      relayedFlags = "-";
      Channel up = upstream;
      upstream = null;
      UpgradeRelay.start(down.channel(), up, up.pipeline().get(ResponseRelay.class), response,
          UpgradeRelay.IDLE_TIMEOUT);
      finish();
      return false;
    }

    /** The response's trailers (HTTP/2, or chunked HTTP/1.1): gRPC puts its status there. */
    void onTrailers(int id, HttpHeaders trailers) {
      if (!done && id == attemptId && grpc) {
        int status = Grpc.status(trailers);
        if (status >= 0) {
          grpcStatus = status;
        }
      }
    }

    /** The whole response was written downstream (or failed to be). */
    void onResponseDone() {
      finish();
    }

    /**
     * The upstream's first answer is no HTTP/1.1 response head ({@code what} says why): an
     * HTTP/2-only server sent HTTP/1.1 answers with its preface and a GOAWAY, which are not
     * relayed as a response. As Envoy: the attempt is reset with a protocol error, retried as a
     * reset, else a 503 {@code UPE}.
     */
    void onProtocolError(int id, String what) {
      if (!upstreamLost(id)) {
        return;
      }
      log.info("upstream {} answered no HTTP/1.1 response ({}); does it speak only HTTP/2? Set the"
          + " port's protocol (http2/grpc) or the DestinationRule's h2UpgradePolicy", endpoint.address(), what);
      outcome.upstreamProtocolError(what);
      endAttempt(RelayHooks.RESET);
      markFailed(endpoint);
      if (retry != null && retry.retriesReset() && replayable() && tryRetry()) {
        return;
      }
      fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
          + " protocol error", retryLimitHit ? "URX" : "UPE");
    }

    /**
     * Detaches the current attempt {@code id} from its upstream connection, which is gone or
     * unusable; false when there is nothing left to do: the attempt is stale, the exchange is
     * done, or the client has gone too (then the attempt is ended as a reset and abandoned).
     */
    private boolean upstreamLost(int id) {
      if (done || id != attemptId) {
        return false;
      }
      upstream = null;
      if (body != null) {
        body.detach();
      }
      if (!down.channel().isActive()) {
        endAttempt(RelayHooks.RESET);
        abandon();
        return false;
      }
      return true;
    }

    /** The upstream closed before the response was complete. */
    void onUpstreamClosed(int id) {
      if (!upstreamLost(id)) {
        return;
      }
      if (responseStarted) {
        // Part of the response is already out: the client can only learn of it by a close.
        finish();
        down.close();
        return;
      }
      if (followsDownstream && !downgraded
          && HTTP1_ONLY.contains(endpoint.address()) && (body == null || body.replayable())) {
        // h2c to a server that answered in HTTP/1: nothing reached it; once more in HTTP/1.1.
        downgraded = true;
        endAttempt(null);
        attempt();
        return;
      }
      if (reusedConnection && !staleRetried && replayable()) {
        // A pooled connection the upstream closed while idle: not the host's fault, and the
        // request most likely never reached it. One free retry on another connection.
        staleRetried = true;
        endAttempt(null);
        attempt();
        return;
      }
      endAttempt(RelayHooks.RESET);
      markFailed(endpoint);
      if (retry != null && retry.retriesReset() && replayable() && tryRetry()) {
        return;
      }
      fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
          + " connection termination", retryLimitHit ? "URX" : "UC");
    }

    private void onTryTimeout(int id) {
      if (done || id != attemptId || responseStarted) {
        return;
      }
      detachUpstream();
      endAttempt(RelayHooks.TIMEOUT);
      markFailed(endpoint);
      if (retry.retriesTimeout() && replayable() && tryRetry()) {
        return;
      }
      fail(504, "upstream request timeout", "UT");
    }

    private void onGlobalTimeout() {
      if (done) {
        return;
      }
      if (responseStarted) {
        resetBothSides();
        return;
      }
      detachUpstream();
      endAttempt(RelayHooks.TIMEOUT);
      fail(504, "upstream request timeout", "UT");
    }

    /**
     * The stream outlived its {@code max_stream_duration}, as Envoy's connection manager handles
     * it: before the response, a local reply, 408 while the request is still coming, else 504
     * (gRPC: DEADLINE_EXCEEDED), flag {@code DT}; during the response, both sides are reset.
     */
    private void onStreamDurationReached() {
      if (done) {
        return;
      }
      if (responseStarted) {
        relayedFlags = "-".equals(relayedFlags) ? "DT" : relayedFlags + ",DT";
        resetBothSides();
        return;
      }
      detachUpstream();
      endAttempt(RelayHooks.TIMEOUT);
      boolean requestComplete = body == null || body.complete();
      fail(requestComplete ? 504 : 408, "downstream duration timeout", "DT");
    }

    /**
     * A response already under way cannot be answered locally: both connections are cut. An
     * HTTP/2 stream's close is its RST_STREAM; an HTTP/1.1 client learns it by the close.
     */
    private void resetBothSides() {
      Channel ch = upstream;
      finish();
      if (ch != null) {
        ch.close();
      }
      down.close();
    }

    /** Schedules another attempt when the policy and the circuit breaker allow one. */
    private boolean tryRetry() {
      if (!reserveRetry()) {
        return false;
      }
      scheduleRetry();
      return true;
    }

    private boolean reserveRetry() {
      if (retriesUsed >= retry.numRetries()) {
        retryLimitHit = retry.numRetries() > 0;
        return false;
      }
      if (!retryHeld) {
        if (!policy.hooks().tryAcquireRetry()) {
          return false;
        }
        retryHeld = true;
      }
      return true;
    }

    private void scheduleRetry() {
      retriesUsed++;
      Duration backoff = retry.backoff(retriesUsed, policy.hooks().random());
      if (backoff.isZero()) {
        attempt();
      } else {
        // The slot stays taken until the retry ends; the timeout still runs meanwhile.
        attemptId++;
        down.executor().schedule(this::attempt, backoff.toNanos(), TimeUnit.NANOSECONDS);
      }
    }

    private void markFailed(UpstreamEndpoint failedEndpoint) {
      if (failed.isEmpty()) {
        failed = new HashSet<>();
      }
      failed.add(failedEndpoint);
      attemptsFailed++;
      triedPriorities |= 1L << Math.min(failedEndpoint.priority(), 63);
    }

    /**
     * The hosts the next attempt avoids: without a retry policy or with Envoy's
     * {@code previous_hosts} predicate, those that failed this request (absent, as Istio sends
     * it for consistent hashing, none); with {@code previous_priorities}, every
     * {@code update_frequency} failed attempts also every host of the priorities tried.
     */
    private Set<UpstreamEndpoint> exclusions() {
      if (failed.isEmpty() || retry == null) {
        return failed;
      }
      int frequency = retry.priorityUpdateFrequency();
      if (frequency > 0 && attemptsFailed >= frequency && attemptsFailed % frequency == 0) {
        excludedPriorities = triedPriorities;
      }
      Set<UpstreamEndpoint> hosts = retry.previousHosts() ? failed : Set.of();
      return excludedPriorities == 0 ? hosts : new PriorityExclusion(hosts, excludedPriorities);
    }

    private void endAttempt(Integer result) {
      if (!attemptActive) {
        return;
      }
      attemptActive = false;
      if (result != null) {
        policy.hooks().attemptEnded(endpoint, result);
      } else {
        policy.hooks().attemptEnded(endpoint, 0);
      }
    }

    private void detachUpstream() {
      cancel(tryTimer);
      if (body != null) {
        body.detach();
      }
      Channel ch = upstream;
      upstream = null;
      if (ch != null) {
        ResponseRelay relay = ch.pipeline().get(ResponseRelay.class);
        if (relay != null) {
          relay.detach();
        }
        ch.close();
      }
    }

    private void fail(int status, String body, String flags) {
      if (done) {
        return;
      }
      finish();
      outcome.completed(status, endpoint, flags,
          grpc ? Integer.toString(Grpc.statusForLocalReply(status, flags)) : "");
      respondError(down, HttpResponseStatus.valueOf(status), body, keepAlive, grpc, flags);
    }

    private void abandon() {
      if (done) {
        return;
      }
      Channel ch = upstream;
      finish();
      if (ch != null) {
        ch.close();
      }
    }

    private void finish() {
      if (done) {
        return;
      }
      done = true;
      cancel(globalTimer);
      cancel(tryTimer);
      cancel(streamTimer);
      if (attemptActive) {
        endAttempt(0);
      }
      if (retryHeld) {
        retryHeld = false;
        policy.hooks().retryDone();
      }
      upstream = null;
      ReferenceCountUtil.release(request);
      policy.hooks().exchangeDone();
      if (relayedFlags != null) {
        outcome.completed(relayedStatus, endpoint, relayedFlags,
            grpc && grpcStatus >= 0 ? Integer.toString(grpcStatus) : "");
      }
    }

    boolean keepAlive() {
      return keepAlive;
    }

    ChannelHandlerContext downstream() {
      return down;
    }
  }

  private static void cancel(Deadlines.Timer timer) {
    if (timer != null) {
      timer.cancel();
    }
  }

  private static void prepareRequest(HttpRequest request) {
    HttpHeaders headers = request.headers();
    headers.remove(HttpHeaderNames.CONNECTION);
    headers.remove(HttpHeaderNames.KEEP_ALIVE);
    headers.remove(HttpHeaderNames.PROXY_CONNECTION);
    // "te: trailers" is the one TE HTTP/2 allows, and gRPC servers expect it.
    boolean trailers = "trailers".equalsIgnoreCase(headers.get(HttpHeaderNames.TE));
    headers.remove(HttpHeaderNames.TE);
    if (trailers) {
      headers.set(HttpHeaderNames.TE, HttpHeaderValues.TRAILERS);
    }
    stripHttp2Extensions(headers);
    headers.remove(HttpHeaderNames.TRANSFER_ENCODING);
    headers.remove(HttpHeaderNames.UPGRADE);
    if (request instanceof FullHttpRequest full) {
      HttpUtil.setContentLength(request, full.content().readableBytes());
    }
    request.setProtocolVersion(HttpVersion.HTTP_1_1);
  }

  /** Netty's HTTP/2 ↔ HTTP/1 conversion headers ({@code x-http2-*}): never on the wire. */
  private static void stripHttp2Extensions(HttpHeaders headers) {
    for (int i = 0; i < HTTP2_EXTENSIONS.length; i++) {
      headers.remove(HTTP2_EXTENSIONS[i]);
    }
  }

  // values() clones its array on every call; an indexed array, not a List, whose for-each
  // made an iterator per response.
  private static final CharSequence[] HTTP2_EXTENSIONS =
      java.util.Arrays.stream(HttpConversionUtil.ExtensionHeaderNames.values())
          .map(HttpConversionUtil.ExtensionHeaderNames::text).toArray(CharSequence[]::new);

  private Future<Channel> acquire(EventLoop loop, UpstreamTarget target, RelayHooks hooks) {
    if (target.protocol() == UpstreamProtocol.HTTP2) {
      return acquireStream(loop, target, hooks);
    }
    ArrayDeque<Channel> idle = POOLS.get().get(target.key());
    while (idle != null && !idle.isEmpty()) {
      Channel channel = idle.pollLast();
      if (channel.isActive()) {
        if (UpstreamConnections.startRequest(channel)) {
          return loop.newSucceededFuture(channel);
        }
        channel.close();
      }
    }
    return connect(loop, target, hooks, true, new ResponseRelay(target.key()));
  }

  /**
   * A new connection to {@code target}, TLS handshake done when the target has TLS. When
   * {@code counted}, the connection and the wait for it take circuit-breaker slots.
   */
  private Future<Channel> connect(EventLoop loop, UpstreamTarget target, RelayHooks hooks,
      boolean counted, ChannelHandler... handlers) {
    var promise = loop.<Channel>newPromise();
    if (counted) {
      if (!hooks.tryAcquirePending()) {
        return promise.setFailure(new Overflow("max_pending_requests"));
      }
      if (!hooks.tryAcquireConnection()) {
        hooks.pendingDone();
        return promise.setFailure(new Overflow("max_connections"));
      }
      promise.addListener(f -> hooks.pendingDone());
    }
    Bootstrap bootstrap = new Bootstrap()
        .group(loop)
        .channel(Transports.socketChannel(loop))
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (target.proxyHeader() != null) {
              target.proxyHeader().install(ch.pipeline());
            }
            if (target.sslContext() != null) {
              SslHandler ssl = target.sslContext().newHandler(ch.alloc(), target.host(),
                  target.port());
              // As Envoy's connect_timeout: a server that accepts and never answers the
              // ClientHello fails the attempt (UF, retried by policy) in the cluster's time.
              ssl.setHandshakeTimeoutMillis(target.connections().connectTimeoutMillis());
              if (target.sni() != null) {
                ServerNames.set(ssl.engine(), target.sni());
              }
              ch.pipeline().addLast(ssl);
            }
            if (target.protocol() == UpstreamProtocol.HTTP2) {
              if (target.sslContext() == null) {
                ch.pipeline().addLast(new Http1Answer(target.endpoint().address(), promise));
              }
              Http2Pipelines.client(ch.pipeline(), metrics);
            } else {
              ch.pipeline().addLast(new HttpClientCodec());
            }
            ch.pipeline().addLast(handlers);
          }
        });
    target.connections().configure(bootstrap, Transports.socketChannel(loop));
    ChannelFuture connect = bootstrap.connect(
        new InetSocketAddress(target.host(), target.port()),
        new InetSocketAddress(bindAddress, 0));
    if (target.protocol() != UpstreamProtocol.HTTP2) {
      target.connections().opened(connect.channel());
      UpstreamConnections.startRequest(connect.channel());
    }
    if (counted) {
      connect.channel().closeFuture().addListener(f -> hooks.connectionClosed());
    }
    connect.addListener((ChannelFutureListener) c -> {
      if (!c.isSuccess()) {
        promise.tryFailure(c.cause());
        return;
      }
      SslHandler ssl = c.channel().pipeline().get(SslHandler.class);
      if (ssl == null) {
        if (target.protocol() == UpstreamProtocol.HTTP2) {
          // h2c: ready once the server's preface arrives (Http1Answer), so that a server that
          // only speaks HTTP/1 answers the client preface alone, before any request is sent.
          c.channel().config().setAutoRead(true);
          Http1Answer.awaitPreface(c.channel(), promise, target.connections().connectTimeoutMillis());
          return;
        }
        promise.trySuccess(c.channel());
        return;
      }
      // The handshake needs reads; the relay turns them off again once it owns the channel.
      c.channel().read();
      ssl.handshakeFuture().addListener(h -> {
        SSLHandshakeException refused = h.isSuccess()
            ? UpstreamIdentity.check(ssl.engine().getSession(), target.peerIdentities()) : null;
        if (refused != null) {
          c.channel().close();
          promise.tryFailure(refused);
        } else if (h.isSuccess() && target.protocol() == UpstreamProtocol.HTTP2
            && !ApplicationProtocolNames.HTTP_2.equals(ssl.applicationProtocol())) {
          c.channel().close();
          promise.tryFailure(new SSLHandshakeException("upstream " + target.host() + ":"
              + target.port() + " negotiated ALPN " + ssl.applicationProtocol()
              + " (expected: h2); is its sidecar older than HTTP/2 support?"));
        } else if (h.isSuccess()) {
          // One per new connection; more than that per request means the pool is not reused.
          metrics.counter("isthmus_upstream_tls_handshakes");
          if (target.protocol() == UpstreamProtocol.HTTP2) {
            // An HTTP/2 connection reads all the time: SETTINGS, PING, GOAWAY, and the
            // streams' frames, whose flow each stream channel controls on its own.
            c.channel().config().setAutoRead(true);
          }
          promise.trySuccess(c.channel());
        } else {
          c.channel().close();
          promise.tryFailure(h.cause());
        }
      });
    });
    return promise;
  }

  /**
   * A new stream on a pooled HTTP/2 connection to {@code target} that can take one more (by
   * the peer's SETTINGS_MAX_CONCURRENT_STREAMS, and not draining after GOAWAY), or on a new
   * connection when none can. The stream channel carries HTTP/1-style messages.
   */
  private Future<Channel> acquireStream(EventLoop loop, UpstreamTarget target,
      RelayHooks hooks) {
    UpstreamTarget.Key key = target.key();
    List<H2Connection> connections = H2_POOLS.get().computeIfAbsent(key, k -> new ArrayList<>());
    H2Connection chosen = null;
    for (H2Connection c : connections) {
      if (c.canTakeStream(target.connections().maxConcurrentStreams())) {
        chosen = c;
        break;
      }
    }
    if (chosen == null) {
      Future<Channel> connecting = connect(loop, target, hooks, true);
      H2Connection created = new H2Connection(connecting);
      connections.add(created);
      connecting.addListener((Future<Channel> f) -> {
        if (!f.isSuccess()) {
          connections.remove(created);
          return;
        }
        Channel parent = f.getNow();
        parent.attr(H2Connection.ATTR).set(created);
        parent.closeFuture().addListener(c -> connections.remove(created));
      });
      chosen = created;
    }
    H2Connection connection = chosen;
    connection.streamsOpen++;
    connection.streamsOpened++;
    var promise = loop.<Channel>newPromise();
    connection.ready.addListener((Future<Channel> f) -> {
      if (!f.isSuccess()) {
        connection.streamsOpen--;
        promise.tryFailure(f.cause());
        return;
      }
      new Http2StreamChannelBootstrap(f.getNow())
          .option(ChannelOption.AUTO_READ, false)
          .handler(new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel stream) {
              stream.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false, true),
                  new ResponseRelay(key, true));
            }
          })
          .open()
          .addListener((Future<Http2StreamChannel> opened) -> {
            if (!opened.isSuccess()) {
              connection.streamsOpen--;
              promise.tryFailure(opened.cause());
              return;
            }
            opened.getNow().closeFuture().addListener(c -> connection.streamsOpen--);
            promise.trySuccess(opened.getNow());
          });
    });
    return promise;
  }

  /**
   * One pooled HTTP/2 connection: open streams are counted here (not by the codec, which only
   * knows a stream once its headers are written), so a burst of requests spreads over more
   * connections instead of overrunning the peer's limit. Event-loop confined.
   */
  private static final class H2Connection {
    static final AttributeKey<H2Connection> ATTR = AttributeKey.valueOf("isthmus.h2");
    final Future<Channel> ready;
    int streamsOpen;
    int streamsOpened;

    H2Connection(Future<Channel> ready) {
      this.ready = ready;
    }

    /** How many streams the connection {@code parent} has carried, this one included. */
    static int streamsOpened(Channel parent) {
      H2Connection c = parent.attr(ATTR).get();
      return c == null ? 0 : c.streamsOpened;
    }

    /** {@code cap}: the cluster's {@code max_concurrent_streams}, 0 for the peer's limit alone. */
    boolean canTakeStream(int cap) {
      if (cap > 0 && streamsOpen >= cap) {
        return false;
      }
      if (!ready.isDone()) {
        // Until the peer's SETTINGS arrive, assume RFC 9113's recommended minimum of 100.
        return streamsOpen < 100;
      }
      if (!ready.isSuccess() || !ready.getNow().isActive()) {
        return false;
      }
      Http2FrameCodec codec = Http2Pipelines.codec(ready.getNow());
      if (codec == null || codec.connection().goAwayReceived()
          || codec.connection().goAwaySent()) {
        return false;
      }
      return streamsOpen < codec.connection().local().maxActiveStreams();
    }
  }

  private static void release(Channel upstream, UpstreamTarget.Key key) {
    ArrayDeque<Channel> idle = POOLS.get().computeIfAbsent(key, k -> new ArrayDeque<>());
    // No cap on idle connections, as in Envoy: every open connection holds a max_connections
    // slot, and the idle timeout closes the ones no longer needed. A cap below the downstream
    // concurrency would close and reopen (and re-handshake) a connection for every request.
    if (!upstream.isActive() || !UpstreamConnections.mayReturnToPool(upstream)) {
      upstream.close();
      return;
    }
    // Reading while idle lets us notice the server closing the connection.
    upstream.config().setAutoRead(true);
    idle.addLast(upstream);
  }

  static void respondError(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
      boolean keepAlive) {
    respondError(ctx, status, body, keepAlive, false, "-");
  }

  /**
   * A local reply. To a gRPC request it is what a gRPC client understands (Envoy's mapping): a
   * trailers-only 200 with {@code grpc-status} and {@code grpc-message}.
   */
  static void respondError(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
      boolean keepAlive, boolean grpc, String flags) {
    respondError(ctx, status, body, keepAlive, grpc, flags, io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
  }

  /**
   * The same local reply with {@code extraHeaders} (a {@code www-authenticate} challenge, the
   * {@code x-ratelimit-*} headers) on either form of it.
   */
  static void respondError(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
      boolean keepAlive, boolean grpc, String flags, io.netty.handler.codec.http.HttpHeaders extraHeaders) {
    FullHttpResponse response;
    if (grpc) {
      response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
          Unpooled.EMPTY_BUFFER);
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc")
          .set(Grpc.STATUS, Integer.toString(Grpc.statusForLocalReply(status.code(), flags)))
          .set(Grpc.MESSAGE, Grpc.percentEncode(body));
    } else {
      response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.copiedBuffer(body + "\n", StandardCharsets.UTF_8));
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
    }
    response.headers().add(extraHeaders);
    HttpUtil.setContentLength(response, response.content().readableBytes());
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

  /**
   * Before the h2c codec: the connection is ready once the server's first bytes (its HTTP/2
   * preface, a SETTINGS frame) arrive. A server whose first bytes are an HTTP/1 status line does
   * not speak HTTP/2: remembered, and the connection fails with {@link NotHttp2} (the exchange
   * then sends its request in HTTP/1.1). So does one that closes before saying anything: an
   * HTTP/2 server sends its preface before it acts on any stream, so nothing was processed, and
   * waiting for it means no request bytes are in flight when an HTTP/1 server answers the client
   * preface and closes (pending writes would make the connection fail on a reset before its
   * answer is read).
   */
  private static final class Http1Answer extends ChannelInboundHandlerAdapter {
    private static final byte[] HTTP1 = "HTTP/".getBytes(StandardCharsets.US_ASCII);
    private final String address;
    private final io.netty.util.concurrent.Promise<Channel> ready;

    /** The h2c connection to {@code address} did not turn out to be HTTP/2. */
    static final class NotHttp2 extends Exception {
      NotHttp2(String what) {
        super(what, null, false, false);
      }
    }

    Http1Answer(String address, io.netty.util.concurrent.Promise<Channel> ready) {
      this.address = address;
      this.ready = ready;
    }

    /** After the TCP connect: fails {@code ready} if the preface does not come in time. */
    static void awaitPreface(Channel channel, io.netty.util.concurrent.Promise<Channel> ready,
        long timeoutMillis) {
      Http1Answer answer = channel.pipeline().get(Http1Answer.class);
      if (answer == null) {
        // Already read and removed: the preface came with the connect.
        ready.trySuccess(channel);
        return;
      }
      var timer = channel.eventLoop().schedule(() -> {
        if (ready.tryFailure(new NotHttp2(answer.address + " sent no HTTP/2 preface within "
            + timeoutMillis + " ms"))) {
          channel.close();
        }
      }, timeoutMillis, TimeUnit.MILLISECONDS);
      ready.addListener(f -> timer.cancel(false));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.pipeline().remove(this);
      if (msg instanceof io.netty.buffer.ByteBuf buf && buf.readableBytes() >= HTTP1.length
          && io.netty.buffer.ByteBufUtil.equals(buf, buf.readerIndex(),
              io.netty.buffer.Unpooled.wrappedBuffer(HTTP1), 0, HTTP1.length)) {
        buf.release();
        HTTP1_ONLY.add(address);
        log.info("{} answered h2c in HTTP/1: using HTTP/1.1 for it", address);
        ready.tryFailure(new NotHttp2(address + " answered in HTTP/1"));
        ctx.close();
        return;
      }
      ctx.fireChannelRead(msg);
      ready.trySuccess(ctx.channel());
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      ready.tryFailure(new NotHttp2(address + " closed the connection before its HTTP/2"
          + " preface"));
      ctx.fireChannelInactive();
    }
  }

  /** The upstream side of one exchange: writes each response part downstream. */
  private static final class ResponseRelay extends ChannelInboundHandlerAdapter {
    private final UpstreamTarget.Key key;
    /** An HTTP/2 stream: one exchange, then closed; never pooled itself. */
    private final boolean stream;
    private Exchange exchange;
    private ChannelHandlerContext flushPending;
    private int attempt;
    private boolean relaying;
    private boolean upstreamKeepAlive;
    private boolean closeAfter;
    private int exchanges;

    ResponseRelay(UpstreamTarget.Key key) {
      this(key, false);
    }

    ResponseRelay(UpstreamTarget.Key key, boolean stream) {
      this.key = key;
      this.stream = stream;
    }

    /** Binds the next exchange; true when the connection already carried one. */
    boolean begin(Exchange exchange, int attempt) {
      this.exchanges++;
      this.exchange = exchange;
      this.attempt = attempt;
      this.relaying = false;
      this.closeAfter = !exchange.keepAlive();
      this.upstreamKeepAlive = true;
      return exchanges > 1;
    }

    /** The exchange gave up on this connection (timeout, retry); it is being closed. */
    void detach() {
      exchange = null;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      Exchange ex = exchange;
      if (ex == null || !ex.downstream().channel().isActive()) {
        // Idle pooled connection got data, the exchange moved on, or the client left.
        ReferenceCountUtil.release(msg);
        exchange = null;
        ctx.close();
        if (ex != null) {
          ex.onUpstreamClosed(attempt);
        }
        return;
      }
      ChannelHandlerContext down = ex.downstream();
      if (msg instanceof HttpResponse response && response.decoderResult().isFailure() && !relaying) {
        // Never relayed: the decoder's stand-in for bytes that are no response (999 Unknown).
        String what = String.valueOf(response.decoderResult().cause());
        ReferenceCountUtil.release(msg);
        exchange = null;
        ctx.close();
        ex.onProtocolError(attempt, what);
        return;
      }
      if (msg instanceof HttpResponse response) {
        if (!ex.onResponseHead(attempt, response)) {
          ReferenceCountUtil.release(msg);
          exchange = null;
          if (!ctx.isRemoved()) {
            // Not when an upgrade tunnel took the connection over.
            ctx.close();
          }
          return;
        }
        if (response.status().code() >= 200) {
          relaying = true;
        }
        HttpHeaders headers = response.headers();
        stripHttp2Extensions(headers);
        upstreamKeepAlive = !stream && HttpUtil.isKeepAlive(response);
        boolean framed = HttpUtil.isContentLengthSet(response)
            || HttpUtil.isTransferEncodingChunked(response);
        headers.remove(HttpHeaderNames.KEEP_ALIVE);
        headers.remove(HttpHeaderNames.PROXY_CONNECTION);
        if (!framed && !(msg instanceof LastHttpContent)) {
          // Body runs until the upstream closes: the client can only learn the end by close.
          closeAfter = true;
        }
        if (closeAfter) {
          headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else {
          headers.remove(HttpHeaderNames.CONNECTION);
        }
      }
      boolean last = msg instanceof LastHttpContent && relaying;
      if (last) {
        HttpHeaders trailers = ((LastHttpContent) msg).trailingHeaders();
        if (!trailers.isEmpty()) {
          stripHttp2Extensions(trailers);
          ex.onTrailers(attempt, trailers);
        }
      }
      if (last) {
        finish(ctx, ex, down, msg);
      } else {
        // Flushed when this read batch ends (channelReadComplete): a response whose head and
        // body arrive together leaves in one write, one TLS record, not one per part.
        flushPending = down;
        ChannelFuture write = down.write(msg);
        if (stream) {
          write.addListener((ChannelFutureListener) f -> {
            if (f.isSuccess()) {
              ctx.read();
            } else {
              ctx.close();
            }
          });
          return;
        }
        // Back-pressure: a downstream whose buffer is full pauses the upstream until this
        // write is done.
        boolean pause = !down.channel().isWritable();
        if (pause) {
          ctx.channel().config().setAutoRead(false);
          down.flush();
          flushPending = null;
        }
        write.addListener((ChannelFutureListener) f -> {
          if (!f.isSuccess()) {
            // Not if the connection went back to the pool and now serves another exchange.
            if (exchange == ex) {
              ctx.close();
            }
          } else if (pause) {
            ctx.channel().config().setAutoRead(true);
          }
        });
      }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      channelReadComplete0();
      ctx.fireChannelReadComplete();
    }

    private void channelReadComplete0() {
      ChannelHandlerContext down = flushPending;
      if (down != null) {
        flushPending = null;
        down.flush();
      }
    }

    private void finish(ChannelHandlerContext upstream, Exchange ex, ChannelHandlerContext down,
        Object last) {
      exchange = null;
      flushPending = null;
      // Told before the last part is written, so the request's telemetry has the upstream's
      // word when it reports at that write, in this task rather than one queued after it.
      // An HTTP/1.1 connection whose request body is still on its way is no use to another.
      boolean reusable = upstreamKeepAlive && ex.requestSent();
      ex.onResponseDone();
      if (reusable) {
        release(upstream.channel(), key);
      } else {
        upstream.close();
      }
      ChannelFuture write = down.writeAndFlush(last);
      boolean close = closeAfter;
      write.addListener((ChannelFutureListener) f -> {
        if (!f.isSuccess() || close) {
          down.close();
        } else {
          RequestGate.next(down);
        }
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      // What was relayed of a response cut short still reaches the client before the close.
      channelReadComplete0();
      Exchange ex = exchange;
      exchange = null;
      ArrayDeque<Channel> idle = POOLS.get().get(key);
      if (idle != null) {
        idle.remove(ctx.channel());
      }
      if (ex != null) {
        ex.onUpstreamClosed(attempt);
      }
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      log.debug("upstream {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
      ctx.close();
    }
  }
}
