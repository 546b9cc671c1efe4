package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * Protocol detection on a port that does not declare its protocol (Istio's sniffing): looks at
 * the first bytes the client sends and tells {@code decided} which protocol it is, then removes
 * itself, handing the bytes it held to the handlers {@code decided} installed after it.
 *
 * <ul>
 *   <li>{@link Detected#TLS}: a TLS record header carrying a handshake (ClientHello);
 *   <li>{@link Detected#HTTP2}: the HTTP/2 connection preface (prior knowledge, h2c);
 *   <li>{@link Detected#HTTP1}: an HTTP/1.x request line's method and a space;
 *   <li>{@link Detected#TCP}: anything else, or nothing within {@code timeout}: a
 *       server-first protocol (MySQL, SMTP) waits for the server, so silence means TCP.
 * </ul>
 *
 * <p>Decides on at most 24 bytes; never blocks; the held bytes have one owner throughout (the
 * decoder's cumulation, then the next handler).
 */
final class ProtocolSniffer extends ByteToMessageDecoder {

  enum Detected { TLS, HTTP2, HTTP1, TCP }

  private static final List<byte[]> METHODS = List.of("GET ", "POST ", "PUT ", "DELETE ",
      "HEAD ", "OPTIONS ", "PATCH ", "TRACE ", "CONNECT ").stream()
      .map(m -> m.getBytes(StandardCharsets.US_ASCII)).toList();

  private final Duration timeout;
  private final BiConsumer<ChannelHandlerContext, Detected> decided;
  private ScheduledFuture<?> timer;
  private boolean done;

  /** {@code decided} installs the protocol's handlers after this one (on the event loop). */
  ProtocolSniffer(Duration timeout, BiConsumer<ChannelHandlerContext, Detected> decided) {
    this.timeout = requireNonNull(timeout, "timeout");
    this.decided = requireNonNull(decided, "decided");
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (!timeout.isZero()) {
      timer = ctx.executor().schedule(() -> decide(ctx, Detected.TCP), timeout.toNanos(),
          TimeUnit.NANOSECONDS);
    }
  }

  @Override
  protected void handlerRemoved0(ChannelHandlerContext ctx) {
    if (timer != null) {
      timer.cancel(false);
    }
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (done) {
      return;
    }
    Detected detected = classify(in);
    if (detected != null) {
      decide(ctx, detected);
    }
  }

  private void decide(ChannelHandlerContext ctx, Detected detected) {
    if (done || ctx.isRemoved()) {
      return;
    }
    done = true;
    if (timer != null) {
      timer.cancel(false);
    }
    decided.accept(ctx, detected);
    if (ctx.channel().isActive() && !ctx.isRemoved()) {
      // Removing a ByteToMessageDecoder passes what it holds to the next handler.
      ctx.pipeline().remove(this);
    }
  }

  /** The protocol {@code in} starts with, or null while it could still be several. */
  static Detected classify(ByteBuf in) {
    int readable = in.readableBytes();
    if (readable == 0) {
      return null;
    }
    int start = in.readerIndex();
    // TLS record: content type 22 (handshake), version 3.x.
    if (in.getByte(start) == 0x16) {
      if (readable < 2) {
        return null;
      }
      return in.getByte(start + 1) == 0x03 ? Detected.TLS : Detected.TCP;
    }
    int preface = prefixMatch(in, Http2Pipelines.PREFACE);
    if (preface == Http2Pipelines.PREFACE.length) {
      return Detected.HTTP2;
    }
    boolean undecided = preface == readable;
    for (byte[] method : METHODS) {
      int matched = prefixMatch(in, method);
      if (matched == method.length) {
        return Detected.HTTP1;
      }
      undecided |= matched == readable;
    }
    return undecided ? null : Detected.TCP;
  }

  /** How many leading bytes of {@code in} match {@code expected} (all readable ones if so). */
  private static int prefixMatch(ByteBuf in, byte[] expected) {
    int n = Math.min(in.readableBytes(), expected.length);
    for (int i = 0; i < n; i++) {
      if (in.getByte(in.readerIndex() + i) != expected[i]) {
        return -1;
      }
    }
    return n;
  }
}
