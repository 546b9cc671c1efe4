package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The ClientHello's server name read on a captured connection, the bytes left untouched for
 * whatever follows: a real client's hello (JDK and OpenSSL), one split across reads, plaintext,
 * and a client that says nothing.
 */
class ServerNameSnifferTest {

  private final List<Optional<String>> decided = new ArrayList<>();

  private EmbeddedChannel sniffer(Duration timeout) {
    return new EmbeddedChannel(new ServerNameSniffer(timeout, (ctx, name) -> decided.add(name)));
  }

  /** The first flight a real TLS client sends to {@code serverName}. */
  private static byte[] clientHello(SslProvider provider, String serverName) throws Exception {
    SslContext context = SslContextBuilder.forClient().sslProvider(provider)
        .trustManager(InsecureTrustManagerFactory.INSTANCE).build();
    EmbeddedChannel client = new EmbeddedChannel();
    SslHandler ssl = context.newHandler(client.alloc(), serverName, 443);
    ServerNames.set(ssl.engine(), serverName);
    client.pipeline().addLast(ssl);
    ByteBuf hello = Unpooled.buffer();
    for (Object out; (out = client.readOutbound()) != null; ) {
      ByteBuf part = (ByteBuf) out;
      hello.writeBytes(part);
      part.release();
    }
    client.finishAndReleaseAll();
    byte[] bytes = ByteBufUtil.getBytes(hello);
    hello.release();
    assertThat(bytes).as("a ClientHello record").isNotEmpty().startsWith((byte) 0x16);
    return bytes;
  }

  private static byte[] readAll(EmbeddedChannel channel) {
    ByteBuf all = Unpooled.buffer();
    for (Object in; (in = channel.readInbound()) != null; ) {
      ByteBuf part = (ByteBuf) in;
      all.writeBytes(part);
      part.release();
    }
    byte[] bytes = ByteBufUtil.getBytes(all);
    all.release();
    return bytes;
  }

  @ParameterizedTest
  @EnumSource(value = SslProvider.class, names = {"JDK", "OPENSSL"})
  void findsTheServerNameAndPassesTheHelloOnUntouched(SslProvider provider) throws Exception {
    byte[] hello = clientHello(provider, "API.Example.com");
    EmbeddedChannel channel = sniffer(Duration.ofSeconds(1));

    channel.writeInbound(Unpooled.wrappedBuffer(hello));

    assertThat(decided).containsExactly(Optional.of("api.example.com"));
    assertThat(channel.pipeline().get(ServerNameSniffer.class)).isNull();
    assertThat(readAll(channel)).isEqualTo(hello);
    assertThat(channel.finishAndReleaseAll()).isFalse();
  }

  @Test
  void aHelloSplitAcrossReadsIsReadWhole() throws Exception {
    byte[] hello = clientHello(SslProvider.JDK, "httpbin.org");
    EmbeddedChannel channel = sniffer(Duration.ofSeconds(1));

    channel.writeInbound(Unpooled.wrappedBuffer(hello, 0, 3));
    channel.writeInbound(Unpooled.wrappedBuffer(hello, 3, 40));
    assertThat(decided).as("not yet: the hello is incomplete").isEmpty();
    channel.writeInbound(Unpooled.wrappedBuffer(hello, 43, hello.length - 43));

    assertThat(decided).containsExactly(Optional.of("httpbin.org"));
    assertThat(readAll(channel)).isEqualTo(hello);
    channel.finishAndReleaseAll();
  }

  @Test
  void plaintextHasNoServerNameAndKeepsItsBytes() {
    EmbeddedChannel channel = sniffer(Duration.ofSeconds(1));
    byte[] request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    channel.writeInbound(Unpooled.wrappedBuffer(request));

    assertThat(decided).containsExactly(Optional.empty());
    assertThat(readAll(channel)).isEqualTo(request);
    channel.finishAndReleaseAll();
  }

  @Test
  void aClientThatSaysNothingFallsToTheDefaultAfterTheTimeout() {
    EmbeddedChannel channel = sniffer(Duration.ofMillis(100));
    channel.advanceTimeBy(99, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();
    assertThat(decided).isEmpty();

    channel.advanceTimeBy(2, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();

    assertThat(decided).containsExactly(Optional.empty());
    assertThat(channel.isActive()).as("the default chain decides, not a close").isTrue();
    assertThat(channel.pipeline().get(ServerNameSniffer.class)).isNull();
    channel.finishAndReleaseAll();
  }
}
