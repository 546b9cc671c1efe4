package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.internal.ProtocolSniffer.Detected;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class ProtocolSnifferTest {

  @ParameterizedTest
  @CsvSource({
      "'GET / HTTP/1.1\r\n', HTTP1",
      "'POST /x HTTP/1.1\r\n', HTTP1",
      "'OPTIONS * HTTP/1.1\r\n', HTTP1",
      "'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', HTTP2",
      "'SSH-2.0-OpenSSH_9.6\r\n', TCP",
      "'GETX / HTTP/1.1', TCP",
      "'get / HTTP/1.1', TCP",
      "'PRI * HTTP/1.1\r\n', TCP",
  })
  void classifiesTheFirstBytes(String first, Detected expected) {
    ByteBuf in = Unpooled.copiedBuffer(first, StandardCharsets.ISO_8859_1);
    try {
      assertThat(ProtocolSniffer.classify(in)).isEqualTo(expected);
    } finally {
      in.release();
    }
  }

  @Test
  void aTlsClientHelloIsTls() {
    ByteBuf in = Unpooled.wrappedBuffer(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01});
    assertThat(ProtocolSniffer.classify(in)).isEqualTo(Detected.TLS);
    in.release();
  }

  @ParameterizedTest
  @CsvSource({"'G'", "'GE'", "'PRI * HT'", "'P'", "'DELET'"})
  void waitsWhileAPrefixCouldStillBeSeveralProtocols(String first) {
    ByteBuf in = Unpooled.copiedBuffer(first, StandardCharsets.ISO_8859_1);
    try {
      assertThat(ProtocolSniffer.classify(in)).isNull();
    } finally {
      in.release();
    }
  }

  @Test
  void handsEveryByteHeldToTheHandlerItInstalledAndRemovesItself() {
    List<Detected> decided = new ArrayList<>();
    EmbeddedChannel channel = new EmbeddedChannel(new ProtocolSniffer(Duration.ofSeconds(1),
        (ctx, d) -> decided.add(d)));
    channel.writeInbound(Unpooled.copiedBuffer("GE", StandardCharsets.US_ASCII));
    assertThat(decided).isEmpty();
    channel.writeInbound(Unpooled.copiedBuffer("T / HTTP/1.1\r\n", StandardCharsets.US_ASCII));
    assertThat(decided).containsExactly(Detected.HTTP1);
    assertThat(channel.pipeline().get(ProtocolSniffer.class)).isNull();
    ByteBuf passed = channel.readInbound();
    assertThat(passed.toString(StandardCharsets.US_ASCII)).isEqualTo("GET / HTTP/1.1\r\n");
    passed.release();
    assertThat(channel.finish()).isFalse();
  }

  @Test
  void aClientThatSaysNothingBeforeTheTimeoutIsTcp() {
    List<Detected> decided = new ArrayList<>();
    EmbeddedChannel channel = new EmbeddedChannel(new ProtocolSniffer(Duration.ofMillis(100),
        (ctx, d) -> decided.add(d)));
    channel.advanceTimeBy(99, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();
    assertThat(decided).isEmpty();
    channel.advanceTimeBy(1, TimeUnit.MILLISECONDS);
    channel.runScheduledPendingTasks();
    assertThat(decided).containsExactly(Detected.TCP);
    assertThat(channel.pipeline().get(ProtocolSniffer.class)).isNull();
    channel.finish();
  }
}
