package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The body of a {@link StreamingRequest}, relayed to one upstream attempt at a time as it
 * arrives, with flow control both ways: the downstream stream is read one frame at a time, and
 * only while the upstream (an HTTP/2 stream, whose writability follows its flow-control window,
 * or an HTTP/1.1 connection) is writable or has taken the previous part. Nothing is read while
 * no attempt is attached (connecting, backing off before a retry).
 *
 * <p>Retry buffer (Envoy's {@code per_request_buffer_limit_bytes}): while the body so far fits
 * in {@code limit} bytes every part is kept, and a new attempt (a retry) gets all of it again
 * before the live parts. Past the limit the buffer is released and counted
 * ({@code overflow}); the body then goes on to the attempt it started with, and no other attempt
 * can take it ({@link #replayable()} is false once a part left the buffer for good).
 *
 * <p>Owned by its {@link StreamingRequest}: {@link #release()} frees what is buffered and drops
 * (releases) whatever still arrives. Event-loop confined (the downstream stream's loop, which
 * the upstream attempts share).
 */
final class RequestBody {

  /** Envoy's default {@code per_request_buffer_limit_bytes} (1 MiB). */
  static final int DEFAULT_BUFFER_LIMIT = 1 << 20;

  private final Channel downstream;
  private final int limit;
  private final Runnable overflow;
  /** Every part so far, while they fit in the limit: the retry buffer. */
  private List<HttpContent> replay = new ArrayList<>();
  /** Past the limit: parts not yet handed to the attempt (made then: most bodies never need it). */
  private ArrayDeque<HttpContent> pending;
  private final List<Runnable> onComplete = new ArrayList<>(1);
  private long bytes;
  private boolean overflowed;
  /** Past the limit, a part went to an attempt and is gone: no other attempt can start over. */
  private boolean consumed;
  private boolean complete;
  private boolean released;
  private boolean readRequested;
  private Channel sink;
  /** The attached attempt got the last part. */
  private boolean sentLast;
  private Runnable downstreamClosed;
  /** Nesting of onContent/attach (a read may deliver the next part within them). */
  private int depth;
  private boolean unflushed;

  /**
   * @param downstream the stream the body is read from (its reads are this body's to drive)
   * @param limit the retry buffer's size in bytes
   * @param overflow called once when the body outgrows the buffer
   */
  RequestBody(Channel downstream, int limit, Runnable overflow) {
    this.downstream = requireNonNull(downstream, "downstream");
    if (limit < 0) {
      throw new IllegalArgumentException("limit: " + limit + " (expected: >= 0)");
    }
    this.limit = limit;
    this.overflow = requireNonNull(overflow, "overflow");
  }

  /** A part of the body read from the downstream; ownership passes here. */
  void onContent(HttpContent part) {
    readRequested = false;
    if (released || complete) {
      // Dropped, but its end still counts: the client finished sending (HTTP/1.1 may then reuse
      // its connection, an HTTP/2 stream needs no reset).
      complete |= part instanceof LastHttpContent;
      part.release();
      return;
    }
    // Parts that a read delivers right away (frames already queued) are written in this task
    // and flushed together once, when the outermost call ends: a unary call's HEADERS and DATA
    // leave in one write.
    depth++;
    try {
      accept(part);
    } finally {
      if (--depth == 0) {
        flushSink();
      }
    }
  }

  private void accept(HttpContent part) {
    boolean last = part instanceof LastHttpContent;
    complete = last;
    if (!overflowed) {
      bytes += part.content().readableBytes();
      if (bytes > limit) {
        overflowed = true;
        overflow.run();
        pending = new ArrayDeque<>();
        if (sink == null) {
          // Nothing of it was sent anywhere since the last attempt ended: the next one takes it.
          pending.addAll(replay);
        } else {
          // The attempt has it all already; only it can go on now.
          replay.forEach(HttpContent::release);
        }
        replay = List.of();
      }
    }
    if (!overflowed) {
      replay.add(part);
      if (sink != null) {
        send(part.retainedDuplicate(), last);
      }
    } else if (sink != null && pending.isEmpty()) {
      consumed = true;
      send(part, last);
    } else {
      pending.add(part);
    }
    if (last) {
      List<Runnable> run = List.copyOf(onComplete);
      onComplete.clear();
      run.forEach(Runnable::run);
    }
  }

  /**
   * Makes {@code upstream} (whose request head was just written) the attempt that gets the body:
   * what is buffered now, then the rest as it comes. False when the body cannot be replayed
   * from its start any more.
   */
  boolean attach(Channel upstream) {
    requireNonNull(upstream, "upstream");
    if (released || !replayable()) {
      return false;
    }
    sink = upstream;
    sentLast = false;
    ChannelFuture lastWrite = null;
    depth++;
    if (!overflowed) {
      for (HttpContent part : replay) {
        lastWrite = upstream.write(part.retainedDuplicate());
      }
      sentLast = complete;
    } else {
      HttpContent part;
      while ((part = pending.pollFirst()) != null) {
        consumed = true;
        sentLast |= part instanceof LastHttpContent;
        lastWrite = upstream.write(part);
      }
    }
    unflushed = true;
    afterWrite(lastWrite);
    if (--depth == 0) {
      flushSink();
    }
    return true;
  }

  /** The attempt is over (retry, timeout, response done): nothing more goes to it. */
  void detach() {
    flushSink();
    sink = null;
  }

  /**
   * True while a new attempt can get the whole body from its start: it still fits in the
   * buffer, or, past it, nothing has been handed to an attempt yet.
   */
  boolean replayable() {
    return !overflowed || !consumed;
  }

  /** The downstream ended the body (END_STREAM, with or without trailers), kept or not. */
  boolean complete() {
    return complete;
  }

  /** The attached attempt got the whole body, so its connection may serve another request. */
  boolean sentToAttempt() {
    return sink != null && sentLast;
  }

  /** Runs {@code action} when the body is complete, right away if it is. */
  void whenComplete(Runnable action) {
    requireNonNull(action, "action");
    if (complete) {
      action.run();
    } else if (!released) {
      onComplete.add(action);
    }
  }

  /** Runs {@code action} if the downstream stream closes (reset, cancel) before release. */
  void onDownstreamClosed(Runnable action) {
    this.downstreamClosed = action;
  }

  /** The downstream stream closed: the attempt has no one to answer any more. */
  void downstreamClosed() {
    Runnable action = downstreamClosed;
    downstreamClosed = null;
    if (action != null && !released) {
      action.run();
    }
  }

  /**
   * A copy of the whole request (ownership passes), or null when the body is not complete or
   * outgrew the buffer: what a mirror gets, since only a fully buffered body can be sent twice.
   */
  FullHttpRequest bufferedCopy(HttpRequest head) {
    if (!complete || overflowed || released) {
      return null;
    }
    CompositeByteBuf content = downstream.alloc().compositeBuffer(Math.max(2, replay.size()));
    HttpHeaders trailers = new DefaultHttpHeaders();
    for (HttpContent part : replay) {
      content.addComponent(true, part.content().retainedDuplicate());
      if (part instanceof LastHttpContent last) {
        trailers.add(last.trailingHeaders());
      }
    }
    return new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, head.method(), head.uri(), content,
        head.headers().copy(), trailers);
  }

  /**
   * Frees what is buffered; parts that still arrive are dropped (the exchange is over, or the
   * request was refused before it was forwarded). Idempotent.
   */
  void release() {
    if (released) {
      return;
    }
    released = true;
    flushSink();
    sink = null;
    downstreamClosed = null;
    onComplete.clear();
    replay.forEach(HttpContent::release);
    replay = List.of();
    HttpContent part;
    while (pending != null && (part = pending.pollFirst()) != null) {
      part.release();
    }
  }

  private void send(HttpContent part, boolean last) {
    sentLast |= last;
    unflushed = true;
    afterWrite(sink.write(part));
  }

  private void flushSink() {
    if (unflushed && sink != null) {
      unflushed = false;
      sink.flush();
    }
  }

  /** Reads the next part now if the attempt can take more, else once it took this one. */
  private void afterWrite(ChannelFuture write) {
    Channel attempt = sink;
    if (write == null || attempt.isWritable()) {
      readMore();
      return;
    }
    write.addListener((ChannelFutureListener) f -> {
      if (f.isSuccess() && sink == attempt) {
        readMore();
      }
    });
  }

  private void readMore() {
    if (released || complete || sink == null || readRequested) {
      return;
    }
    readRequested = true;
    // May deliver a queued frame right away (onContent, re-entrant): state is settled by now.
    downstream.read();
  }
}
