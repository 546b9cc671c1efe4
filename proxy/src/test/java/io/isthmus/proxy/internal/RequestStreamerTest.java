package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RequestStreamer} on an embedded channel standing for an HTTP/2 stream: what the handlers
 * behind it receive, where the body goes, and the reset after a response that ends first.
 */
class RequestStreamerTest {

  private final AtomicInteger overflows = new AtomicInteger();
  private final List<Object> received = new ArrayList<>();
  private final EmbeddedChannel stream = new EmbeddedChannel(
      new RequestStreamer(1024, overflows::incrementAndGet),
      new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          received.add(msg);
        }
      });

  @AfterEach
  void release() {
    received.forEach(ReferenceCountUtil::release);
    stream.finishAndReleaseAll();
  }

  private static HttpContent part(String text, boolean last) {
    var content = Unpooled.copiedBuffer(text, StandardCharsets.UTF_8);
    return last ? new DefaultLastHttpContent(content) : new DefaultHttpContent(content);
  }

  @Test
  void aWholeRequestPassesOnAsItIs() {
    FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
        "/");
    stream.writeInbound(request);
    assertThat(received).containsExactly(request);
    assertThat(stream.config().isAutoRead()).isTrue();
  }

  @Test
  void aHeadGoesOnAtOnceAndItsBodyFeedsTheStreamingRequest() {
    stream.writeInbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST,
        "/isthmus.test.Stream/Upload"));
    assertThat(received).singleElement().isInstanceOfSatisfying(StreamingRequest.class,
        r -> assertThat(r.uri()).isEqualTo("/isthmus.test.Stream/Upload"));
    // The body is read as fast as an upstream takes it, no faster.
    assertThat(stream.config().isAutoRead()).isFalse();
    StreamingRequest request = (StreamingRequest) received.get(0);

    stream.writeInbound(part("abc", false), part("def", true));
    // Not to the handlers: to the body, which buffers it for the attempt to come.
    assertThat(received).hasSize(1);
    assertThat(request.body().complete()).isTrue();
    FullHttpRequest whole = request.body().bufferedCopy(request);
    assertThat(whole.content().toString(StandardCharsets.UTF_8)).isEqualTo("abcdef");
    whole.release();
  }

  @Test
  void aResponseThatEndsBeforeTheRequestResetsTheStreamWithNoError() {
    stream.writeInbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/"));
    stream.writeInbound(part("still sending", false));
    stream.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.FORBIDDEN));

    Object response = stream.readOutbound();
    assertThat(response).isInstanceOf(DefaultFullHttpResponse.class);
    ReferenceCountUtil.release(response);
    Object reset = stream.readOutbound();
    assertThat(reset).isInstanceOfSatisfying(Http2ResetFrame.class,
        r -> assertThat(r.errorCode()).isEqualTo(Http2Error.NO_ERROR.code()));
  }

  @Test
  void aResponseAfterTheWholeRequestResetsNothing() {
    stream.writeInbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/"));
    stream.writeInbound(part("all", true));
    stream.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    ReferenceCountUtil.release(stream.readOutbound());
    assertThat((Object) stream.readOutbound()).isNull();
  }

  @Test
  void aClosedStreamCancelsTheExchangeItsBodyFeeds() {
    stream.writeInbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/"));
    AtomicInteger cancelled = new AtomicInteger();
    ((StreamingRequest) received.get(0)).body().onDownstreamClosed(cancelled::incrementAndGet);
    stream.close();
    assertThat(cancelled).hasValue(1);
  }

  @Test
  void aBodyPastTheBufferIsCounted() {
    stream.writeInbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/"));
    stream.writeInbound(part("x".repeat(1000), false), part("y".repeat(1000), true));
    assertThat(overflows).hasValue(1);
    assertThat(((StreamingRequest) received.get(0)).body().replayable()).isTrue();
  }
}
