package io.isthmus.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.OpenSsl;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SniSnifferTest {

  private static final String SNI = "outbound_.5000_._.helloworld.sample.svc.cluster.local";

  private final List<String> rejections = new ArrayList<>();
  private final List<Object> events = new ArrayList<>();
  private final List<ByteBuf> passed = new ArrayList<>();
  private EmbeddedChannel channel;

  @AfterEach
  void tearDown() {
    passed.forEach(ByteBuf::release);
    if (channel != null) {
      channel.finishAndReleaseAll();
    }
  }

  private EmbeddedChannel channel(long timeoutMillis) {
    channel = new EmbeddedChannel(new SniSniffer(timeoutMillis, rejections::add),
        new ChannelInboundHandlerAdapter() {
          @Override
          public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            events.add(evt);
          }

          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            passed.add((ByteBuf) msg);
          }
        });
    return channel;
  }

  @Test
  void findsTheSniAndPassesEveryByteOnUntouchedEvenWhenSplit() throws Exception {
    byte[] hello = clientHello(SNI);
    EmbeddedChannel ch = channel(10_000);

    ch.writeInbound(Unpooled.wrappedBuffer(hello, 0, 7));
    assertThat(events).isEmpty();
    ch.writeInbound(Unpooled.wrappedBuffer(hello, 7, hello.length - 7));

    assertThat(rejections).isEmpty();
    assertThat(events).containsExactly(new SniSniffer.Sniffed(SNI));
    assertThat(ch.pipeline().get(SniSniffer.class)).isNull();
    ByteBuf all = Unpooled.wrappedBuffer(passed.toArray(new ByteBuf[0]));
    byte[] forwarded = new byte[all.readableBytes()];
    all.getBytes(0, forwarded);
    assertThat(forwarded).isEqualTo(hello);
    assertThat(rejections).isEmpty();
    assertThat(ch.isActive()).isTrue();
  }

  @Test
  void closesAConnectionWithoutSni() throws Exception {
    EmbeddedChannel ch = channel(10_000);
    ch.writeInbound(Unpooled.wrappedBuffer(clientHello(null)));
    assertThat(rejections).containsExactly("no_sni");
    assertThat(ch.isActive()).isFalse();
    assertThat(events).isEmpty();
  }

  @Test
  void closesNonTlsBytesAtOnce() {
    EmbeddedChannel ch = channel(10_000);
    ch.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n\r\n", StandardCharsets.US_ASCII));
    assertThat(rejections).containsExactly("not_tls");
    assertThat(ch.isActive()).isFalse();
  }

  @Test
  void closesAnOversizedHello() {
    EmbeddedChannel ch = channel(10_000);
    ByteBuf record = Unpooled.buffer();
    record.writeBytes(new byte[] {22, 3, 1, 0x40, 0x00});
    record.writeBytes(new byte[] {1, 0x01, (byte) 0x86, (byte) 0xA0}); // 100000-byte hello
    record.writeZero(0x4000 - 4);
    ch.writeInbound(record);
    assertThat(rejections).containsExactly("too_large");
    assertThat(ch.isActive()).isFalse();
  }

  @Test
  void closesAMalformedHello() throws Exception {
    byte[] hello = clientHello(SNI);
    // Claim more extension bytes than the hello holds.
    byte[] broken = hello.clone();
    broken[5 + 4 + 2 + 32] = (byte) 0xff; // session id length
    EmbeddedChannel ch = channel(10_000);
    ch.writeInbound(Unpooled.wrappedBuffer(broken));
    assertThat(rejections).containsExactly("malformed");
  }

  @Test
  void closesASlowHandshakeAfterTheTimeout() throws Exception {
    byte[] hello = clientHello(SNI);
    EmbeddedChannel ch = channel(50);
    ch.writeInbound(Unpooled.wrappedBuffer(hello, 0, 10));
    ch.advanceTimeBy(100, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertThat(rejections).containsExactly("timeout");
    assertThat(ch.isActive()).isFalse();
  }

  @Test
  void closesAHelloWithAnOversizedSni() {
    EmbeddedChannel ch = channel(10_000);
    ch.writeInbound(Unpooled.wrappedBuffer(helloWithServerName("a".repeat(256))));
    assertThat(rejections).containsExactly("sni_too_long");
    assertThat(ch.isActive()).isFalse();
  }

  @Test
  void acceptsAnSniOfTheMaximumLength() {
    EmbeddedChannel ch = channel(10_000);
    ch.writeInbound(Unpooled.wrappedBuffer(helloWithServerName("a".repeat(255))));
    assertThat(rejections).isEmpty();
    assertThat(events).containsExactly(new SniSniffer.Sniffed("a".repeat(255)));
  }

  /**
   * A minimal TLS 1.2 ClientHello carrying only a server_name extension, for names a real TLS
   * stack refuses to send (longer than 255 bytes).
   */
  static byte[] helloWithServerName(String name) {
    byte[] host = name.getBytes(StandardCharsets.US_ASCII);
    ByteBuf sniExt = Unpooled.buffer();
    sniExt.writeShort(0).writeShort(host.length + 5).writeShort(host.length + 3)
        .writeByte(0).writeShort(host.length).writeBytes(host);
    ByteBuf body = Unpooled.buffer();
    body.writeShort(0x0303).writeZero(32).writeByte(0) // version, random, session id
        .writeShort(2).writeShort(0xc02f) // one cipher suite
        .writeByte(1).writeByte(0) // null compression
        .writeShort(sniExt.readableBytes()).writeBytes(sniExt);
    ByteBuf record = Unpooled.buffer();
    record.writeByte(22).writeShort(0x0301).writeShort(body.readableBytes() + 4)
        .writeByte(1).writeMedium(body.readableBytes()).writeBytes(body);
    byte[] bytes = new byte[record.readableBytes()];
    record.readBytes(bytes);
    sniExt.release();
    body.release();
    record.release();
    return bytes;
  }

  /** A real ClientHello as the sidecar's TLS writes it. */
  static byte[] clientHello(String sni) throws Exception {
    SslContext context = SslContextBuilder.forClient()
        .sslProvider(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK)
        .build();
    SSLEngine engine = context.newEngine(ByteBufAllocator.DEFAULT);
    if (sni != null) {
      io.isthmus.proxy.internal.ServerNames.set(engine, sni);
    }
    try {
      ByteBuffer out = ByteBuffer.allocate(64 * 1024);
      engine.beginHandshake();
      engine.wrap(ByteBuffer.allocate(0), out);
      out.flip();
      byte[] bytes = new byte[out.remaining()];
      out.get(bytes);
      return bytes;
    } finally {
      io.netty.util.ReferenceCountUtil.release(engine);
    }
  }
}
