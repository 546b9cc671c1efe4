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
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.isthmus.proxy.policy.RouteTarget.RetryRules;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
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
 * the downstream channel, with back-pressure: the upstream is read only after the previous
 * chunk was written downstream. Upstream channels live on the downstream channel's event
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
  private static final int CONNECT_TIMEOUT_MS = 5_000;
  private static final int MAX_IDLE_PER_KEY = 16;
  private static final Set<HttpMethod> IDEMPOTENT = Set.of(HttpMethod.GET, HttpMethod.HEAD,
      HttpMethod.OPTIONS, HttpMethod.TRACE, HttpMethod.PUT, HttpMethod.DELETE);

  /** Told the outcome of each request, for telemetry; {@code flags} are Envoy's, or "-". */
  interface Outcome {
    void completed(int status, UpstreamEndpoint endpoint, String flags);
  }

  /**
   * How to relay one request: overall timeout (zero: none), retry policy, what to do to
   * response headers, and the cluster runtime's hooks.
   */
  record Policy(Duration timeout, Optional<RetryRules> retry,
      Consumer<HttpHeaders> responseHeaders, RelayHooks hooks) {
    /** The local app: no timeout, one retry of a connect failure, as before policies. */
    static final Policy DEFAULT = new Policy(Duration.ZERO,
        Optional.of(new RetryRules(Set.of("connect-failure"), 1, Duration.ZERO, Set.of(),
            Duration.ZERO, Duration.ZERO)), h -> { }, RelayHooks.NONE);

    Policy {
      requireNonNull(timeout, "timeout");
      requireNonNull(retry, "retry");
      requireNonNull(responseHeaders, "responseHeaders");
      requireNonNull(hooks, "hooks");
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

  private final String bindAddress;

  HttpRelay(String bindAddress) {
    this.bindAddress = requireNonNull(bindAddress, "bindAddress");
  }

  void forward(ChannelHandlerContext downstream, FullHttpRequest request,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome) {
    forward(downstream, request, chooser, outcome, Policy.DEFAULT);
  }

  /**
   * Forwards {@code request} (ownership passes to the relay) to the target the chooser
   * picks, excluding endpoints that already failed when another one is left. The downstream
   * stops reading until the response has been written.
   */
  void forward(ChannelHandlerContext downstream, FullHttpRequest request,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome,
      Policy policy) {
    downstream.channel().config().setAutoRead(false);
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    prepareRequest(request);
    new Exchange(downstream, request, keepAlive, chooser, outcome, policy).start();
  }

  /**
   * Sends {@code copy} (ownership passes) to {@code target} on a fresh connection and drops
   * whatever comes back: request mirroring, fire and forget.
   */
  void mirror(EventLoop loop, UpstreamTarget target, FullHttpRequest copy) {
    prepareRequest(copy);
    HttpUtil.setKeepAlive(copy, false);
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
            log.debug("mirror to {} failed: {}", target.endpoint().address(),
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
    private final FullHttpRequest request;
    private final boolean keepAlive;
    private final Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser;
    private final Outcome outcome;
    private final Policy policy;
    private final RetryRules retry;
    private final boolean replayable;
    private final Set<UpstreamEndpoint> failed = new HashSet<>();
    private int attemptId;
    private int retriesUsed;
    private boolean retryHeld;
    private boolean retryLimitHit;
    private boolean done;
    private boolean responseStarted;
    private boolean attemptActive;
    private boolean reusedConnection;
    private boolean staleRetried;
    private UpstreamEndpoint endpoint;
    private Channel upstream;
    private ScheduledFuture<?> globalTimer;
    private ScheduledFuture<?> tryTimer;

    Exchange(ChannelHandlerContext down, FullHttpRequest request, boolean keepAlive,
        Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome,
        Policy policy) {
      this.down = down;
      this.request = request;
      this.keepAlive = keepAlive;
      this.chooser = chooser;
      this.outcome = outcome;
      this.policy = policy;
      this.retry = policy.retry().orElse(null);
      this.replayable = IDEMPOTENT.contains(request.method());
    }

    void start() {
      if (!policy.timeout().isZero()) {
        globalTimer = down.executor().schedule(this::onGlobalTimeout,
            policy.timeout().toNanos(), TimeUnit.NANOSECONDS);
      }
      attempt();
    }

    private void attempt() {
      if (done) {
        return;
      }
      if (!down.channel().isActive()) {
        abandon();
        return;
      }
      Optional<UpstreamTarget> picked = chooser.apply(failed);
      if (picked.isEmpty() && !failed.isEmpty()) {
        // Only failed endpoints are left: Envoy retries the same host rather than none.
        picked = chooser.apply(Set.of());
      }
      if (picked.isEmpty()) {
        fail(503, "no healthy upstream", "UH");
        return;
      }
      UpstreamTarget target = picked.get();
      endpoint = target.endpoint();
      int id = ++attemptId;
      attemptActive = true;
      policy.hooks().attemptStarted(endpoint);
      acquire(down.channel().eventLoop(), target, policy.hooks())
          .addListener((Future<Channel> f) -> connected(id, target, f));
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
        if (f.cause() instanceof Overflow) {
          endAttempt(null);
          fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
              + " overflow", "UO");
          return;
        }
        log.debug("connect to {} failed: {}", target.endpoint().address(), f.cause().toString());
        endAttempt(RelayHooks.CONNECT_FAILURE);
        failed.add(target.endpoint());
        if (retry != null && retry.retriesConnectFailure() && tryRetry()) {
          return;
        }
        fail(503, "upstream connect error or disconnect/reset before headers. reset reason:"
            + " connection failure", retryLimitHit ? "URX" : "UF");
        return;
      }
      upstream = f.getNow();
      reusedConnection = upstream.pipeline().get(ResponseRelay.class).begin(this, id);
      if (retry != null && !retry.perTryTimeout().isZero()) {
        tryTimer = down.executor().schedule(() -> onTryTimeout(id),
            retry.perTryTimeout().toNanos(), TimeUnit.NANOSECONDS);
      }
      Channel ch = upstream;
      ch.writeAndFlush(request.retainedDuplicate()).addListener((ChannelFutureListener) w -> {
        if (w.isSuccess()) {
          ch.read();
        } else {
          ch.close();
        }
      });
    }

    /** The upstream's response head: relay it, or drop it and try again. */
    boolean onResponseHead(int id, HttpResponse response) {
      if (done || id != attemptId) {
        return false;
      }
      cancel(tryTimer);
      int status = response.status().code();
      if (status < 200) {
        return true;
      }
      if (retry != null && retry.retriesStatus(status) && replayable) {
        endAttempt(status);
        failed.add(endpoint);
        if (reserveRetry()) {
          detachUpstream();
          scheduleRetry();
          return false;
        }
      } else {
        endAttempt(status);
      }
      responseStarted = true;
      policy.responseHeaders().accept(response.headers());
      outcome.completed(status, endpoint, retryLimitHit ? "URX" : "-");
      return true;
    }

    /** The whole response was written downstream (or failed to be). */
    void onResponseDone() {
      finish();
    }

    /** The upstream closed before the response was complete. */
    void onUpstreamClosed(int id) {
      if (done || id != attemptId) {
        return;
      }
      upstream = null;
      if (!down.channel().isActive()) {
        endAttempt(RelayHooks.RESET);
        abandon();
        return;
      }
      if (responseStarted) {
        // Part of the response is already out: the client can only learn of it by a close.
        finish();
        down.close();
        return;
      }
      if (reusedConnection && !staleRetried && replayable) {
        // A pooled connection the upstream closed while idle: not the host's fault, and the
        // request most likely never reached it. One free retry on another connection.
        staleRetried = true;
        endAttempt(null);
        attempt();
        return;
      }
      endAttempt(RelayHooks.RESET);
      failed.add(endpoint);
      if (retry != null && retry.retriesReset() && replayable && tryRetry()) {
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
      failed.add(endpoint);
      if (retry.retriesTimeout() && replayable && tryRetry()) {
        return;
      }
      fail(504, "upstream request timeout", "UT");
    }

    private void onGlobalTimeout() {
      if (done) {
        return;
      }
      if (responseStarted) {
        Channel ch = upstream;
        finish();
        if (ch != null) {
          ch.close();
        }
        down.close();
        return;
      }
      detachUpstream();
      endAttempt(RelayHooks.TIMEOUT);
      fail(504, "upstream request timeout", "UT");
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
      Duration backoff = retry.backoff(retriesUsed);
      if (backoff.isZero()) {
        attempt();
      } else {
        // The slot stays taken until the retry ends; the timeout still runs meanwhile.
        attemptId++;
        down.executor().schedule(this::attempt, backoff.toNanos(), TimeUnit.NANOSECONDS);
      }
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
      outcome.completed(status, endpoint, flags);
      respondError(down, HttpResponseStatus.valueOf(status), body, keepAlive);
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
      if (attemptActive) {
        endAttempt(0);
      }
      if (retryHeld) {
        retryHeld = false;
        policy.hooks().retryDone();
      }
      upstream = null;
      request.release();
      policy.hooks().exchangeDone();
    }

    boolean keepAlive() {
      return keepAlive;
    }

    ChannelHandlerContext downstream() {
      return down;
    }
  }

  private static void cancel(ScheduledFuture<?> timer) {
    if (timer != null) {
      timer.cancel(false);
    }
  }

  private static void prepareRequest(FullHttpRequest request) {
    HttpHeaders headers = request.headers();
    headers.remove(HttpHeaderNames.CONNECTION);
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    headers.remove(HttpHeaderNames.TE);
    headers.remove(HttpHeaderNames.TRANSFER_ENCODING);
    headers.remove(HttpHeaderNames.UPGRADE);
    HttpUtil.setContentLength(request, request.content().readableBytes());
    request.setProtocolVersion(HttpVersion.HTTP_1_1);
  }

  private Future<Channel> acquire(EventLoop loop, UpstreamTarget target, RelayHooks hooks) {
    ArrayDeque<Channel> idle = POOLS.get().get(target.key());
    while (idle != null && !idle.isEmpty()) {
      Channel channel = idle.pollFirst();
      if (channel.isActive()) {
        channel.config().setAutoRead(false);
        return loop.newSucceededFuture(channel);
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
        .channel(Transports.socketChannel())
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MS)
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (target.sslContext() != null) {
              SslHandler ssl = target.sslContext().newHandler(ch.alloc(), target.host(),
                  target.port());
              if (target.sni() != null) {
                ServerNames.set(ssl.engine(), target.sni());
              }
              ch.pipeline().addLast(ssl);
            }
            ch.pipeline().addLast(new HttpClientCodec());
            ch.pipeline().addLast(handlers);
          }
        });
    ChannelFuture connect = bootstrap.connect(
        new InetSocketAddress(target.host(), target.port()),
        new InetSocketAddress(bindAddress, 0));
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
        promise.trySuccess(c.channel());
        return;
      }
      // The handshake needs reads; the relay turns them off again once it owns the channel.
      c.channel().read();
      ssl.handshakeFuture().addListener(h -> {
        if (h.isSuccess()) {
          promise.trySuccess(c.channel());
        } else {
          c.channel().close();
          promise.tryFailure(h.cause());
        }
      });
    });
    return promise;
  }

  private static void release(Channel upstream, UpstreamTarget.Key key) {
    ArrayDeque<Channel> idle = POOLS.get().computeIfAbsent(key, k -> new ArrayDeque<>());
    if (idle.size() >= MAX_IDLE_PER_KEY || !upstream.isActive()) {
      upstream.close();
      return;
    }
    // Reading while idle lets us notice the server closing the connection.
    upstream.config().setAutoRead(true);
    idle.addLast(upstream);
  }

  static void respondError(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
      boolean keepAlive) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        Unpooled.copiedBuffer(body + "\n", StandardCharsets.UTF_8));
    response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
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

  /** The upstream side of one exchange: writes each response part downstream. */
  private static final class ResponseRelay extends ChannelInboundHandlerAdapter {
    private final UpstreamTarget.Key key;
    private Exchange exchange;
    private int attempt;
    private boolean relaying;
    private boolean upstreamKeepAlive;
    private boolean closeAfter;
    private int exchanges;

    ResponseRelay(UpstreamTarget.Key key) {
      this.key = key;
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
      if (msg instanceof HttpResponse response) {
        if (!ex.onResponseHead(attempt, response)) {
          ReferenceCountUtil.release(msg);
          exchange = null;
          ctx.close();
          return;
        }
        if (response.status().code() >= 200) {
          relaying = true;
        }
        HttpHeaders headers = response.headers();
        upstreamKeepAlive = HttpUtil.isKeepAlive(response);
        boolean framed = HttpUtil.isContentLengthSet(response)
            || HttpUtil.isTransferEncodingChunked(response);
        headers.remove("keep-alive");
        headers.remove("proxy-connection");
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
      ChannelFuture write = down.writeAndFlush(msg);
      if (last) {
        finish(ctx, ex, down, write);
      } else {
        write.addListener((ChannelFutureListener) f -> {
          if (f.isSuccess()) {
            ctx.read();
          } else {
            ctx.close();
          }
        });
      }
    }

    private void finish(ChannelHandlerContext upstream, Exchange ex, ChannelHandlerContext down,
        ChannelFuture write) {
      exchange = null;
      ex.onResponseDone();
      if (upstreamKeepAlive) {
        release(upstream.channel(), key);
      } else {
        upstream.close();
      }
      boolean close = closeAfter;
      write.addListener((ChannelFutureListener) f -> {
        if (!f.isSuccess() || close) {
          down.close();
        } else {
          down.channel().config().setAutoRead(true);
          down.read();
        }
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
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
