package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.H2Client;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bad input on the outbound entry's HTTP/2: a malformed frame is a connection error (GOAWAY
 * PROTOCOL_ERROR), a header list over the limit is answered 431 on its stream, bytes that are
 * neither HTTP/1 nor HTTP/2 close the connection; each is counted, and the proxy goes on
 * serving other connections.
 */
class Http2BadInputTest {

  private static final String POD = "127.217.1.1";
  private SidecarServer server;

  @BeforeEach
  void start() throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    server = SidecarServer.start(
        new SidecarSettings(POD, "127.217.2.1", 0, 0, 0, new WorkloadInfo("curl", "sample", "east")),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode());
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void aHeadersFrameOnStreamZeroIsAConnectionErrorAnsweredWithGoaway() throws Exception {
    try (Socket socket = connect()) {
      OutputStream out = socket.getOutputStream();
      out.write(Http2Pipelines.PREFACE);
      out.write(frame(0x4, 0, 0, new byte[0]));
      out.write(frame(0x1, 0x4 | 0x1, 0, new byte[] {(byte) 0x82}));
      out.flush();

      Frame goaway = readUntil(socket, 0x7);
      int errorCode = ((goaway.payload[4] & 0xff) << 24) | ((goaway.payload[5] & 0xff) << 16)
          | ((goaway.payload[6] & 0xff) << 8) | (goaway.payload[7] & 0xff);
      assertThat(errorCode).as("GOAWAY error code").isEqualTo(0x1);
    }
    // Counted on the proxy's loop; nothing orders that before what the client read.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(count(
        "isthmus_http2_errors", "side", "outbound", "frame", "GOAWAY", "error", "PROTOCOL_ERROR"))
        .isEqualTo(1));
    stillServes();
  }

  @Test
  void aHeaderListOverTheLimitIsAnswered431OnItsStream() throws Exception {
    Http2Headers headers = new DefaultHttp2Headers().method("GET").scheme("http").path("/")
        .authority("helloworld:5000").add("x-big", "a".repeat(70 * 1024));
    ByteBuf block = Unpooled.buffer();
    new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true)
        .encodeHeaders(1, headers, block);
    byte[] encoded = new byte[block.readableBytes()];
    block.readBytes(encoded);
    block.release();
    try (Socket socket = connect()) {
      OutputStream out = socket.getOutputStream();
      out.write(Http2Pipelines.PREFACE);
      out.write(frame(0x4, 0, 0, new byte[0]));
      // HEADERS then CONTINUATIONs of at most the default max frame size (16 KiB).
      for (int offset = 0, n = 0; offset < encoded.length; offset += 16_384, n++) {
        int len = Math.min(16_384, encoded.length - offset);
        byte[] chunk = java.util.Arrays.copyOfRange(encoded, offset, offset + len);
        boolean last = offset + len >= encoded.length;
        int flags = (last ? 0x4 : 0) | (n == 0 ? 0x1 : 0);
        out.write(frame(n == 0 ? 0x1 : 0x9, flags, 1, chunk));
      }
      out.flush();

      Frame response = readUntil(socket, 0x1);
      assertThat(response.stream).isEqualTo(1);
      Http2Headers decoded = new DefaultHttp2HeadersDecoder(false)
          .decodeHeaders(1, Unpooled.wrappedBuffer(response.payload));
      assertThat(decoded.status().toString()).isEqualTo("431");
    }
    // Counted on the proxy's loop; nothing orders that before what the client read.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(count(
        "isthmus_http2_errors", "side", "outbound", "frame", "HEADERS", "error", "431"))
        .isEqualTo(1));
    stillServes();
  }

  @Test
  void bytesThatAreNeitherHttp1NorHttp2CloseTheConnectionAndAreCounted() throws Exception {
    try (Socket socket = connect()) {
      socket.getOutputStream().write(new byte[] {0, 1, 2, 3, 'x', 'y'});
      socket.getOutputStream().flush();
      assertThat(readAll(socket)).isEmpty();
    }
    // Counted on the proxy's loop; nothing orders that before what the client read.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(count(
        "isthmus_outbound_unroutable_connections", "protocol", "tcp")).isEqualTo(1));
    stillServes();
  }

  /** Another connection is unaffected: an h2c request for an unknown host gets its 404. */
  private void stillServes() throws Exception {
    try (H2Client client = new H2Client(server.outboundAddress())) {
      H2Client.Response response = client.send(HttpMethod.GET, "nowhere:80", "/", Map.of(),
          new byte[0], Duration.ofSeconds(30));
      assertThat(response.status()).isEqualTo(404);
    }
  }

  private double count(String name, String... tags) {
    return server.metrics().count(name + "", tags);
  }

  private Socket connect() throws IOException {
    Socket socket = new Socket(server.outboundAddress().getAddress(),
        server.outboundAddress().getPort());
    socket.setSoTimeout(30_000);
    return socket;
  }

  private static byte[] frame(int type, int flags, int stream, byte[] payload) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(payload.length >>> 16);
    out.write(payload.length >>> 8);
    out.write(payload.length);
    out.write(type);
    out.write(flags);
    out.write(stream >>> 24);
    out.write(stream >>> 16);
    out.write(stream >>> 8);
    out.write(stream);
    out.writeBytes(payload);
    return out.toByteArray();
  }

  private record Frame(int type, int flags, int stream, byte[] payload) {}

  private static Frame readUntil(Socket socket, int type) throws IOException {
    DataInputStream in = new DataInputStream(socket.getInputStream());
    while (true) {
      int length = (in.readUnsignedByte() << 16) | (in.readUnsignedByte() << 8)
          | in.readUnsignedByte();
      int t = in.readUnsignedByte();
      int flags = in.readUnsignedByte();
      int stream = in.readInt() & 0x7fffffff;
      byte[] payload = new byte[length];
      in.readFully(payload);
      if (t == type) {
        return new Frame(t, flags, stream, payload);
      }
    }
  }

  private static byte[] readAll(Socket socket) throws IOException {
    try {
      return socket.getInputStream().readAllBytes();
    } catch (SocketException | EOFException reset) {
      return new byte[0];
    }
  }
}
