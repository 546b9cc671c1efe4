package io.isthmus.proxy.internal.dns;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Sends the queries the name table does not answer to the pod's resolvers and relays their answer
 * byte for byte: over UDP for a UDP query (a fresh connected socket per query, so its source port
 * is random and only that resolver's datagrams reach it, as a stub resolver does), over TCP for a
 * TCP one. Resolvers are tried in order, each for {@code timeout}; when none answers the client
 * gets SERVFAIL, as from istio-agent. Everything runs on the caller's event loop and never
 * blocks it; at most {@code maxPending} queries are out at once, more get SERVFAIL at once.
 */
final class DnsForwarder {

  private final List<InetSocketAddress> upstreams;
  private final Duration timeout;
  private final int maxPending;
  private final DnsMetrics metrics;
  private final AtomicInteger pending = new AtomicInteger();

  DnsForwarder(List<InetSocketAddress> upstreams, Duration timeout, int maxPending,
      DnsMetrics metrics) {
    this.upstreams = List.copyOf(upstreams);
    this.timeout = requireNonNull(timeout, "timeout");
    this.maxPending = maxPending;
    this.metrics = requireNonNull(metrics, "metrics");
  }

  int pending() {
    return pending.get();
  }

  /**
   * Forwards {@code message} (owned by this call from now on) and calls {@code reply} once with
   * the answer to send back (owned by the callee).
   */
  void forward(EventLoop loop, ByteBuf message, DnsWire.Query query, boolean tcp,
      Consumer<ByteBuf> reply) {
    if (upstreams.isEmpty() || pending.incrementAndGet() > maxPending) {
      if (!upstreams.isEmpty()) {
        pending.decrementAndGet();
      }
      metrics.upstreamRejected.increment();
      message.release();
      reply.accept(DnsWire.serverFailure(ByteBufAllocator.DEFAULT, query));
      return;
    }
    metrics.upstreamRequests.increment();
    new Exchange(loop, message, query, tcp, reply).attempt(0);
  }

  /** One forwarded query, from the first resolver to an answer or the last failure. */
  private final class Exchange {
    private final EventLoop loop;
    private final ByteBuf message;
    private final DnsWire.Query query;
    private final boolean tcp;
    private final Consumer<ByteBuf> reply;
    private final long start = System.nanoTime();
    private Channel channel;
    private ScheduledFuture<?> timer;
    private int attempt;
    private boolean done;

    Exchange(EventLoop loop, ByteBuf message, DnsWire.Query query, boolean tcp,
        Consumer<ByteBuf> reply) {
      this.loop = loop;
      this.message = message;
      this.query = query;
      this.tcp = tcp;
      this.reply = reply;
    }

    void attempt(int index) {
      attempt = index;
      InetSocketAddress upstream = upstreams.get(index);
      Bootstrap bootstrap = new Bootstrap().group(loop);
      if (tcp) {
        bootstrap.channel(NioSocketChannel.class)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, timeout.toMillis()))
            .handler(new ChannelInitializer<Channel>() {
              @Override
              protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(65535, 0, 2, 0, 2),
                    new LengthFieldPrepender(2), new AnswerHandler(index));
              }
            });
      } else {
        bootstrap.channel(NioDatagramChannel.class).handler(new AnswerHandler(index));
      }
      timer = loop.schedule(() -> failed(index, "no answer within " + timeout.toMillis() + " ms"),
          timeout.toMillis(), TimeUnit.MILLISECONDS);
      ChannelFuture connect = bootstrap.connect(upstream);
      channel = connect.channel();
      connect.addListener(f -> {
        if (!f.isSuccess()) {
          failed(index, String.valueOf(f.cause()));
          return;
        }
        if (index != attempt || done) {
          connect.channel().close();
          return;
        }
        connect.channel().writeAndFlush(tcp ? message.retainedDuplicate()
                : new DatagramPacket(message.retainedDuplicate(), upstream))
            .addListener(w -> {
              if (!w.isSuccess()) {
                failed(index, String.valueOf(w.cause()));
              }
            });
      });
    }

    private void answered(int index, ByteBuf answer) {
      if (done || index != attempt) {
        answer.release();
        return;
      }
      finish();
      metrics.upstreamDuration.record((System.nanoTime() - start) / 1e9);
      reply.accept(answer);
    }

    private void failed(int index, String why) {
      if (done || index != attempt) {
        return;
      }
      metrics.upstreamFailures.increment();
      timer.cancel(false);
      channel.close();
      if (index + 1 < upstreams.size()) {
        attempt(index + 1);
        return;
      }
      finish();
      DnsServer.log.debug("DNS query {} failed upstream: {}", query.question(), why);
      reply.accept(DnsWire.serverFailure(ByteBufAllocator.DEFAULT, query));
    }

    private void finish() {
      done = true;
      timer.cancel(false);
      channel.close();
      message.release();
      pending.decrementAndGet();
    }

    /** Reads the resolver's answer: the first message whose id is the query's. */
    private final class AnswerHandler extends SimpleChannelInboundHandler<Object> {
      private final int index;

      AnswerHandler(int index) {
        this.index = index;
      }

      @Override
      protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
        ByteBuf content = msg instanceof DatagramPacket packet ? packet.content() : (ByteBuf) msg;
        if (content.readableBytes() < DnsWire.HEADER
            || content.getUnsignedShort(content.readerIndex()) != query.id()) {
          return; // not the answer to this query: keep waiting for it
        }
        answered(index, content.retain());
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        loop.execute(() -> failed(index, "connection closed without an answer"));
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        failed(index, String.valueOf(cause));
      }
    }
  }
}
