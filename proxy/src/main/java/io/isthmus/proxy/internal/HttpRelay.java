package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
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
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandler;
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
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one aggregated HTTP/1.1 request to an upstream and streams the response back to
 * the downstream channel, with back-pressure: the upstream is read only after the previous
 * chunk was written downstream. Upstream channels live on the downstream channel's event
 * loop and are pooled per event loop and {@link UpstreamTarget.Key}, so no state is shared
 * across threads. A connect failure is retried once on another endpoint.
 */
final class HttpRelay {

  private static final Logger log = LoggerFactory.getLogger(HttpRelay.class);
  private static final int CONNECT_TIMEOUT_MS = 5_000;
  private static final int MAX_IDLE_PER_KEY = 16;

  /** Told the outcome of each request, for telemetry. */
  interface Outcome {
    void completed(int status, UpstreamEndpoint endpoint);
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

  /**
   * Forwards {@code request} (ownership passes to the relay) to the target the chooser
   * picks, excluding endpoints that already failed. The downstream stops reading until the
   * response has been written.
   */
  void forward(ChannelHandlerContext downstream, FullHttpRequest request,
      Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser, Outcome outcome) {
    downstream.channel().config().setAutoRead(false);
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    prepareRequest(request);
    attempt(downstream, request, keepAlive, chooser, outcome, new HashSet<>(), 2);
  }

  private void attempt(ChannelHandlerContext downstream, FullHttpRequest request,
      boolean keepAlive, Function<Set<UpstreamEndpoint>, Optional<UpstreamTarget>> chooser,
      Outcome outcome, Set<UpstreamEndpoint> failed, int attemptsLeft) {
    Optional<UpstreamTarget> picked = chooser.apply(failed);
    if (picked.isEmpty()) {
      request.release();
      int status = 503;
      String body = failed.isEmpty() ? "no healthy upstream" : "upstream connect error";
      outcome.completed(status, null);
      respondError(downstream, HttpResponseStatus.valueOf(status), body, keepAlive);
      return;
    }
    UpstreamTarget target = picked.get();
    acquire(downstream.channel().eventLoop(), target).addListener((Future<Channel> f) -> {
      if (!downstream.channel().isActive()) {
        request.release();
        if (f.isSuccess()) {
          f.getNow().close();
        }
        return;
      }
      if (!f.isSuccess()) {
        failed.add(target.endpoint());
        log.debug("connect to {} failed: {}", target.endpoint().address(), f.cause().toString());
        if (attemptsLeft > 1) {
          attempt(downstream, request, keepAlive, chooser, outcome, failed, attemptsLeft - 1);
        } else {
          request.release();
          outcome.completed(503, target.endpoint());
          respondError(downstream, HttpResponseStatus.SERVICE_UNAVAILABLE,
              "upstream connect error", keepAlive);
        }
        return;
      }
      Channel upstream = f.getNow();
      ResponseRelay relay = upstream.pipeline().get(ResponseRelay.class);
      relay.begin(downstream, target, keepAlive, outcome);
      upstream.writeAndFlush(request).addListener((ChannelFutureListener) w -> {
        if (w.isSuccess()) {
          upstream.read();
        } else {
          upstream.close();
        }
      });
    });
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

  private Future<Channel> acquire(EventLoop loop, UpstreamTarget target) {
    ArrayDeque<Channel> idle = POOLS.get().get(target.key());
    while (idle != null && !idle.isEmpty()) {
      Channel channel = idle.pollFirst();
      if (channel.isActive()) {
        channel.config().setAutoRead(false);
        return loop.newSucceededFuture(channel);
      }
    }
    var promise = loop.<Channel>newPromise();
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
            ch.pipeline().addLast(new HttpClientCodec(), new ResponseRelay(target.key()));
          }
        });
    ChannelFuture connect = bootstrap.connect(
        new InetSocketAddress(target.host(), target.port()),
        new InetSocketAddress(bindAddress, 0));
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
    private ChannelHandlerContext downstream;
    private UpstreamTarget target;
    private boolean keepAlive;
    private boolean upstreamKeepAlive;
    private boolean closeAfter;
    private Outcome outcome;
    private boolean responseStarted;

    ResponseRelay(UpstreamTarget.Key key) {
      this.key = key;
    }

    void begin(ChannelHandlerContext downstream, UpstreamTarget target, boolean keepAlive,
        Outcome outcome) {
      this.downstream = downstream;
      this.target = target;
      this.keepAlive = keepAlive;
      this.outcome = outcome;
      this.responseStarted = false;
      this.closeAfter = !keepAlive;
      this.upstreamKeepAlive = true;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ChannelHandlerContext down = downstream;
      if (down == null || !down.channel().isActive()) {
        // Idle pooled connection got data, or the client left: this connection is done.
        ReferenceCountUtil.release(msg);
        downstream = null;
        ctx.close();
        return;
      }
      if (msg instanceof HttpResponse response) {
        responseStarted = true;
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
        if (response.status().code() >= 200) {
          outcome.completed(response.status().code(), target.endpoint());
        }
      }
      boolean last = msg instanceof LastHttpContent;
      ChannelFuture write = down.writeAndFlush(msg);
      if (last) {
        finish(ctx, down, write);
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

    private void finish(ChannelHandlerContext upstream, ChannelHandlerContext down,
        ChannelFuture write) {
      downstream = null;
      if (upstreamKeepAlive) {
        release(upstream.channel(), key);
      } else {
        upstream.close();
      }
      write.addListener((ChannelFutureListener) f -> {
        if (!f.isSuccess() || closeAfter) {
          down.close();
        } else {
          down.channel().config().setAutoRead(true);
          down.read();
        }
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      ChannelHandlerContext down = downstream;
      downstream = null;
      ArrayDeque<Channel> idle = POOLS.get().get(key);
      if (idle != null) {
        idle.remove(ctx.channel());
      }
      if (down != null && down.channel().isActive()) {
        if (responseStarted) {
          down.close();
        } else {
          outcome.completed(503, target.endpoint());
          respondError(down, HttpResponseStatus.SERVICE_UNAVAILABLE,
              "upstream connect error or disconnect/reset before headers", keepAlive);
        }
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
