package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * Envoy's {@code tls_inspector} on a captured connection: reads the SNI out of the client's TLS
 * ClientHello without consuming or decrypting anything, tells {@code decided} (empty when the
 * bytes are not TLS, the hello names no server, or nothing came within {@code timeout}), then
 * removes itself, handing every byte it held to the handlers {@code decided} installed after it.
 * Never blocks; the held bytes have one owner throughout (the decoder's cumulation, then the next
 * handler). Netty's ClientHello parsing ({@link AbstractSniHandler}) does the reading.
 */
final class ServerNameSniffer extends AbstractSniHandler<String> {

  private final Duration timeout;
  private final BiConsumer<ChannelHandlerContext, Optional<String>> decided;
  private ScheduledFuture<?> timer;
  private boolean done;

  /** {@code decided} installs what follows after this handler (on the event loop). */
  ServerNameSniffer(Duration timeout, BiConsumer<ChannelHandlerContext, Optional<String>> decided) {
    // Netty's own timeout closes the connection; this one falls back to the listener's default.
    super(0L);
    this.timeout = requireNonNull(timeout, "timeout");
    this.decided = requireNonNull(decided, "decided");
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
    super.handlerAdded(ctx);
    if (!timeout.isZero()) {
      timer = ctx.executor().schedule(() -> decide(ctx, null), timeout.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  @Override
  protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
    if (timer != null) {
      timer.cancel(false);
    }
    super.handlerRemoved0(ctx);
  }

  @Override
  protected Future<String> lookup(ChannelHandlerContext ctx, String hostname) {
    return ctx.executor().newSucceededFuture(hostname);
  }

  @Override
  protected void onLookupComplete(ChannelHandlerContext ctx, String hostname, Future<String> future) {
    decide(ctx, hostname);
  }

  private void decide(ChannelHandlerContext ctx, String hostname) {
    if (done || ctx.isRemoved()) {
      return;
    }
    done = true;
    if (timer != null) {
      timer.cancel(false);
    }
    decided.accept(ctx, Optional.ofNullable(hostname).filter(h -> !h.isEmpty())
        .map(h -> h.toLowerCase(Locale.ROOT)));
    if (ctx.channel().isActive() && !ctx.isRemoved()) {
      // Removing a ByteToMessageDecoder passes what it holds to the next handler.
      ctx.pipeline().remove(this);
    }
  }
}
