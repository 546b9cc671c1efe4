package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * {@link BodilessRequests} in the server pipeline: a bodiless request comes out of the
 * aggregator as the aggregator alone would make it, without its composite buffer; requests with
 * a body, chunked ones and {@code Expect} go the aggregator's way; pipelined requests keep order.
 */
class BodilessRequestsTest {

  private static EmbeddedChannel server(boolean withFastPath) {
    EmbeddedChannel channel = new EmbeddedChannel(new HttpServerCodec());
    if (withFastPath) {
      channel.pipeline().addLast(new BodilessRequests());
    }
    channel.pipeline().addLast(new HttpObjectAggregator(1 << 20));
    return channel;
  }

  private static ByteBuf bytes(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
  }

  private static java.util.List<String> lines(io.netty.handler.codec.http.HttpHeaders headers) {
    return headers.entries().stream().map(e -> e.getKey() + ": " + e.getValue()).toList();
  }

  @Test
  void aBodilessGetIsTheSameFullRequestWithoutTheAggregatorsBuffer() {
    String get = "GET /a?b=c HTTP/1.1\r\nHost: x:5000\r\nUser-Agent: t\r\n\r\n";
    EmbeddedChannel fast = server(true);
    EmbeddedChannel plain = server(false);
    fast.writeInbound(bytes(get));
    plain.writeInbound(bytes(get));
    FullHttpRequest viaFastPath = fast.readInbound();
    FullHttpRequest viaAggregator = plain.readInbound();
    try {
      assertThat(viaFastPath).isInstanceOf(DefaultFullHttpRequest.class);
      assertThat(viaFastPath.content().readableBytes()).isZero();
      assertThat(viaFastPath.method()).isEqualTo(viaAggregator.method());
      assertThat(viaFastPath.uri()).isEqualTo(viaAggregator.uri());
      assertThat(viaFastPath.protocolVersion()).isEqualTo(viaAggregator.protocolVersion());
      assertThat(lines(viaFastPath.headers()))
          .as("content-length: 0 added as the aggregator adds it")
          .isEqualTo(lines(viaAggregator.headers()))
          .contains("content-length: 0");
      assertThat(viaFastPath.trailingHeaders().isEmpty()).isTrue();
      assertThat(viaFastPath.decoderResult().isSuccess()).isTrue();
    } finally {
      viaFastPath.release();
      viaAggregator.release();
    }
    assertThat(fast.finishAndReleaseAll()).isFalse();
    plain.finishAndReleaseAll();
  }

  @Test
  void requestsWithABodyChunkedOrExpectGoThroughTheAggregator() {
    EmbeddedChannel channel = server(true);
    channel.writeInbound(bytes("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        + "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        + "GET /zero HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        + "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"));
    FullHttpRequest body = channel.readInbound();
    FullHttpRequest chunked = channel.readInbound();
    FullHttpRequest zero = channel.readInbound();
    FullHttpRequest last = channel.readInbound();
    try {
      assertThat(body.uri()).isEqualTo("/p");
      assertThat(body.content().toString(StandardCharsets.US_ASCII)).isEqualTo("hello");
      assertThat(chunked.uri()).isEqualTo("/c");
      assertThat(chunked.content().toString(StandardCharsets.US_ASCII)).isEqualTo("abc");
      assertThat(zero.uri()).isEqualTo("/zero");
      assertThat(zero.headers().getAll("content-length")).containsExactly("0");
      assertThat(last.uri()).as("pipelined requests keep their order").isEqualTo("/last");
    } finally {
      body.release();
      chunked.release();
      zero.release();
      last.release();
    }

    // Expect: 100-continue is the aggregator's to answer.
    channel.writeInbound(bytes("GET /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"));
    FullHttpRequest expect = channel.readInbound();
    try {
      assertThat(expect).isNotInstanceOf(DefaultFullHttpRequest.class);
      assertThat(expect.uri()).isEqualTo("/e");
    } finally {
      expect.release();
    }
    channel.finishAndReleaseAll();
  }

  @Test
  void aMalformedRequestReachesTheAggregatorAsTheDecoderSentIt() {
    EmbeddedChannel channel = server(true);
    channel.writeInbound(bytes("GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
    Object decoded = channel.readInbound();
    try {
      assertThat(decoded).isInstanceOf(FullHttpRequest.class);
      assertThat(((FullHttpRequest) decoded).decoderResult().isFailure()).isTrue();
    } finally {
      io.netty.util.ReferenceCountUtil.release(decoded);
    }
    channel.finishAndReleaseAll();
  }
}
