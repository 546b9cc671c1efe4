package io.isthmus.proxy.internal;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;

/**
 * Between the HTTP/1.1 decoder and the aggregator: a request whose framing says it has no body
 * (no {@code Content-Length} or {@code 0}, no {@code Transfer-Encoding}, no {@code Expect}) is
 * joined with the empty last part the decoder sends right after it into a
 * {@link FullHttpRequest} over the empty buffer, with {@code content-length: 0} as the
 * aggregator would set it. The aggregator passes it on as it is, without the composite buffer
 * and the state it builds for a body (most requests through a sidecar are bodiless GETs).
 * Anything else, including a bodiless request followed by something other than an empty last
 * part, reaches the aggregator exactly as the decoder sent it. Event-loop confined.
 */
final class BodilessRequests extends ChannelInboundHandlerAdapter {

  private HttpRequest pending;

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    HttpRequest request = pending;
    if (request != null) {
      pending = null;
      if (msg instanceof LastHttpContent last && !last.content().isReadable()
          && last.decoderResult().isSuccess()) {
        FullHttpRequest full = new DefaultFullHttpRequest(request.protocolVersion(),
            request.method(), request.uri(), Unpooled.EMPTY_BUFFER, request.headers(),
            last.trailingHeaders());
        last.release();
        if (!request.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
          full.headers().set(HttpHeaderNames.CONTENT_LENGTH, HttpHeaderValues.ZERO);
        }
        ctx.fireChannelRead(full);
        return;
      }
      ctx.fireChannelRead(request);
      ctx.fireChannelRead(msg);
      return;
    }
    if (msg instanceof HttpRequest candidate && !(msg instanceof HttpContent)
        && candidate.decoderResult().isSuccess() && bodiless(candidate.headers())) {
      pending = candidate;
      return;
    }
    ctx.fireChannelRead(msg);
  }

  private static boolean bodiless(HttpHeaders headers) {
    if (headers.contains(HttpHeaderNames.TRANSFER_ENCODING)
        || headers.contains(HttpHeaderNames.EXPECT)) {
      return false;
    }
    String length = headers.get(HttpHeaderNames.CONTENT_LENGTH);
    return length == null || length.equals("0");
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    // A request whose end never came: the aggregator would drop it too.
    pending = null;
    super.channelInactive(ctx);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    HttpRequest request = pending;
    if (request != null) {
      pending = null;
      // Removed mid-request (an upgrade): whatever follows gets it first, as sent.
      ctx.fireChannelRead(request);
    }
  }
}
