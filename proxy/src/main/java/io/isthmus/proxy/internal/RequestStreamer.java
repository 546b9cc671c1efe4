package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.ReferenceCountUtil;

/**
 * On an HTTP/2 stream of a sidecar's server side (outbound entry and inbound), in place of an
 * aggregator: a request whose HEADERS frame ended the stream passes on whole; any other becomes
 * a {@link StreamingRequest} that goes on at once (so the filters and routing see the head
 * before anything is forwarded, and a bidirectional gRPC call whose client waits for a reply
 * before it sends more does not deadlock), and the DATA and trailers that follow feed its
 * {@link RequestBody}, not the handlers behind. Every HTTP/2 request with a body streams, as in
 * Envoy: an HTTP/2 request cannot say that it is small or that its client waits for nothing.
 *
 * <p>Sits behind the telemetry handler, which so counts the streamed body's bytes. When the
 * response ends before the request did (a server that half-closes first, a local reply), the
 * stream is reset with {@code NO_ERROR} once that response is written (RFC 9113 §8.1), so the
 * client stops sending. When the stream closes (a client's RST_STREAM), the body's exchange is
 * told and cancels its upstream stream. Event-loop confined.
 */
final class RequestStreamer extends ChannelDuplexHandler {

  private final int bufferLimit;
  private final Runnable overflow;
  private RequestBody body;

  /** {@code overflow}: counts a body that outgrew {@code bufferLimit} (no retry, no mirror). */
  RequestStreamer(int bufferLimit, Runnable overflow) {
    this.bufferLimit = bufferLimit;
    this.overflow = requireNonNull(overflow, "overflow");
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof FullHttpRequest) {
      ctx.fireChannelRead(msg);
    } else if (msg instanceof HttpRequest head) {
      if (body != null) {
        // One request per stream: a second head is a protocol error the codec lets through.
        ReferenceCountUtil.release(msg);
        ctx.close();
        return;
      }
      body = new RequestBody(ctx.channel(), bufferLimit, overflow);
      // From here the body reads only as fast as an upstream attempt takes it.
      ctx.channel().config().setAutoRead(false);
      ctx.fireChannelRead(new StreamingRequest(head, body));
    } else if (msg instanceof HttpContent part) {
      if (body == null) {
        part.release();
      } else {
        body.onContent(part);
      }
    } else {
      ctx.fireChannelRead(msg);
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    RequestBody current = body;
    if (current != null && msg instanceof LastHttpContent && !current.complete()) {
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

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    RequestBody current = body;
    if (current != null) {
      current.downstreamClosed();
    }
    ctx.fireChannelInactive();
  }
}
