package io.isthmus.proxy.internal.capture;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * What authorization's {@code destination_port} and the access log's local address read: the
 * original destination of a captured connection (REDIRECT leaves the socket on 15006), else the
 * socket's own local address.
 */
class OriginalDestinationTest {

  @Test
  void aCapturedConnectionReportsWhereTheClientConnected() {
    EmbeddedChannel channel = new EmbeddedChannel();
    assertThat(OriginalDestination.localAddress(channel)).isEqualTo(channel.localAddress());
    InetSocketAddress original = new InetSocketAddress("10.96.0.10", 8080);
    OriginalDestination.set(channel, new OriginalDestination(original, null));
    assertThat(OriginalDestination.localAddress(channel)).isEqualTo(original);
    channel.finishAndReleaseAll();
  }
}
