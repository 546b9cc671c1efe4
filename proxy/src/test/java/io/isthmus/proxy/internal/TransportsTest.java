package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.isthmus.proxy.internal.Transports.Kind;
import io.isthmus.proxy.internal.capture.OriginalDestination;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.unix.UnixChannelOption;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The transport choice ({@code -Disthmus.transport}) as a table, and each native transport
 * serving real loopback connections with the socket options the data plane relies on: TCP
 * keep-alive timings read back from the socket, the original-destination lookup answering
 * "not captured" (no NAT entry) instead of failing, and {@code SO_REUSEPORT} letting two
 * listeners share a port.
 */
class TransportsTest {

  private static final Set<Kind> ALL = EnumSet.allOf(Kind.class);

  @Test
  void theDefaultIsIoUringAndARequestedTransportIsUsedWhenItLoads() {
    assertThat(Transports.DEFAULT).isEqualTo(Kind.IO_URING);
    assertThat(Transports.select("", Kind.IO_URING, ALL::contains).kind())
        .isEqualTo(Kind.IO_URING);
    assertThat(Transports.select("epoll", Kind.IO_URING, ALL::contains).kind())
        .isEqualTo(Kind.EPOLL);
    assertThat(Transports.select("io_uring", Kind.EPOLL, ALL::contains).kind())
        .isEqualTo(Kind.IO_URING);
    assertThat(Transports.select(" IO-URING ", Kind.EPOLL, ALL::contains).kind())
        .isEqualTo(Kind.IO_URING);
    assertThat(Transports.select("nio", Kind.EPOLL, ALL::contains).kind()).isEqualTo(Kind.NIO);
    assertThat(Transports.select("io_uring", Kind.EPOLL, ALL::contains).problem()).isNull();
  }

  @Test
  void aTransportThatDoesNotLoadFallsBackToEpollThenNio() {
    var noUring = Transports.select("io_uring", Kind.EPOLL, k -> k != Kind.IO_URING);
    assertThat(noUring.kind()).isEqualTo(Kind.EPOLL);
    assertThat(noUring.invalid()).isFalse();
    assertThat(noUring.problem()).contains("io_uring transport does not load here")
        .contains("using epoll");
    assertThat(Transports.select("", Kind.EPOLL, k -> k == Kind.NIO).kind()).isEqualTo(Kind.NIO);
  }

  @Test
  void anUnknownTransportIsRefusedNamingTheAcceptedOnes() {
    var typo = Transports.select("uring", Kind.EPOLL, ALL::contains);
    assertThat(typo.invalid()).isTrue();
    assertThat(typo.kind()).isEqualTo(Kind.EPOLL);
    assertThat(typo.problem())
        .isEqualTo("-Disthmus.transport=uring (expected: epoll, io_uring or nio)");
  }

  @Test
  void thisProcessRunsTheDefaultUnlessAsked() {
    String requested = System.getProperty(Transports.PROPERTY, "");
    Kind expected = requested.isBlank() ? Transports.DEFAULT : Kind.ofFlag(requested).orElseThrow();
    assumeThat(Transports.available(expected)).isTrue();
    assertThat(Transports.kind()).isEqualTo(expected);
    assertThat(Transports.name()).isEqualTo(expected.flag());
  }

  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"EPOLL", "IO_URING"})
  void aNativeTransportRelaysBytesWithKeepaliveAndNoOriginalDestination(Kind kind)
      throws Exception {
    assumeThat(Transports.available(kind)).as(kind + " loads here").isTrue();
    EventLoopGroup group = Transports.newGroup(kind, 1, "transports-test-" + kind.flag());
    try {
      CompletableFuture<Optional<InetSocketAddress>> original = new CompletableFuture<>();
      Channel listener = new ServerBootstrap().group(group)
          .channelFactory(ipv4Capable(kind)
              ? Transports.ipv4ServerChannel(kind)
              : new io.netty.channel.ReflectiveChannelFactory<>(Transports.serverChannel(kind)))
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              original.complete(OriginalDestination.of(ch, false));
              ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                  ctx.writeAndFlush(msg);
                }
              });
            }
          })
          .bind("127.0.0.1", 0).sync().channel();

      CompletableFuture<String> echoed = new CompletableFuture<>();
      Bootstrap client = new Bootstrap().group(group).channel(Transports.socketChannel(kind))
          .option(ChannelOption.SO_KEEPALIVE, true)
          .handler(new SimpleChannelInboundHandler<ByteBuf>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
              echoed.complete(msg.toString(StandardCharsets.US_ASCII));
            }
          });
      Transports.keepalive(client, Transports.socketChannel(kind), 600, 60, 3);
      Channel ch = client.connect(listener.localAddress()).sync().channel();
      assertThat(ch).isInstanceOf(Transports.socketChannel(kind));
      assertThat(Transports.readsRawSocketOptions(ch)).isTrue();
      // Read back from the kernel, not from the bootstrap: the options reached the socket.
      assertThat(ch.config().getOption(kind == Kind.EPOLL
          ? io.netty.channel.epoll.EpollChannelOption.TCP_KEEPIDLE
          : io.netty.channel.uring.IoUringChannelOption.TCP_KEEPIDLE)).isEqualTo(600);
      assertThat(ch.config().getOption(kind == Kind.EPOLL
          ? io.netty.channel.epoll.EpollChannelOption.TCP_KEEPINTVL
          : io.netty.channel.uring.IoUringChannelOption.TCP_KEEPINTVL)).isEqualTo(60);
      assertThat(ch.config().getOption(kind == Kind.EPOLL
          ? io.netty.channel.epoll.EpollChannelOption.TCP_KEEPCNT
          : io.netty.channel.uring.IoUringChannelOption.TCP_KEEPCNT)).isEqualTo(3);
      assertThat(ch.config().getOption(ChannelOption.TCP_NODELAY)).isTrue();

      ch.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII)).sync();
      assertThat(echoed.get(30, TimeUnit.SECONDS)).isEqualTo("ping");
      // A connection made straight to the listener has no NAT entry: "not captured", no error.
      assertThat(original.get(30, TimeUnit.SECONDS)).isEmpty();
      ch.close().sync();
      listener.close().sync();
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"EPOLL", "IO_URING"})
  void reusePortLetsTwoListenersShareAPort(Kind kind) throws Exception {
    assumeThat(Transports.available(kind)).as(kind + " loads here").isTrue();
    EventLoopGroup group = Transports.newGroup(kind, 1, "transports-reuse-" + kind.flag());
    try {
      ServerBootstrap first = new ServerBootstrap().group(group)
          .channel(Transports.serverChannel(kind)).childHandler(new ChannelInboundHandlerAdapter());
      Transports.reusePort(kind, first);
      Channel a = first.bind("127.0.0.1", 0).sync().channel();
      assertThat(a.config().getOption(UnixChannelOption.SO_REUSEPORT)).isTrue();
      int port = ((InetSocketAddress) a.localAddress()).getPort();
      ServerBootstrap second = new ServerBootstrap().group(group)
          .channel(Transports.serverChannel(kind)).childHandler(new ChannelInboundHandlerAdapter());
      Transports.reusePort(kind, second);
      Channel b = second.bind("127.0.0.1", port).sync().channel();
      assertThat(((InetSocketAddress) b.localAddress()).getPort()).isEqualTo(port);
      a.close().sync();
      b.close().sync();
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  @Test
  void captureWithIoUringOnADualStackJvmIsRefusedNamingTheFix() {
    assumeThat(io.netty.util.NetUtil.isIpV4StackPreferred()).isFalse();
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> Transports.ipv4ServerChannel(Kind.IO_URING))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("-Djava.net.preferIPv4Stack=true")
        .hasMessageContaining("-Disthmus.transport=epoll");
  }

  @Test
  void aCapturingSidecarOnTheDefaultIoUringRunsOnEpollUnlessTheJvmPrefersIpv4() {
    assertThat(Transports.kindFor(true, "", Kind.IO_URING, false, true)).isEqualTo(Kind.EPOLL);
    assertThat(Transports.kindFor(true, "", Kind.IO_URING, true, true)).isEqualTo(Kind.IO_URING);
    assertThat(Transports.kindFor(false, "", Kind.IO_URING, false, true))
        .isEqualTo(Kind.IO_URING);
    // Asked for by name: kept, and binding the capture listener names the fix.
    assertThat(Transports.kindFor(true, "io_uring", Kind.IO_URING, false, true))
        .isEqualTo(Kind.IO_URING);
    assertThat(Transports.kindFor(true, "", Kind.IO_URING, false, false))
        .isEqualTo(Kind.IO_URING);
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void channelsFollowTheGroupsTransport(Kind kind) throws Exception {
    assumeThat(Transports.available(kind)).as(kind + " loads here").isTrue();
    EventLoopGroup group = Transports.newGroup(kind, 1, "transports-kind-" + kind.flag());
    try {
      assertThat(Transports.kindOf(group)).isEqualTo(kind);
      assertThat(Transports.kindOf(group.next())).isEqualTo(kind);
      assertThat(Transports.socketChannel(group.next())).isEqualTo(Transports.socketChannel(kind));
      assertThat(Transports.serverChannel(group)).isEqualTo(Transports.serverChannel(kind));
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  /** io_uring opens IPv4 listeners only on a JVM that prefers the IPv4 stack. */
  private static boolean ipv4Capable(Kind kind) {
    return kind != Kind.IO_URING || io.netty.util.NetUtil.isIpV4StackPreferred();
  }

  @Test
  void leakDetectionIsLeftAloneWhenAPropertyChoseALevel() {
    // This JVM runs with -Dio.netty.leakDetection.level=PARANOID (the surefire argLine).
    assumeThat(System.getProperty("io.netty.leakDetection.level")).isNotNull();
    assertThat(ProcessDefaults.leakLevelUnset()).isFalse();
    var before = io.netty.util.ResourceLeakDetector.getLevel();
    ProcessDefaults.apply();
    assertThat(io.netty.util.ResourceLeakDetector.getLevel()).isEqualTo(before);
  }
}
