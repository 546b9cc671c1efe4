package io.isthmus.proxy.internal.capture;

import static java.util.Objects.requireNonNull;

import io.netty.channel.Channel;
import io.netty.channel.unix.RawUnixChannelOption;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;

/**
 * Where a captured connection was going before the capture rules sent it to the sidecar, and the
 * outbound route configuration chosen for it, carried on the channel as an attribute for the
 * handlers behind (an HTTP/2 stream finds it on its connection). Public for the data plane only;
 * not an API.
 *
 * <p>REDIRECT rewrote the destination: the kernel keeps the original in conntrack, read with
 * {@code getsockopt(SOL_IP, SO_ORIGINAL_DST)} on the accepted socket (Netty's native transports,
 * epoll and io_uring, pass raw socket options through). TPROXY left it alone: the accepted socket's local address
 * is the original destination.
 *
 * @param original the destination the client connected to
 * @param routeConfig the outbound route configuration for its port, or null (not HTTP, or inbound)
 */
public record OriginalDestination(InetSocketAddress original, String routeConfig) {

  private static final AttributeKey<OriginalDestination> KEY =
      AttributeKey.valueOf("isthmus.originalDestination");
  private static final int SOL_IP = 0;
  private static final int SO_ORIGINAL_DST = 80;
  private static final int AF_INET = 2;
  /** {@code struct sockaddr_in}: family, port (network order), address, 8 bytes of padding. */
  private static final RawUnixChannelOption ORIGINAL_DST_OPTION =
      new RawUnixChannelOption("SO_ORIGINAL_DST", SOL_IP, SO_ORIGINAL_DST, 16);

  public OriginalDestination {
    requireNonNull(original, "original");
  }

  /**
   * The destination {@code channel}'s client meant, when capture sent it elsewhere; empty when
   * the client connected to this listener directly (or the transport cannot tell: NIO, no
   * conntrack entry, IPv6).
   *
   * @param transparent the listener is {@code IP_TRANSPARENT} (TPROXY): the local address is it
   */
  public static Optional<InetSocketAddress> of(Channel channel, boolean transparent) {
    requireNonNull(channel, "channel");
    if (!(channel.localAddress() instanceof InetSocketAddress local)) {
      return Optional.empty();
    }
    if (transparent) {
      return Optional.of(local);
    }
    if (!io.isthmus.proxy.internal.Transports.readsRawSocketOptions(channel)) {
      return Optional.empty();
    }
    ByteBuffer raw;
    try {
      raw = channel.config().getOption(ORIGINAL_DST_OPTION);
    } catch (RuntimeException e) {
      // ENOENT: no NAT entry for this connection (nf_conntrack not loaded, or not redirected).
      return Optional.empty();
    }
    return parse(raw).filter(original -> !original.equals(local));
  }

  /** A {@code struct sockaddr_in} as {@code getsockopt} filled it; empty if not IPv4. */
  static Optional<InetSocketAddress> parse(ByteBuffer raw) {
    if (raw == null || raw.remaining() < 8) {
      return Optional.empty();
    }
    int start = raw.position();
    int family = raw.duplicate().order(ByteOrder.nativeOrder()).getShort(start) & 0xffff;
    if (family != AF_INET) {
      return Optional.empty();
    }
    int port = ((raw.get(start + 2) & 0xff) << 8) | (raw.get(start + 3) & 0xff);
    byte[] address = new byte[4];
    for (int i = 0; i < 4; i++) {
      address[i] = raw.get(start + 4 + i);
    }
    try {
      return Optional.of(new InetSocketAddress(InetAddress.getByAddress(address), port));
    } catch (UnknownHostException e) {
      throw new AssertionError("4 bytes are always an IPv4 address", e);
    }
  }

  /** Remembers {@code destination} on {@code channel} for the handlers behind. */
  public static void set(Channel channel, OriginalDestination destination) {
    channel.attr(KEY).set(destination);
  }

  /**
   * Where the client connected to: a captured connection's original destination (REDIRECT leaves
   * the socket bound to the capture port, 15006), else the channel's local address. What
   * authorization ({@code destination_port}) and the access log must see, as Envoy's
   * {@code use_original_dst} listeners report it.
   */
  public static java.net.SocketAddress localAddress(Channel channel) {
    return get(channel).<java.net.SocketAddress>map(OriginalDestination::original)
        .orElseGet(channel::localAddress);
  }

  /** What {@link #set} stored on this channel or, for an HTTP/2 stream, on its connection. */
  public static Optional<OriginalDestination> get(Channel channel) {
    Channel connection = channel instanceof Http2StreamChannel stream ? stream.parent() : channel;
    return Optional.ofNullable(connection.attr(KEY).get());
  }
}
