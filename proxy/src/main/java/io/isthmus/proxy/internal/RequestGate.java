package io.isthmus.proxy.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Hands an HTTP/1.1 connection's requests to the handlers behind it one at a time, without
 * switching the socket's reads off and on for every request (with epoll, an {@code epoll_ctl}
 * each way, two system calls per request). The connection keeps reading while a request is
 * answered; a request that arrives before the previous answer is written (pipelining) is held
 * here with the body parts that follow it, and only then are reads paused, until it is its turn.
 * So at most one read's worth of requests waits per connection. A request whose body streams
 * ({@link RequestStreamer}) is handed on with the parts held so far; the rest of its body is read
 * at the upstream's pace, by its {@link RequestBody}, and this gate then leaves reads alone until
 * the body's end (the streamer turns them back on).
 *
 * <p>A client that half-closes after sending its request (end of input while it waits) still
 * gets its answer: the connection allows half-closure, and this gate closes it once nothing is
 * left to answer. Messages other than requests (bytes after a protocol switch) pass through.
 *
 * <p>Whoever answers a request calls {@link #next(ChannelHandlerContext)} once the answer is
 * written; {@link #hold(ChannelHandlerContext)} replaces "stop reading" at a request's start.
 * Channels without a gate (HTTP/2 streams, whose reads cost no system call) keep the old
 * auto-read switch. Event-loop confined.
 */
final class RequestGate extends ChannelInboundHandlerAdapter {

  private final ArrayDeque<Object> held = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private boolean busy;
  /** A held request is about to be handed on (a task of its own): what arrives meanwhile waits. */
  private boolean dispatching;
  private boolean inputClosed;

  /** At a request's start: stops the next request from being read, unless a gate holds it. */
  static void hold(ChannelHandlerContext ctx) {
    if (ctx.pipeline().get(RequestGate.class) == null) {
      ctx.channel().config().setAutoRead(false);
    }
  }

  /** The answer to the current request is written: the next request may go on. */
  static void next(ChannelHandlerContext ctx) {
    RequestGate gate = ctx.pipeline().get(RequestGate.class);
    if (gate == null) {
      ctx.channel().config().setAutoRead(true);
      ctx.read();
      return;
    }
    gate.done();
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    // The end of a client's input is not the end of its wait for the answer (HTTP/1.0-style
    // clients shut down their sending side after the request).
    ctx.channel().config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HttpRequest)) {
      if (msg instanceof HttpContent && (dispatching || !held.isEmpty())) {
        // A part of the held request's body: it goes on with its request, in order.
        held.addLast(msg);
        return;
      }
      ctx.fireChannelRead(msg);
      return;
    }
    if (busy || dispatching || !held.isEmpty()) {
      held.addLast(msg);
      // Pipelining: the socket stops reading until the held request is answered.
      ctx.channel().config().setAutoRead(false);
      return;
    }
    busy = true;
    ctx.fireChannelRead(msg);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    // A failed close completion is no end of input: removing an SslHandler whose handshake never
    // began (a plaintext port) fires one.
    if (evt instanceof ChannelInputShutdownEvent
        || evt instanceof SslCloseCompletionEvent close && close.isSuccess()) {
      inputClosed = true;
      if (!busy && held.isEmpty()) {
        ctx.close();
      }
    }
    ctx.fireUserEventTriggered(evt);
  }

  private void done() {
    busy = false;
    if (!held.isEmpty()) {
      busy = true;
      dispatching = true;
      // Not from inside the previous answer's write listener: a task of its own.
      ctx.executor().execute(this::dispatch);
      return;
    }
    if (inputClosed) {
      ctx.close();
      return;
    }
    if (!ctx.channel().config().isAutoRead()) {
      // Reads were paused for a held request, or by a handler that still pauses them itself.
      ctx.channel().config().setAutoRead(true);
    }
  }

  /** Hands on the next held request and the parts of its body held with it. */
  private void dispatch() {
    dispatching = false;
    if (ctx.isRemoved()) {
      releaseHeld();
      return;
    }
    Object next = held.pollFirst();
    boolean whole = next instanceof FullHttpRequest || !(next instanceof HttpRequest);
    ctx.fireChannelRead(next);
    while (!held.isEmpty() && !(held.peekFirst() instanceof HttpRequest)) {
      Object part = held.pollFirst();
      whole = part instanceof LastHttpContent;
      ctx.fireChannelRead(part);
    }
    if (held.isEmpty() && whole && !ctx.channel().config().isAutoRead()) {
      // The request is all here: read on while it is answered. (A body still to come is read
      // at its upstream's pace; its streamer turns reads back on at its end.)
      ctx.channel().config().setAutoRead(true);
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseHeld();
  }

  private void releaseHeld() {
    Object msg;
    while ((msg = held.pollFirst()) != null) {
      ReferenceCountUtil.release(msg);
    }
  }
}
