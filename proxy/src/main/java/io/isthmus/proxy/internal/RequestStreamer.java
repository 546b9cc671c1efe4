package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * On an HTTP/1.1 connection or an HTTP/2 stream of a sidecar's server side (outbound entry and
 * inbound), in place of an aggregator: a whole request (an HTTP/2 HEADERS frame that ended the
 * stream, a bodiless HTTP/1.1 request from {@link BodilessRequests}) passes on as it is; any
 * other becomes a {@link StreamingRequest} that goes on at once (so the filters and routing see
 * the head before anything is forwarded, and a bidirectional call whose client waits for a reply
 * before it sends more does not deadlock), and the body parts and trailers that follow feed its
 * {@link RequestBody}, not the handlers behind. Every request with a body streams, as in Envoy,
 * whatever its size (a {@code Content-Length} or chunked HTTP/1.1 body, any HTTP/2 body).
 *
 * <p>{@code Expect: 100-continue} is answered here with {@code 100 Continue} and removed from the
 * request, as Envoy does without {@code proxy_100_continue}: the client sends its body at once, and
 * the upstream never sees the expectation.
 *
 * <p>Sits behind the telemetry handler, which so counts the streamed body's bytes. When the
 * response ends before the request did (a server that answers early, a local reply): on HTTP/2 the
 * stream is reset with {@code NO_ERROR} once that response is written (RFC 9113 §8.1), so the
 * client stops sending; on HTTP/1.1 the response says {@code Connection: close}, the rest of the
 * request is read and dropped, and the connection closes at its end or after
 * {@value #DELAYED_CLOSE_SECONDS} s (Envoy's {@code delayed_close_timeout}: closing at once could
 * make the client's TCP stack discard the answer). When the connection or stream closes first (a
 * client that leaves, an RST_STREAM), the body's exchange is told and cancels its upstream request.
 * Event-loop confined.
 */
final class RequestStreamer extends ChannelDuplexHandler {

  /** Envoy's default {@code delayed_close_timeout}. */
  static final int DELAYED_CLOSE_SECONDS = 1;

  private final int bufferLimit;
  private final Runnable overflow;
  private final boolean http1;
  private RequestBody body;
  /** HTTP/1.1: the response being written ends the connection (its request is not all read). */
  private boolean closeAfterResponse;
  /** HTTP/1.1: answered before its end, the request's remaining parts are read and dropped. */
  private boolean draining;

  /** On an HTTP/2 stream; {@code overflow} counts a body past {@code bufferLimit}. */
  RequestStreamer(int bufferLimit, Runnable overflow) {
    this(bufferLimit, overflow, false);
  }

  /**
   * @param overflow counts a body that outgrew {@code bufferLimit} (no retry, no mirror)
   * @param http1 on an HTTP/1.1 connection (requests one after another), not an HTTP/2 stream
   */
  RequestStreamer(int bufferLimit, Runnable overflow, boolean http1) {
    this.bufferLimit = bufferLimit;
    this.overflow = requireNonNull(overflow, "overflow");
    this.http1 = http1;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (draining) {
      boolean last = msg instanceof LastHttpContent;
      ReferenceCountUtil.release(msg);
      if (last) {
        ctx.close();
      }
      return;
    }
    if (msg instanceof FullHttpRequest) {
      if (http1) {
        body = null;
      }
      ctx.fireChannelRead(msg);
    } else if (msg instanceof HttpRequest head) {
      if (body != null && !(http1 && body.complete())) {
        // One request per stream: a second head is a protocol error the codec lets through.
        ReferenceCountUtil.release(msg);
        ctx.close();
        return;
      }
      if (!head.decoderResult().isSuccess()) {
        // The decoder gave up on this request (it drops the rest of the connection's bytes):
        // handed on whole and empty, as the aggregator did, for the handlers to refuse.
        FullHttpRequest whole = new DefaultFullHttpRequest(head.protocolVersion(), head.method(),
            head.uri(), Unpooled.EMPTY_BUFFER, head.headers(),
            io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
        whole.setDecoderResult(head.decoderResult());
        body = null;
        ctx.fireChannelRead(whole);
        return;
      }
      if (HttpUtil.is100ContinueExpected(head)) {
        head.headers().remove(HttpHeaderNames.EXPECT);
        ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
            HttpResponseStatus.CONTINUE, Unpooled.EMPTY_BUFFER));
      }
      body = new RequestBody(ctx.channel(), bufferLimit, overflow);
      // From here the body reads only as fast as an upstream attempt takes it.
      ctx.channel().config().setAutoRead(false);
      ctx.fireChannelRead(new StreamingRequest(head, body));
    } else if (msg instanceof HttpContent part) {
      RequestBody current = body;
      if (current == null) {
        part.release();
        return;
      }
      current.onContent(part);
      if (http1 && current.complete() && !draining) {
        // The request is all read: the connection reads on while it is answered, as for a
        // bodiless one (RequestGate holds a pipelined request).
        ctx.channel().config().setAutoRead(true);
      }
    } else {
      ctx.fireChannelRead(msg);
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    RequestBody current = body;
    if (http1) {
      if (msg instanceof HttpResponse response && response.status().code() >= 200
          && current != null && !current.complete()) {
        // Answered before the request's end: the connection cannot carry another request.
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        closeAfterResponse = true;
      }
      if (closeAfterResponse && msg instanceof LastHttpContent) {
        closeAfterResponse = false;
        promise = promise.unvoid();
        promise.addListener((ChannelFutureListener) f -> closeAfterRequest(ctx, current));
      }
    } else if (current != null && msg instanceof LastHttpContent && !current.complete()) {
      // The response is over and the request is not: ask the client to stop, without error.
      promise = promise.unvoid();
      promise.addListener((ChannelFutureListener) f -> {
        if (f.isSuccess() && !current.complete() && ctx.channel().isActive()) {
          ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR))
              .addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        }
      });
    }
    ctx.write(msg, promise);
  }

  /** HTTP/1.1, the answer written: close once the rest of the request is read (and dropped). */
  private void closeAfterRequest(ChannelHandlerContext ctx, RequestBody answered) {
    if (answered == null || answered.complete() || !ctx.channel().isActive()) {
      ctx.close();
      return;
    }
    draining = true;
    answered.release();
    ctx.channel().config().setAutoRead(true);
    ctx.executor().schedule(() -> ctx.close(), DELAYED_CLOSE_SECONDS, TimeUnit.SECONDS);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    RequestBody current = body;
    if (http1 && current != null && !current.complete() && !draining
        && (evt instanceof ChannelInputShutdownEvent
            || evt instanceof SslCloseCompletionEvent close && close.isSuccess())) {
      // The client stopped sending mid-body (the decoder drops a request cut short): it can
      // never be complete, so its upstream request is reset, as Envoy does.
      current.downstreamClosed();
      ctx.close();
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    RequestBody current = body;
    if (current != null) {
      current.downstreamClosed();
    }
    ctx.fireChannelInactive();
  }
}
