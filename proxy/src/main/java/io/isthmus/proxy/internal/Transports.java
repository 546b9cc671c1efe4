package io.isthmus.proxy.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.UnixChannelOption;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringIoHandle;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Netty transport of this process, chosen once, at its first use, from the system property
 * {@value #PROPERTY}: {@code io_uring} (the default, see {@link #DEFAULT}), {@code epoll} or
 * {@code nio}. A native transport that does not load here (an old kernel, a seccomp profile
 * that refuses {@code io_uring_setup}) falls back to epoll, then NIO, with a warning; an unknown
 * value is refused by {@link #requireValidSelection()} (the process mains call it at start).
 * Every event loop group and channel of the data plane comes from here, so a connection's
 * upstream channels always match its event loop. Public for the east-west gateway module only;
 * not an API.
 */
public final class Transports {

  /** The system property that selects the transport. */
  public static final String PROPERTY = "isthmus.transport";

  /** The system property that makes event loops poll a while before they sleep: {@link #spinNanos()}. */
  public static final String SPIN_PROPERTY = "isthmus.eventLoop.spinMicros";

  private static final Logger log = LoggerFactory.getLogger(Transports.class);

  /** The transports this process can run on. */
  public enum Kind {
    EPOLL("epoll"), IO_URING("io_uring"), NIO("nio");

    private final String flag;

    Kind(String flag) {
      this.flag = flag;
    }

    public String flag() {
      return flag;
    }

    /** The kind {@code value} names ({@code io-uring} and any case accepted), or empty. */
    static Optional<Kind> ofFlag(String value) {
      String v = value.trim().toLowerCase(Locale.ROOT).replace('-', '_');
      for (Kind k : values()) {
        if (k.flag.equals(v)) {
          return Optional.of(k);
        }
      }
      return Optional.empty();
    }
  }

  /** What {@link #select} decided: the kind in use and, when it differs from the request, why. */
  record Selection(Kind kind, String problem, boolean invalid) {}

  /** The transport when {@value #PROPERTY} is unset: io_uring, measured the cheaper per request. */
  static final Kind DEFAULT = Kind.IO_URING;

  private Transports() {}

  /** The choice, made at the first use of a transport and kept for the life of the process. */
  private static final class Chosen {
    static final Selection SELECTION;

    static {
      String requested = System.getProperty(PROPERTY, "");
      SELECTION = select(requested, DEFAULT, Transports::available);
      if (SELECTION.problem() != null && requested.isBlank()) {
        log.info("{}", SELECTION.problem());
      } else if (SELECTION.problem() != null) {
        log.warn("{}", SELECTION.problem());
      }
    }
  }

  private static Selection selection() {
    return Chosen.SELECTION;
  }

  /**
   * The transport for the value of {@value #PROPERTY} ({@code requested}; empty: {@code
   * fallback}), given which transports load here: the requested one when it loads, else epoll,
   * else NIO.
   */
  static Selection select(String requested, Kind fallback,
      java.util.function.Predicate<Kind> available) {
    Kind wanted = fallback;
    String problem = null;
    boolean invalid = false;
    if (!requested.isBlank()) {
      Optional<Kind> kind = Kind.ofFlag(requested);
      if (kind.isEmpty()) {
        invalid = true;
        problem = "-D" + PROPERTY + "=" + requested + " (expected: epoll, io_uring or nio)";
      } else {
        wanted = kind.get();
      }
    }
    if (available.test(wanted)) {
      return new Selection(wanted, problem, invalid);
    }
    Kind chosen = wanted != Kind.EPOLL && available.test(Kind.EPOLL) ? Kind.EPOLL : Kind.NIO;
    String why = "the " + wanted.flag() + " transport does not load here (" + cause(wanted)
        + "); using " + chosen.flag();
    return new Selection(chosen, problem == null ? why : problem + "; " + why, invalid);
  }

  static boolean available(Kind kind) {
    return switch (kind) {
      case EPOLL -> Epoll.isAvailable();
      case IO_URING -> IoUring.isAvailable();
      case NIO -> true;
    };
  }

  private static String cause(Kind kind) {
    Throwable t = switch (kind) {
      case EPOLL -> Epoll.unavailabilityCause();
      case IO_URING -> IoUring.unavailabilityCause();
      case NIO -> null;
    };
    return t == null ? "no cause given" : String.valueOf(t.getMessage());
  }

  /**
   * Refuses an unknown value of {@value #PROPERTY}, so a typo is not silently run on the
   * default.
   *
   * @throws IllegalArgumentException naming the value and the accepted ones
   */
  public static void requireValidSelection() {
    Selection s = selection();
    if (s.invalid()) {
      throw new IllegalArgumentException(s.problem());
    }
  }

  public static Kind kind() {
    return selection().kind();
  }

  public static EventLoopGroup newGroup(int threads, String name) {
    return newGroup(kind(), threads, name);
  }

  /**
   * Event loops for a data plane whose capture listeners (when {@code capture}) need IPv4
   * sockets: on io_uring, which opens them only on a JVM that prefers the IPv4 stack, such a
   * process runs on epoll instead (when it loads), unless io_uring was asked for by name, in which
   * case binding the capture listener says what to change. Channels for these loops come from
   * the {@code (EventLoopGroup)} methods below.
   */
  public static EventLoopGroup newGroup(int threads, String name, boolean capture) {
    return newGroup(kindFor(capture, System.getProperty(PROPERTY, ""), kind(),
        NetUtil.isIpV4StackPreferred(), Epoll.isAvailable()), threads, name);
  }

  static Kind kindFor(boolean capture, String requested, Kind chosen, boolean ipv4Preferred,
      boolean epoll) {
    if (capture && chosen == Kind.IO_URING && !ipv4Preferred && requested.isBlank() && epoll) {
      return Kind.EPOLL;
    }
    return chosen;
  }

  /** The transport of {@code group}'s event loops. */
  public static Kind kindOf(EventLoopGroup group) {
    if (group instanceof IoEventLoopGroup io) {
      // By the handles it takes, not its handler's class: a SpinningIoHandler wraps the
      // transport's own.
      if (io.isCompatible(EpollIoHandle.class)) {
        return Kind.EPOLL;
      }
      if (io.isCompatible(IoUringIoHandle.class)) {
        return Kind.IO_URING;
      }
    }
    return Kind.NIO;
  }

  /** The server channel class for {@code group}'s event loops. */
  public static Class<? extends ServerChannel> serverChannel(EventLoopGroup group) {
    return serverChannel(kindOf(group));
  }

  /** The socket channel class for {@code group}'s event loops (a connection's upstream: its loop). */
  public static Class<? extends SocketChannel> socketChannel(EventLoopGroup group) {
    return socketChannel(kindOf(group));
  }

  /** {@link #ipv4ServerChannel()} for {@code group}'s event loops. */
  public static ChannelFactory<ServerChannel> ipv4ServerChannel(EventLoopGroup group) {
    return ipv4ServerChannel(kindOf(group));
  }

  /** {@link #transparent(ServerBootstrap)} for {@code group}'s event loops. */
  public static void transparent(EventLoopGroup group, ServerBootstrap bootstrap) {
    transparent(kindOf(group), bootstrap);
  }

  /** {@link #reusePort(ServerBootstrap)} for {@code group}'s event loops. */
  public static void reusePort(EventLoopGroup group, ServerBootstrap bootstrap) {
    reusePort(kindOf(group), bootstrap);
  }

  static EventLoopGroup newGroup(Kind kind, int threads, String name) {
    return newGroup(kind, threads, name, spinNanos());
  }

  static EventLoopGroup newGroup(Kind kind, int threads, String name, long spinNanos) {
    ThreadFactory factory = new DefaultThreadFactory(name, true);
    IoHandlerFactory handler = spinNanos > 0
        ? SpinningIoHandler.factory(ioHandler(kind), spinNanos) : ioHandler(kind);
    return new MultiThreadIoEventLoopGroup(threads, factory, handler);
  }

  /**
   * How long an event loop polls before it sleeps, after it last handled I/O, from
   * {@value #SPIN_PROPERTY} (microseconds; 0 or unset: it sleeps at once).
   *
   * @throws IllegalArgumentException naming the value when it is not a whole number in 0..10000
   */
  static long spinNanos() {
    return spinNanos(System.getProperty(SPIN_PROPERTY, ""));
  }

  static long spinNanos(String value) {
    if (value.isBlank()) {
      return 0;
    }
    long micros;
    try {
      micros = Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      micros = -1;
    }
    if (micros < 0 || micros > 10_000) {
      throw new IllegalArgumentException("-D" + SPIN_PROPERTY + "=" + value
          + " (expected: microseconds in 0..10000, 0 for no polling before an event loop sleeps)");
    }
    return micros * 1000;
  }

  private static IoHandlerFactory ioHandler(Kind kind) {
    return switch (kind) {
      case EPOLL -> EpollIoHandler.newFactory();
      case IO_URING -> IoUringIoHandler.newFactory();
      case NIO -> NioIoHandler.newFactory();
    };
  }

  public static Class<? extends ServerChannel> serverChannel() {
    return serverChannel(kind());
  }

  static Class<? extends ServerChannel> serverChannel(Kind kind) {
    return switch (kind) {
      case EPOLL -> EpollServerSocketChannel.class;
      case IO_URING -> IoUringServerSocketChannel.class;
      case NIO -> NioServerSocketChannel.class;
    };
  }

  public static Class<? extends SocketChannel> socketChannel() {
    return socketChannel(kind());
  }

  static Class<? extends SocketChannel> socketChannel(Kind kind) {
    return switch (kind) {
      case EPOLL -> EpollSocketChannel.class;
      case IO_URING -> IoUringSocketChannel.class;
      case NIO -> NioSocketChannel.class;
    };
  }

  public static String name() {
    return kind().flag();
  }

  /**
   * Server channels whose accepted connections are IPv4 sockets, for the capture listeners:
   * the original destination ({@code SO_ORIGINAL_DST}) and {@code IP_TRANSPARENT} are IPv4
   * socket options, and a dual-stack IPv6 socket's v4-mapped connections answer neither.
   * epoll opens an IPv4 socket on request; Netty's io_uring transport has no such constructor
   * and opens IPv4 sockets only when the JVM prefers the IPv4 stack.
   *
   * @throws IllegalStateException with io_uring on a JVM that prefers IPv6, naming the fix
   */
  public static ChannelFactory<ServerChannel> ipv4ServerChannel() {
    return ipv4ServerChannel(kind());
  }

  static ChannelFactory<ServerChannel> ipv4ServerChannel(Kind kind) {
    return switch (kind) {
      case EPOLL -> () -> new EpollServerSocketChannel(SocketProtocolFamily.INET);
      case IO_URING -> {
        if (!NetUtil.isIpV4StackPreferred()) {
          throw new IllegalStateException("traffic capture with -D" + PROPERTY + "=io_uring needs"
              + " IPv4 sockets (SO_ORIGINAL_DST, IP_TRANSPARENT), which Netty's io_uring transport"
              + " opens only with -Djava.net.preferIPv4Stack=true: add that flag, or use -D"
              + PROPERTY + "=epoll");
        }
        yield new ReflectiveChannelFactory<>(IoUringServerSocketChannel.class);
      }
      case NIO -> new ReflectiveChannelFactory<>(NioServerSocketChannel.class);
    };
  }

  /** Whether accepted connections can report their original destination (a native transport). */
  public static boolean readsRawSocketOptions(Channel channel) {
    return channel instanceof EpollSocketChannel || channel instanceof IoUringSocketChannel;
  }

  /**
   * Sets {@code IP_TRANSPARENT} on a listener (TPROXY capture).
   *
   * @throws IllegalStateException on NIO, which cannot set it
   */
  public static void transparent(ServerBootstrap bootstrap) {
    transparent(kind(), bootstrap);
  }

  static void transparent(Kind kind, ServerBootstrap bootstrap) {
    switch (kind) {
      case EPOLL -> bootstrap.option(EpollChannelOption.IP_TRANSPARENT, true);
      case IO_URING -> bootstrap.option(IoUringChannelOption.IP_TRANSPARENT, true);
      case NIO -> throw new IllegalStateException("--capture tproxy needs a native transport"
          + " (IP_TRANSPARENT): epoll or io_uring, neither of which loaded here;"
          + " use --capture redirect");
    }
  }

  /**
   * Lets several listeners share an address and port (Linux {@code SO_REUSEPORT}) where the
   * transport can; NIO cannot, and binds alone.
   */
  public static void reusePort(ServerBootstrap bootstrap) {
    reusePort(kind(), bootstrap);
  }

  static void reusePort(Kind kind, ServerBootstrap bootstrap) {
    if (kind != Kind.NIO) {
      bootstrap.option(UnixChannelOption.SO_REUSEPORT, true);
    }
  }

  /** {@code TCP_KEEPIDLE}, {@code TCP_KEEPINTVL}, {@code TCP_KEEPCNT} on {@code channelType}. */
  static void keepalive(Bootstrap bootstrap, Class<? extends Channel> channelType,
      Integer idle, Integer interval, Integer count) {
    ChannelOption<Integer> idleOption;
    ChannelOption<Integer> intervalOption;
    ChannelOption<Integer> countOption;
    if (EpollSocketChannel.class.isAssignableFrom(channelType)) {
      idleOption = EpollChannelOption.TCP_KEEPIDLE;
      intervalOption = EpollChannelOption.TCP_KEEPINTVL;
      countOption = EpollChannelOption.TCP_KEEPCNT;
    } else if (IoUringSocketChannel.class.isAssignableFrom(channelType)) {
      idleOption = IoUringChannelOption.TCP_KEEPIDLE;
      intervalOption = IoUringChannelOption.TCP_KEEPINTVL;
      countOption = IoUringChannelOption.TCP_KEEPCNT;
    } else {
      idleOption = NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE);
      intervalOption = NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPINTERVAL);
      countOption = NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT);
    }
    if (idle != null) {
      bootstrap.option(idleOption, idle);
    }
    if (interval != null) {
      bootstrap.option(intervalOption, interval);
    }
    if (count != null) {
      bootstrap.option(countOption, count);
    }
  }
}
