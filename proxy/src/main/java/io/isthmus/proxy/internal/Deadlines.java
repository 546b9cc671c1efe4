package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.util.concurrent.AbstractScheduledEventExecutor;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Request timeouts on one event loop without a scheduled task per request. Nearly every
 * request of a route has the same timeout (Envoy's 15 s default, or the route's), and nearly
 * every request ends long before it: scheduling and cancelling a task for each one costs a
 * task object and two priority-queue operations per request. Here the timers of one duration
 * are a list in deadline order (a later timer of the same duration never expires sooner), one
 * task per list wakes at the first deadline, and a timer that is cancelled is unlinked in
 * constant time. The list's task, when it finds its first timer gone, sleeps until the new
 * first one's deadline: at most one wake-up per duration and deadline.
 *
 * <p>Time is the event loop's ticker, so {@code EmbeddedChannel.advanceTimeBy} drives these
 * timers as it drives {@code schedule}. Durations beyond {@value #MAX_LANES} distinct values
 * per loop (gRPC clients choose their own deadlines), and calls off the event loop, fall back
 * to a task of their own. Event-loop confined.
 */
final class Deadlines {

  /** A pending timeout; cancelling it is idempotent and costs no task. */
  interface Timer {
    void cancel();
  }

  static final int MAX_LANES = 64;

  private static final FastThreadLocal<Deadlines> LOOPS = new FastThreadLocal<>();

  private final EventExecutor executor;
  // Lanes by duration, searched in order: a loop rarely has more than two or three, and a
  // Map<Long, Lane> boxed the duration on every lookup.
  private final Lane[] lanes = new Lane[MAX_LANES];
  private int laneCount;

  private Deadlines(EventExecutor executor) {
    this.executor = executor;
  }

  /**
   * Runs {@code task} on {@code executor} once {@code delayNanos} have passed, unless cancelled
   * first. Call it on {@code executor}'s thread to get the cheap timer.
   */
  static Timer schedule(EventExecutor executor, long delayNanos, Runnable task) {
    requireNonNull(executor, "executor");
    requireNonNull(task, "task");
    if (executor.inEventLoop() && executor instanceof AbstractScheduledEventExecutor) {
      Deadlines loop = LOOPS.get();
      if (loop == null || loop.executor != executor) {
        // An EmbeddedEventLoop (tests) is "in" whatever thread asks, so a thread may see
        // several; the lanes of the one forgotten still fire, on their own executor.
        loop = new Deadlines(executor);
        LOOPS.set(loop);
      }
      Lane lane = loop.lane(delayNanos);
      if (lane == null && loop.laneCount < MAX_LANES) {
        lane = loop.new Lane(delayNanos);
        loop.lanes[loop.laneCount++] = lane;
      }
      if (lane != null) {
        return lane.add(task);
      }
    }
    ScheduledFuture<?> future = executor.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
    return () -> future.cancel(false);
  }

  private Lane lane(long delayNanos) {
    for (int i = 0; i < laneCount; i++) {
      if (lanes[i].delayNanos == delayNanos) {
        return lanes[i];
      }
    }
    return null;
  }

  private long now() {
    return ((AbstractScheduledEventExecutor) executor).ticker().nanoTime();
  }

  /** The timers of one duration, oldest (first to expire) first. */
  private final class Lane implements Runnable {
    private final long delayNanos;
    private Entry head;
    private Entry tail;
    private boolean scheduled;

    Lane(long delayNanos) {
      this.delayNanos = delayNanos;
    }

    Entry add(Runnable task) {
      Entry entry = new Entry(this, now() + delayNanos, task);
      if (tail == null) {
        head = entry;
      } else {
        tail.next = entry;
        entry.prev = tail;
      }
      tail = entry;
      if (!scheduled) {
        scheduled = true;
        executor.schedule(this, delayNanos, TimeUnit.NANOSECONDS);
      }
      return entry;
    }

    void unlink(Entry entry) {
      if (entry.prev == null) {
        head = entry.next;
      } else {
        entry.prev.next = entry.next;
      }
      if (entry.next == null) {
        tail = entry.prev;
      } else {
        entry.next.prev = entry.prev;
      }
      entry.prev = null;
      entry.next = null;
      entry.lane = null;
    }

    @Override
    public void run() {
      scheduled = false;
      long now = now();
      Entry first;
      while ((first = head) != null && first.deadline - now <= 0) {
        unlink(first);
        first.task.run();
      }
      // A task that ran may have added a timer (and scheduled this lane) already.
      if (head != null && !scheduled) {
        scheduled = true;
        executor.schedule(this, head.deadline - now, TimeUnit.NANOSECONDS);
      }
    }
  }

  private static final class Entry implements Timer {
    private final long deadline;
    private final Runnable task;
    private Lane lane;
    private Entry prev;
    private Entry next;

    Entry(Lane lane, long deadline, Runnable task) {
      this.lane = lane;
      this.deadline = deadline;
      this.task = task;
    }

    @Override
    public void cancel() {
      Lane l = lane;
      if (l != null) {
        l.unlink(this);
      }
    }
  }
}
