package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoRegistration;
import io.netty.util.concurrent.ThreadAwareExecutor;
import java.util.function.LongSupplier;

/**
 * An event loop's I/O handler that, for a short while after it last handled I/O, polls instead
 * of sleeping: at a low request rate each request wakes a sleeping event loop twice per sidecar,
 * and a thread woken from sleep on a busy machine waits for the scheduler and runs on cold
 * caches. A loop that handled an event within the spin window is likely to get the next one of
 * the same exchange (the answer to the request it just forwarded) soon; past the window, or
 * with nothing handled since it started, it sleeps as before, so an idle loop costs no CPU.
 *
 * <p>On io_uring a poll reads the ring's flags in user space (the kernel flags pending work) and
 * enters the kernel only when there is something to reap; on epoll it is an
 * {@code epoll_wait} with a zero timeout. Pending tasks and due scheduled tasks are never
 * delayed: the event loop asks the handler not to block then anyway. Confined to its event
 * loop's thread, as every {@link IoHandler}.
 */
final class SpinningIoHandler implements IoHandler {

  private final IoHandler delegate;
  private final long spinNanos;
  private final LongSupplier nanoTime;
  private final NonBlocking nonBlocking = new NonBlocking();
  private long lastActiveNanos;
  private boolean active;

  SpinningIoHandler(IoHandler delegate, long spinNanos, LongSupplier nanoTime) {
    this.delegate = requireNonNull(delegate, "delegate");
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
    if (spinNanos <= 0) {
      throw new IllegalArgumentException("spinNanos: " + spinNanos + " (expected: > 0)");
    }
    this.spinNanos = spinNanos;
  }

  /** {@code delegate}'s handlers, each spinning up to {@code spinNanos} after it handled I/O. */
  static IoHandlerFactory factory(IoHandlerFactory delegate, long spinNanos) {
    requireNonNull(delegate, "delegate");
    if (spinNanos <= 0) {
      throw new IllegalArgumentException("spinNanos: " + spinNanos + " (expected: > 0)");
    }
    return new IoHandlerFactory() {
      @Override
      public IoHandler newHandler(ThreadAwareExecutor executor) {
        return new SpinningIoHandler(delegate.newHandler(executor), spinNanos, System::nanoTime);
      }

      @Override
      public boolean isChangingThreadSupported() {
        return delegate.isChangingThreadSupported();
      }
    };
  }

  @Override
  public int run(IoHandlerContext context) {
    if (active && context.canBlock()) {
      long now = nanoTime.getAsLong();
      if (now - lastActiveNanos < spinNanos) {
        nonBlocking.context = context;
        int handled = delegate.run(nonBlocking);
        if (handled > 0) {
          lastActiveNanos = nanoTime.getAsLong();
        } else {
          Thread.onSpinWait();
        }
        return handled;
      }
      active = false;
    }
    int handled = delegate.run(context);
    if (handled > 0) {
      active = true;
      lastActiveNanos = nanoTime.getAsLong();
    }
    return handled;
  }

  @Override
  public void initialize() {
    delegate.initialize();
  }

  @Override
  public void prepareToDestroy() {
    delegate.prepareToDestroy();
  }

  @Override
  public void destroy() {
    delegate.destroy();
  }

  @Override
  public IoRegistration register(IoHandle handle) throws Exception {
    return delegate.register(handle);
  }

  @Override
  public void wakeup() {
    delegate.wakeup();
  }

  @Override
  public boolean isCompatible(Class<? extends IoHandle> handleType) {
    return delegate.isCompatible(handleType);
  }

  /** The loop's context, except that the handler may not block. */
  private static final class NonBlocking implements IoHandlerContext {
    IoHandlerContext context;

    @Override
    public boolean canBlock() {
      return false;
    }

    @Override
    public long delayNanos(long currentTimeNanos) {
      return context.delayNanos(currentTimeNanos);
    }

    @Override
    public long deadlineNanos() {
      return context.deadlineNanos();
    }

    @Override
    public void reportActiveIoTime(long activeNanos) {
      context.reportActiveIoTime(activeNanos);
    }

    @Override
    public boolean shouldReportActiveIoTime() {
      return context.shouldReportActiveIoTime();
    }
  }
}
