package io.isthmus.proxy.testing;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Loopback ports a test names before the code under test binds them (an xDS listener's port, a
 * flag), held until {@link #close}, and ports that refuse connections for as long as they are held.
 *
 * <p>"Bind port 0, read the number, close, hand it out" is a race: until the sidecar binds it, the
 * kernel may give that number to any socket of any process that binds port 0 or connects out, and
 * the sidecar's bind then fails. Here the probe socket stays bound, with {@code SO_REUSEADDR} and
 * never listening: the kernel then never picks that port for a port-0 bind or an outgoing
 * connection, while a listener that also sets {@code SO_REUSEADDR} (Java NIO and Netty's native
 * transports do by default) can still bind and listen on it, and it alone gets the connections. With
 * no listener, connections to a held port are refused, which makes it a dead endpoint that nothing
 * else can take over.
 *
 * <p>Thread-safe. Close it after the sidecars that listen on its ports.
 */
public final class ReservedPorts implements AutoCloseable {

  private final List<SocketChannel> held = new ArrayList<>();

  /** Holds a port free on {@code address} until {@link #close} and returns its number. */
  public int on(String address) {
    requireNonNull(address, "address");
    SocketChannel socket = null;
    try {
      socket = SocketChannel.open();
      socket.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      socket.bind(new InetSocketAddress(InetAddress.getByName(address), 0));
      int port = ((InetSocketAddress) socket.getLocalAddress()).getPort();
      synchronized (held) {
        held.add(socket);
      }
      return port;
    } catch (IOException e) {
      if (socket != null) {
        try {
          socket.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new UncheckedIOException("cannot reserve a port on " + address
          + " (expected: a local address, e.g. any 127.x.y.z)", e);
    }
  }

  /** Releases every port held here. */
  @Override
  public void close() {
    List<SocketChannel> all;
    synchronized (held) {
      all = List.copyOf(held);
      held.clear();
    }
    for (SocketChannel socket : all) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // Closing a socket that never connected fails only if it is already closed.
      }
    }
  }
}
