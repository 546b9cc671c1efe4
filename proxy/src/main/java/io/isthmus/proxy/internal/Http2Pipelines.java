package io.isthmus.proxy.internal;

import io.netty.channel.Channel;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.logging.LogLevel;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/2 pipelines, server and client side. Each stream becomes a child channel that carries
 * HTTP/1-style messages ({@link Http2StreamFrameToHttpObjectCodec}), so routing, retries,
 * timeouts and the relay work per stream exactly as they do per HTTP/1.1 request; request
 * bodies stream ({@link RequestStreamer}).
 *
 * <p>Limits (Envoy's defaults, tightened where Envoy's are unbounded): at most
 * {@value #MAX_CONCURRENT_STREAMS} concurrent streams per connection, a header list of at most
 * {@value #MAX_HEADER_LIST_BYTES} bytes (a larger one is answered 431 on that stream), and
 * Netty's rapid-reset protection (a client that resets streams faster than it opens them gets
 * GOAWAY). Protocol errors end the stream (RST_STREAM) or the connection (GOAWAY); both are
 * counted in {@code isthmus_http2_errors_total{side,frame,error}}, and no other connection
 * notices.
 */
final class Http2Pipelines {

  private static final Logger log = LoggerFactory.getLogger(Http2Pipelines.class);
  static final int MAX_CONCURRENT_STREAMS = 1024;
  private static final String HEADERS_TOO_LARGE = "431";
  static final int MAX_HEADER_LIST_BYTES = 60 * 1024;
  /** The HTTP/2 connection preface a client sends first (RFC 9113 §3.4). */
  static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(
      StandardCharsets.US_ASCII);

  private Http2Pipelines() {}

  /**
   * Makes {@code pipeline} an HTTP/2 server: each stream gets the codec and a fresh
   * {@code handler}, which sees HTTP/1-style messages: a request whose HEADERS ended the stream
   * whole, any other as its head, then its body's parts (a {@link RequestStreamer} behind the
   * stream's telemetry turns those into a {@link StreamingRequest}).
   */
  static void server(ChannelPipeline pipeline, Supplier<ChannelHandler> handler,
      ProxyMetrics metrics, String side) {
    Http2FrameCodec codec = Http2FrameCodecBuilder.forServer()
        .initialSettings(Http2Settings.defaultSettings()
            .maxConcurrentStreams(MAX_CONCURRENT_STREAMS)
            .maxHeaderListSize(MAX_HEADER_LIST_BYTES))
        .validateHeaders(true)
        .frameLogger(new ErrorCounter(metrics, side))
        .build();
    pipeline.addLast(codec,
        new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel stream) {
            stream.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true, true),
                handler.get());
          }
        }));
  }

  /** Makes {@code pipeline} an HTTP/2 client connection; streams are opened by the relay. */
  static void client(ChannelPipeline pipeline, ProxyMetrics metrics) {
    Http2FrameCodec codec = Http2FrameCodecBuilder.forClient()
        .initialSettings(Http2Settings.defaultSettings()
            .pushEnabled(false)
            .maxHeaderListSize(MAX_HEADER_LIST_BYTES))
        .validateHeaders(true)
        .frameLogger(new ErrorCounter(metrics, "upstream"))
        .build();
    pipeline.addLast(codec, new Http2MultiplexHandler(new RefusePush()));
  }

  /** The codec of an HTTP/2 connection, or null when {@code channel} is not one. */
  static Http2FrameCodec codec(Channel channel) {
    return channel.pipeline().get(Http2FrameCodec.class);
  }

  /** The connection a channel belongs to: its parent for an HTTP/2 stream, else itself. */
  static Channel connection(Channel channel) {
    return channel instanceof Http2StreamChannel stream ? stream.parent() : channel;
  }

  /** Push is disabled in our SETTINGS; a server that pushes anyway gets its stream closed. */
  private static final class RefusePush extends ChannelInboundHandlerAdapter {
    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      ctx.close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ReferenceCountUtil.release(msg);
      ctx.close();
    }

    @Override
    public boolean isSharable() {
      return true;
    }
  }

  /**
   * Counts the errors this side answers with: GOAWAY with an error code (a connection error,
   * e.g. a malformed frame), RST_STREAM other than CANCEL (a stream error, e.g. an invalid
   * header), and 431 (a header list over the limit). Frames are not logged: only these
   * callbacks are overridden, and the logger itself stays disabled.
   */
  private static final class ErrorCounter extends Http2FrameLogger {
    private final ProxyMetrics metrics;
    private final String side;

    ErrorCounter(ProxyMetrics metrics, String side) {
      super(LogLevel.TRACE, ErrorCounter.class);
      this.metrics = metrics;
      this.side = side;
    }

    @Override
    public void logGoAway(Direction direction, ChannelHandlerContext ctx, int lastStreamId,
        long errorCode, ByteBuf debugData) {
      if (direction == Direction.OUTBOUND && errorCode != Http2Error.NO_ERROR.code()) {
        count(ctx, "GOAWAY", errorCode, debugData.toString(StandardCharsets.UTF_8));
      }
    }

    @Override
    public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId,
        long errorCode) {
      if (direction == Direction.OUTBOUND && errorCode != Http2Error.CANCEL.code()
          && errorCode != Http2Error.NO_ERROR.code()) {
        count(ctx, "RST_STREAM", errorCode, "stream " + streamId);
      }
    }

    @Override
    public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId,
        Http2Headers headers, int padding, boolean endStream) {
      if (direction == Direction.OUTBOUND && headers.status() != null
          && HEADERS_TOO_LARGE.contentEquals(headers.status())) {
        metrics.counter("isthmus_http2_errors", "side", side, "frame", "HEADERS",
            "error", "431");
      }
    }

    @Override
    public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId,
        Http2Headers headers, int streamDependency, short weight, boolean exclusive,
        int padding, boolean endStream) {
      logHeaders(direction, ctx, streamId, headers, padding, endStream);
    }

    private void count(ChannelHandlerContext ctx, String frame, long code, String detail) {
      Http2Error error = Http2Error.valueOf(code);
      String name = error == null ? Long.toString(code) : error.name();
      metrics.counter("isthmus_http2_errors", "side", side, "frame", frame, "error", name);
      log.debug("HTTP/2 {} {} {} to {}: {}", side, frame, name, ctx.channel().remoteAddress(),
          detail);
    }
  }
}
