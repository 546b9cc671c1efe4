package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The downstream HTTP/1.1 pipeline as the sidecar builds it (codec, {@link BodilessRequests},
 * {@link RequestGate}, {@link RequestStreamer}) on an embedded channel fed raw bytes: a request
 * with a body (Content-Length or chunked) reaches the handlers as a {@link StreamingRequest}
 * whose body the handlers do not see; a bodiless one still arrives whole; {@code Expect:
 * 100-continue} is answered here; an early answer closes the connection after the request's end;
 * a client that stops sending mid-body cancels the exchange; and a pipelined request waits with
 * its body until its turn.
 */
class Http1RequestStreamingTest {

  private final AtomicInteger overflows = new AtomicInteger();
  private final List<Object> received = new ArrayList<>();
  private final EmbeddedChannel connection = new EmbeddedChannel(new HttpServerCodec(),
      new BodilessRequests(), new RequestGate(),
      new RequestStreamer(1024, overflows::incrementAndGet, true),
      new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          received.add(msg);
        }
      });

  @AfterEach
  void release() {
    received.forEach(ReferenceCountUtil::release);
    connection.finishAndReleaseAll();
  }

  private void send(String raw) {
    connection.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
  }

  private String outbound() {
    StringBuilder out = new StringBuilder();
    Object msg;
    while ((msg = connection.readOutbound()) != null) {
      out.append(((ByteBuf) msg).toString(StandardCharsets.ISO_8859_1));
      ReferenceCountUtil.release(msg);
    }
    return out.toString();
  }

  private static String buffered(StreamingRequest request) {
    FullHttpRequest whole = request.body().bufferedCopy(request);
    try {
      return whole.content().toString(StandardCharsets.ISO_8859_1);
    } finally {
      whole.release();
    }
  }

  @Test
  void aContentLengthBodyStreamsBehindItsHead() {
    send("POST /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 10\r\n\r\nhello");
    assertThat(received).singleElement().isInstanceOf(StreamingRequest.class);
    StreamingRequest request = (StreamingRequest) received.get(0);
    // Read at the upstream's pace from here: nothing reads while no attempt is attached.
    assertThat(connection.config().isAutoRead()).isFalse();
    assertThat(request.body().complete()).isFalse();

    send("world");
    assertThat(received).hasSize(1);
    assertThat(request.body().complete()).isTrue();
    assertThat(buffered(request)).isEqualTo("helloworld");
    // The request is all read: the connection reads on while it is answered.
    assertThat(connection.config().isAutoRead()).isTrue();
  }

  @Test
  void aChunkedBodyStreamsWithItsTrailers() {
    send("POST /upload HTTP/1.1\r\nHost: files\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "3\r\nabc\r\n2\r\nde\r\n0\r\nx-checksum: 1\r\n\r\n");
    StreamingRequest request = (StreamingRequest) received.get(0);
    assertThat(request.body().complete()).isTrue();
    FullHttpRequest whole = request.body().bufferedCopy(request);
    assertThat(whole.content().toString(StandardCharsets.ISO_8859_1)).isEqualTo("abcde");
    assertThat(whole.trailingHeaders().get("x-checksum")).isEqualTo("1");
    whole.release();
  }

  @Test
  void aBodilessRequestStillArrivesWhole() {
    send("GET /a HTTP/1.1\r\nHost: files\r\n\r\n");
    assertThat(received).singleElement().isInstanceOf(FullHttpRequest.class);
    assertThat(connection.config().isAutoRead()).isTrue();
  }

  @Test
  void expectContinueIsAnsweredHereAndNotPassedOn() {
    send("PUT /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 3\r\n"
        + "Expect: 100-continue\r\n\r\n");
    assertThat(outbound()).isEqualTo("HTTP/1.1 100 Continue\r\n\r\n");
    HttpRequest request = (HttpRequest) received.get(0);
    assertThat(request.headers().contains(HttpHeaderNames.EXPECT)).isFalse();
    send("abc");
    assertThat(buffered((StreamingRequest) request)).isEqualTo("abc");
  }

  @Test
  void anAnswerBeforeTheRequestsEndClosesTheConnectionOnceTheRestIsRead() {
    send("POST /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 10\r\n\r\nhello");
    StreamingRequest request = (StreamingRequest) received.get(0);
    // A local reply (403, 503) to a request still sending: the handler drops the request.
    request.release();
    received.clear();
    connection.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.FORBIDDEN, Unpooled.EMPTY_BUFFER));
    assertThat(outbound()).startsWith("HTTP/1.1 403 Forbidden\r\n")
        .containsIgnoringCase("connection: close\r\n");
    // The rest of the body is read and dropped, then the connection closes.
    assertThat(connection.isOpen()).isTrue();
    assertThat(connection.config().isAutoRead()).isTrue();
    send("world");
    assertThat(received).isEmpty();
    assertThat(connection.isOpen()).isFalse();
  }

  @Test
  void aStreamedAnswerToAWholeRequestKeepsTheConnection() {
    send("POST /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 2\r\n\r\nok");
    connection.writeOutbound(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    connection.writeOutbound(new DefaultLastHttpContent());
    assertThat(outbound()).doesNotContainIgnoringCase("connection: close");
    assertThat(connection.isOpen()).isTrue();
  }

  @Test
  void aClientThatStopsSendingMidBodyCancelsTheExchange() {
    send("POST /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 10\r\n\r\nhel");
    AtomicInteger cancelled = new AtomicInteger();
    ((StreamingRequest) received.get(0)).body().onDownstreamClosed(cancelled::incrementAndGet);
    connection.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    assertThat(cancelled).hasValue(1);
    assertThat(connection.isOpen()).isFalse();
  }

  @Test
  void requestsWithBodiesFollowEachOtherOnOneConnection() {
    send("POST /a HTTP/1.1\r\nHost: files\r\nContent-Length: 1\r\n\r\na");
    StreamingRequest first = (StreamingRequest) received.get(0);
    assertThat(buffered(first)).isEqualTo("a");
    connection.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER));
    RequestGate.next(connection.pipeline().context(RequestStreamer.class));
    connection.runPendingTasks();
    outbound();

    send("POST /b HTTP/1.1\r\nHost: files\r\nContent-Length: 1\r\n\r\nb");
    assertThat(received).hasSize(2);
    assertThat(buffered((StreamingRequest) received.get(1))).isEqualTo("b");
    assertThat(overflows).hasValue(0);
  }

  @Test
  void aPipelinedRequestWaitsWithItsBodyUntilItsTurn() {
    // The second request (and its whole body) arrive while the first is being answered.
    send("POST /a HTTP/1.1\r\nHost: files\r\nContent-Length: 1\r\n\r\na"
        + "POST /b HTTP/1.1\r\nHost: files\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "2\r\nbb\r\n1\r\nb\r\n0\r\n\r\n");
    assertThat(received).hasSize(1);
    assertThat(buffered((StreamingRequest) received.get(0))).isEqualTo("a");

    connection.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER));
    RequestGate.next(connection.pipeline().context(RequestStreamer.class));
    connection.runPendingTasks();
    assertThat(received).hasSize(2);
    StreamingRequest second = (StreamingRequest) received.get(1);
    assertThat(second.uri()).isEqualTo("/b");
    assertThat(second.body().complete()).isTrue();
    assertThat(buffered(second)).isEqualTo("bbb");
    // Nothing else is held: reads go on.
    assertThat(connection.config().isAutoRead()).isTrue();
    outbound();
  }

  @Test
  void aLastPartAloneIsNoRequest() {
    // Parts that belong to no request (after a refused one was dropped) never reach a handler.
    connection.pipeline().context(RequestGate.class).fireChannelRead(
        new DefaultLastHttpContent(Unpooled.copiedBuffer("x", StandardCharsets.US_ASCII)));
    assertThat(received).noneMatch(m -> m instanceof HttpContent || m instanceof LastHttpContent);
  }
}
