package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RequestBody} on embedded channels: what each attempt receives, the retry buffer and its
 * limit, reads paced by the attempt, and that every part is released exactly once.
 */
class RequestBodyTest {

  private final AtomicInteger reads = new AtomicInteger();
  private final AtomicInteger overflows = new AtomicInteger();
  private final List<HttpContent> created = new ArrayList<>();
  private final EmbeddedChannel downstream = new EmbeddedChannel(
      new ChannelOutboundHandlerAdapter() {
        @Override
        public void read(ChannelHandlerContext ctx) {
          reads.incrementAndGet();
        }
      });

  @AfterEach
  void noLeaks() {
    downstream.finishAndReleaseAll();
    // Every part the test made was released by the body or by the attempt that got it.
    for (HttpContent part : created) {
      assertThat(part.refCnt()).as("refCnt of a part").isZero();
    }
  }

  private RequestBody body(int limit) {
    return new RequestBody(downstream, limit, overflows::incrementAndGet);
  }

  private HttpContent part(String text) {
    HttpContent part = new DefaultHttpContent(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
    created.add(part);
    return part;
  }

  private HttpContent last(String text) {
    LastHttpContent part = new DefaultLastHttpContent(
        Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
    part.trailingHeaders().set("grpc-status", "0");
    created.add(part);
    return part;
  }

  /** The body parts an attempt received, as text, each released. */
  private static String received(EmbeddedChannel attempt) {
    StringBuilder out = new StringBuilder();
    Object msg;
    while ((msg = attempt.readOutbound()) != null) {
      HttpContent part = (HttpContent) msg;
      out.append(part.content().toString(StandardCharsets.UTF_8));
      if (part instanceof LastHttpContent) {
        out.append('|');
      }
      part.release();
    }
    return out.toString();
  }

  @Test
  void anAttemptGetsWhatArrivedBeforeItThenTheRestAsItComes() {
    RequestBody body = body(1024);
    body.onContent(part("a"));
    EmbeddedChannel attempt = new EmbeddedChannel();
    assertThat(body.attach(attempt)).isTrue();
    body.onContent(part("b"));
    body.onContent(last("c"));

    assertThat(received(attempt)).isEqualTo("abc|");
    assertThat(body.complete()).isTrue();
    assertThat(body.sentToAttempt()).isTrue();
    body.release();
    attempt.finishAndReleaseAll();
  }

  @Test
  void aRetryGetsTheWholeBodyAgainFromTheBuffer() {
    RequestBody body = body(1024);
    EmbeddedChannel first = new EmbeddedChannel();
    body.attach(first);
    body.onContent(part("one,"));
    body.onContent(part("two,"));
    assertThat(received(first)).isEqualTo("one,two,");
    body.detach();
    // Arrives between attempts: buffered, not lost.
    body.onContent(part("three"));

    EmbeddedChannel second = new EmbeddedChannel();
    assertThat(body.replayable()).isTrue();
    assertThat(body.attach(second)).isTrue();
    body.onContent(last(""));
    assertThat(received(second)).isEqualTo("one,two,three|");
    assertThat(overflows).hasValue(0);
    body.release();
    first.finishAndReleaseAll();
    second.finishAndReleaseAll();
  }

  @Test
  void pastTheLimitTheBodyGoesOnToItsAttemptButNoOtherAndIsCountedOnce() {
    RequestBody body = body(8);
    EmbeddedChannel first = new EmbeddedChannel();
    body.attach(first);
    body.onContent(part("12345"));
    body.onContent(part("67890"));
    body.onContent(part("abc"));
    assertThat(received(first)).isEqualTo("1234567890abc");
    assertThat(overflows).hasValue(1);
    assertThat(body.replayable()).isFalse();
    body.detach();
    assertThat(body.attach(new EmbeddedChannel())).isFalse();
    assertThat(body.bufferedCopy(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST,
        "/"))).isNull();
    body.release();
    first.finishAndReleaseAll();
  }

  @Test
  void pastTheLimitBeforeAnyAttemptTheFirstAttemptStillGetsItAll() {
    RequestBody body = body(4);
    body.onContent(part("abc"));
    body.onContent(part("def"));
    assertThat(overflows).hasValue(1);
    // Nothing went anywhere yet: the first attempt can have it all.
    assertThat(body.replayable()).isTrue();
    EmbeddedChannel attempt = new EmbeddedChannel();
    assertThat(body.attach(attempt)).isTrue();
    body.onContent(last("g"));
    assertThat(received(attempt)).isEqualTo("abcdefg|");
    assertThat(body.replayable()).isFalse();
    body.release();
    attempt.finishAndReleaseAll();
  }

  @Test
  void readsFollowTheAttemptsPaceAndStopWithoutOne() {
    // The embedded channel read once when it was registered.
    reads.set(0);
    RequestBody body = body(1024);
    body.onContent(part("early"));
    // No attempt: nothing asks the downstream for more.
    assertThat(reads).hasValue(0);
    HoldWrites held = new HoldWrites();
    EmbeddedChannel attempt = new EmbeddedChannel(held);
    attempt.unsafe().outboundBuffer().setUserDefinedWritability(1, false);
    body.attach(attempt);
    // The attempt is not writable: the next read waits for it to take what it was given.
    assertThat(reads).hasValue(0);
    held.complete();
    assertThat(reads).hasValue(1);
    attempt.unsafe().outboundBuffer().setUserDefinedWritability(1, true);
    body.onContent(part("more"));
    // Writable: the next part is asked for at once.
    assertThat(reads).hasValue(2);
    held.complete();
    body.detach();
    body.onContent(part("late"));
    assertThat(reads).hasValue(2);
    body.release();
    attempt.finishAndReleaseAll();
  }

  @Test
  void aCompleteBodyWithinTheBufferCanBeMirroredWhole() {
    RequestBody body = body(1024);
    List<String> completed = new ArrayList<>();
    body.whenComplete(() -> completed.add("done"));
    body.onContent(part("he"));
    body.onContent(last("llo"));
    assertThat(completed).containsExactly("done");
    FullHttpRequest copy = body.bufferedCopy(
        new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/upload"));
    assertThat(copy.content().toString(StandardCharsets.UTF_8)).isEqualTo("hello");
    assertThat(copy.trailingHeaders().get("grpc-status")).isEqualTo("0");
    assertThat(copy.uri()).isEqualTo("/upload");
    copy.release();
    body.release();
  }

  @Test
  void releaseFreesTheBufferAndDropsWhatStillArrives() {
    RequestBody body = body(1024);
    body.onContent(part("kept"));
    AtomicInteger cancelled = new AtomicInteger();
    body.onDownstreamClosed(cancelled::incrementAndGet);
    body.release();
    body.release();
    body.onContent(part("dropped"));
    body.downstreamClosed();
    assertThat(cancelled).hasValue(0);
    assertThat(body.attach(new EmbeddedChannel())).isFalse();
  }

  @Test
  void aDownstreamThatClosesTellsTheExchangeOnce() {
    RequestBody body = body(1024);
    AtomicInteger cancelled = new AtomicInteger();
    body.onDownstreamClosed(cancelled::incrementAndGet);
    body.downstreamClosed();
    body.downstreamClosed();
    assertThat(cancelled).hasValue(1);
    body.release();
  }

  @Test
  void streamingRequestReleasesItsBodyWithItsLastReference() {
    RequestBody body = body(1024);
    body.onContent(part("x"));
    StreamingRequest request = new StreamingRequest(
        new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/"), body);
    request.retain();
    assertThat(request.release()).isFalse();
    assertThat(created.get(0).refCnt()).isEqualTo(1);
    assertThat(request.release()).isTrue();
    assertThat(created.get(0).refCnt()).isZero();
  }

  /** Holds writes (and their promises) until {@link #complete()}. */
  private static final class HoldWrites extends ChannelOutboundHandlerAdapter {
    private final List<Object> messages = new ArrayList<>();
    private final List<ChannelPromise> promises = new ArrayList<>();

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      messages.add(msg);
      promises.add(promise);
    }

    void complete() {
      messages.forEach(m -> ((ByteBuf) ((HttpContent) m).content()).release());
      messages.clear();
      List<ChannelPromise> done = new ArrayList<>(promises);
      promises.clear();
      done.forEach(ChannelPromise::setSuccess);
    }
  }
}
