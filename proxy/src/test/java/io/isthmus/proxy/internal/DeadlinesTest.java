package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link Deadlines}: timers of one duration share one scheduled task, yet each fires at its own
 * deadline, in order, unless cancelled; many durations and calls off the loop still work.
 */
class DeadlinesTest {

  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

  @Test
  void eachTimerFiresAtItsDeadlineUnlessCancelled() {
    EmbeddedChannel channel = new EmbeddedChannel();
    channel.freezeTime();
    List<String> fired = new ArrayList<>();
    Deadlines.schedule(channel.eventLoop(), 2 * SECOND, () -> fired.add("a"));
    channel.advanceTimeBy(500, TimeUnit.MILLISECONDS);
    Deadlines.Timer b = Deadlines.schedule(channel.eventLoop(), 2 * SECOND, () -> fired.add("b"));
    channel.advanceTimeBy(500, TimeUnit.MILLISECONDS);
    Deadlines.schedule(channel.eventLoop(), 2 * SECOND, () -> fired.add("c"));
    Deadlines.schedule(channel.eventLoop(), SECOND, () -> fired.add("short"));

    channel.advanceTimeBy(999, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).as("1.999 s in: the 2 s timer started at 0 not yet").isEmpty();

    channel.advanceTimeBy(1, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).containsExactly("a", "short");

    b.cancel();
    b.cancel();
    channel.advanceTimeBy(SECOND, TimeUnit.NANOSECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).as("b was cancelled, c fires at 3 s").containsExactly("a", "short", "c");

    channel.advanceTimeBy(10, TimeUnit.SECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).hasSize(3);
    channel.finishAndReleaseAll();
  }

  @Test
  void aTimerAddedByAnExpiringOneFiresOnItsOwnDeadline() {
    EmbeddedChannel channel = new EmbeddedChannel();
    channel.freezeTime();
    List<Long> fired = new ArrayList<>();
    Deadlines.schedule(channel.eventLoop(), SECOND, () -> {
      fired.add(1L);
      // A retry's per-try timer, added while the lane runs.
      Deadlines.schedule(channel.eventLoop(), SECOND, () -> fired.add(2L));
    });
    channel.advanceTimeBy(1, TimeUnit.SECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).containsExactly(1L);
    channel.advanceTimeBy(1, TimeUnit.SECONDS);
    channel.runScheduledPendingTasks();
    assertThat(fired).containsExactly(1L, 2L);
    channel.finishAndReleaseAll();
  }

  @Test
  void moreDurationsThanLanesAndCallsOffTheLoopStillFire() throws Exception {
    DefaultEventLoopGroup group = new DefaultEventLoopGroup(1);
    try {
      EventLoop loop = group.next();
      int timers = Deadlines.MAX_LANES + 10;
      CountDownLatch all = new CountDownLatch(timers + 1);
      loop.submit(() -> {
        for (int i = 0; i < timers; i++) {
          Deadlines.schedule(loop, TimeUnit.MILLISECONDS.toNanos(1 + i % 97) + i,
              all::countDown);
        }
      }).sync();
      // From a thread that is not the loop: a task of its own.
      Deadlines.schedule(loop, TimeUnit.MILLISECONDS.toNanos(5), all::countDown);
      assertThat(all.await(30, TimeUnit.SECONDS)).isTrue();

      CountDownLatch cancelled = new CountDownLatch(1);
      loop.submit(() -> Deadlines.schedule(loop, TimeUnit.MILLISECONDS.toNanos(50),
          cancelled::countDown).cancel()).sync();
      assertThat(cancelled.await(300, TimeUnit.MILLISECONDS)).isFalse();
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }
}
