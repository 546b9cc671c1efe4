package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The switch to a raw relay on {@code 101 Switching Protocols}, on EmbeddedChannels: the 101
 * goes downstream, no HTTP handler is left on either side, bytes that came with the 101 and
 * bytes either way afterwards pass untouched, a half-close ends the other side, and an idle
 * tunnel is closed.
 */
class UpgradeRelayTest {

  private static final String SWITCHING = "HTTP/1.1 101 Switching Protocols\r\n"
      + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
      + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

  private final EmbeddedChannel down = new EmbeddedChannel(new HttpServerCodec(),
      new HttpObjectAggregator(1024), new ChannelInboundHandlerAdapter());
  private EmbeddedChannel up;

  @AfterEach
  void close() {
    down.finishAndReleaseAll();
    if (up != null) {
      up.finishAndReleaseAll();
    }
  }

  /** An upstream that sent the upgrade request and switches when the 101 comes. */
  private EmbeddedChannel upstream(Duration idle) {
    up = new EmbeddedChannel(new HttpClientCodec(), new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpResponse head && head.status().code() == 101) {
          UpgradeRelay.start(down, ctx.channel(), this, head, idle);
        }
        ReferenceCountUtil.release(msg);
      }
    });
    FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
        "/echo");
    UpgradeRelay.restoreHeaders(request.headers(), "websocket");
    up.writeOutbound(request);
    release(up.readOutbound());
    return up;
  }

  @Test
  void the101GoesDownstreamThenBothSidesRelayRawBytes() {
    upstream(Duration.ofMinutes(5));
    // (EmbeddedChannel runs the deferred start right after the read.)
    up.writeInbound(bytes(SWITCHING + "early"));
    // The 101, encoded while the downstream's codec was still there, then the bytes that came
    // with it, untouched.
    assertThat(drain(down)).startsWith("HTTP/1.1 101 Switching Protocols\r\n")
        .containsIgnoringCase("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        .endsWith("\r\n\r\nearly");
    // The upstream's codec went once the read that carried the 101 was decoded.
    assertThat(up.pipeline().get(HttpClientCodec.class)).isNull();
    assertThat(down.pipeline().get(HttpServerCodec.class)).isNull();
    assertThat(down.pipeline().get(HttpObjectAggregator.class)).isNull();
    assertThat(down.pipeline().names()).contains("upgrade-tunnel", "upgrade-idle");

    // Not HTTP any more, either way.
    down.writeInbound(bytes("GET / HTTP/1.1\r\n\r\n"));
    assertThat(drain(up)).isEqualTo("GET / HTTP/1.1\r\n\r\n");
    up.writeInbound(bytes("\u0081\u0002hi"));
    assertThat(drain(down)).isEqualTo("\u0081\u0002hi");
    assertThat((Object) down.readInbound()).isNull();
    assertThat((Object) up.readInbound()).isNull();
  }

  @Test
  void aHalfCloseEndsTheOtherSidesOutput() {
    upstream(Duration.ofMinutes(5));
    up.writeInbound(bytes(SWITCHING));
    up.runPendingTasks();
    drain(down);
    down.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    down.runPendingTasks();
    // EmbeddedChannel cannot shut its output alone: the other side is closed.
    assertThat(up.isOpen()).isFalse();
  }

  @Test
  void anIdleTunnelIsClosed() {
    upstream(Duration.ofSeconds(1));
    up.writeInbound(bytes(SWITCHING));
    up.runPendingTasks();
    drain(down);
    down.advanceTimeBy(2, TimeUnit.SECONDS);
    down.runScheduledPendingTasks();
    assertThat(down.isOpen()).isFalse();
    assertThat(up.isOpen()).isFalse();
  }

  @ParameterizedTest
  @CsvSource({
      "Upgrade, websocket, websocket",
      "'keep-alive, Upgrade', WebSocket, websocket",
      "Upgrade, h2c, ",
      "keep-alive, websocket, ",
      ", websocket, ",
      "Upgrade, , ",
      "Upgrade, custom-proto, custom-proto"})
  void whatCountsAsAnUpgrade(String connection, String upgrade, String expected) {
    FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
        "/");
    if (connection != null) {
      request.headers().set("connection", connection);
    }
    if (upgrade != null) {
      request.headers().set("upgrade", upgrade);
    }
    assertThat(UpgradeRelay.requested(down, request)).isEqualTo(expected);
    request.release();
  }

  @Test
  void onlyAWebsocketUpgradeConfigThatIsNotDisabledEnablesIt() {
    assertThat(DataPlaneConfig.websocketEnabled(HttpConnectionManager.getDefaultInstance()))
        .isFalse();
    assertThat(DataPlaneConfig.websocketEnabled(HttpConnectionManager.newBuilder()
        .addUpgradeConfigs(UpgradeConfig.newBuilder().setUpgradeType("WebSocket")).build()))
        .isTrue();
    assertThat(DataPlaneConfig.websocketEnabled(HttpConnectionManager.newBuilder()
        .addUpgradeConfigs(UpgradeConfig.newBuilder().setUpgradeType("websocket")
            .setEnabled(com.google.protobuf.BoolValue.of(false))).build()))
        .isFalse();
    assertThat(DataPlaneConfig.websocketEnabled(HttpConnectionManager.newBuilder()
        .addUpgradeConfigs(UpgradeConfig.newBuilder().setUpgradeType("CONNECT")).build()))
        .isFalse();
    assertThat(UpgradeRelay.allowed("websocket", true)).isTrue();
    assertThat(UpgradeRelay.allowed("websocket", false)).isFalse();
    assertThat(UpgradeRelay.allowed("custom-proto", true)).isFalse();
  }

  private static ByteBuf bytes(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1);
  }

  /** Everything written to {@code channel} so far, as bytes. */
  private static String drain(EmbeddedChannel channel) {
    StringBuilder out = new StringBuilder();
    Object msg;
    while ((msg = channel.readOutbound()) != null) {
      assertThat(msg).isInstanceOf(ByteBuf.class);
      ByteBuf buf = (ByteBuf) msg;
      out.append(buf.toString(StandardCharsets.ISO_8859_1));
      buf.release();
    }
    return out.toString();
  }

  private static void release(Object msg) {
    ReferenceCountUtil.release(msg);
  }
}
