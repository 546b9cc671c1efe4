package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.H2Client;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/1.1 request bodies stream through two real sidecars on loopback, as HTTP/2 ones do: an
 * HTTP/1.1 client over a plain socket → client sidecar → mTLS → server sidecar → a JDK
 * {@link HttpServer}. A 20 MiB upload (with {@code Content-Length} and chunked) arrives whole
 * without the sidecars holding it; a small PUT is replayed whole from the 1 MiB retry buffer, a
 * larger one is not retried and is counted; a server that stops reading stops the client's
 * writes; a client that leaves mid-body cuts the server's request; {@code Expect: 100-continue}
 * is answered by the sidecar. And an h2c POST with a body to an app that only speaks HTTP/1.1
 * (the inbound sidecar tries h2c first) is replayed in HTTP/1.1 and succeeds.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Http1UploadSidecarTest {

  private static final String FILES = "files.sample.svc.cluster.local";
  private static final String LEGACY = "legacy.sample.svc.cluster.local";
  private static final String RUDE = "rude.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.163.1.1";
  private static final String SERVER_LOCAL = "127.163.2.1";
  private static final String CLIENT_POD = "127.164.1.1";
  private static final String CLIENT_LOCAL = "127.164.2.1";
  private static final int MIB = 1 << 20;

  @TempDir
  static Path dir;

  /** What the app read of each request: "path length crc expect" or "path truncated length". */
  private final BlockingQueue<String> received = new LinkedBlockingQueue<>();
  private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
  private volatile CountDownLatch slowGate = new CountDownLatch(0);
  private final AtomicLong slowRead = new AtomicLong();
  /** What the app has read so far of the current {@code /leave} request. */
  private final AtomicLong leaveRead = new AtomicLong();
  private final ExecutorService appThreads = Executors.newCachedThreadPool();
  private TwoSidecars mesh;
  private HttpServer app;
  private HttpServer legacy;
  /** An HTTP/1.1-only app that resets the connection right after refusing h2c's preface. */
  private java.net.ServerSocket rude;
  private Sidecar server;
  private Sidecar client;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = HttpServer.create(new InetSocketAddress(SERVER_LOCAL, 0), 16);
    app.setExecutor(appThreads);
    app.createContext("/", this::serve);
    app.start();
    // Its own app and port, so no other test teaches the inbound sidecar that it is HTTP/1-only.
    legacy = HttpServer.create(new InetSocketAddress(SERVER_LOCAL, 0), 16);
    legacy.setExecutor(appThreads);
    legacy.createContext("/", this::serve);
    legacy.start();
    rude = new java.net.ServerSocket(0, 16, java.net.InetAddress.getByName(SERVER_LOCAL));
    appThreads.execute(this::serveRudely);
    int inbound = mesh.port(SERVER_POD);
    int legacyInbound = mesh.port(SERVER_POD);
    int rudeInbound = mesh.port(SERVER_POD);

    FakeAdsServer serverAds = mesh.serverAds();
    serverAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.inboundCluster(inbound, app.getAddress().getPort()),
        MeshResources.inboundCluster(legacyInbound, legacy.getAddress().getPort()),
        MeshResources.inboundCluster(rudeInbound, rude.getLocalPort())));
    serverAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.virtualInbound(inbound, legacyInbound, rudeInbound)));

    FakeAdsServer clientAds = mesh.clientAds();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.outboundCluster(8000, FILES), MeshResources.outboundCluster(9000, LEGACY),
        MeshResources.outboundCluster(9100, RUDE)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(
        MeshResources.endpoints(outboundName(8000, FILES), "us-east",
            new Ep(SERVER_POD, inbound, 1, "east", false)),
        MeshResources.endpoints(outboundName(9000, LEGACY), "us-east",
            new Ep(SERVER_POD, legacyInbound, 1, "east", false)),
        MeshResources.endpoints(outboundName(9100, RUDE), "us-east",
            new Ep(SERVER_POD, rudeInbound, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(8000),
        MeshResources.outboundListener(9000), MeshResources.outboundListener(9100)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(
        MeshResources.withRetries(MeshResources.routes(8000, FILES), "5xx,reset"),
        MeshResources.routes(9000, LEGACY), MeshResources.routes(9100, RUDE)));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "files");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    slowGate.countDown();
    if (mesh != null) {
      mesh.close();
    }
    if (app != null) {
      app.stop(0);
    }
    if (legacy != null) {
      legacy.stop(0);
    }
    if (rude != null) {
      rude.close();
    }
    appThreads.shutdownNow();
  }

  /**
   * The app: reads the whole body (counting and checksumming it) and answers its length and CRC.
   * {@code /flaky/<key>} answers 503 to the first attempt of each key, after reading its body;
   * {@code /slow} reads nothing until {@link #slowGate} opens.
   */
  private void serve(HttpExchange exchange) throws IOException {
    String path = exchange.getRequestURI().getPath();
    try (exchange) {
      if (path.equals("/slow")) {
        try {
          slowGate.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      long length = 0;
      CRC32 crc = new CRC32();
      byte[] buffer = new byte[64 * 1024];
      InputStream in = exchange.getRequestBody();
      try {
        int n;
        while ((n = in.read(buffer)) > 0) {
          length += n;
          crc.update(buffer, 0, n);
          if (path.equals("/slow")) {
            slowRead.addAndGet(n);
          } else if (path.equals("/leave")) {
            leaveRead.addAndGet(n);
          }
        }
      } catch (IOException e) {
        received.add(path + " truncated " + length);
        throw e;
      }
      String expect = exchange.getRequestHeaders().getFirst("Expect");
      received.add(path + " " + length + " " + crc.getValue() + " " + expect);
      int status = 200;
      if (path.startsWith("/flaky/")
          && attempts.computeIfAbsent(path, k -> new AtomicInteger()).incrementAndGet() == 1) {
        status = 503;
      }
      byte[] answer = ("length=" + length + " crc=" + crc.getValue())
          .getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(status, answer.length);
      exchange.getResponseBody().write(answer);
    }
  }

  /**
   * The next request the app finished whose line starts with {@code prefix}, skipping others (an
   * earlier test's request may still be ending at the app); null after 30 s.
   */
  private String next(String prefix) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    for (long left; (left = deadline - System.nanoTime()) > 0; ) {
      String line = received.poll(left, TimeUnit.NANOSECONDS);
      if (line != null && line.startsWith(prefix)) {
        return line;
      }
    }
    return null;
  }

  @Test
  void twentyMebibytesWithContentLengthArriveWholeWithoutBeingHeld() throws Exception {
    assertUploadStreams(false);
  }

  @Test
  void twentyMebibytesChunkedArriveWholeWithoutBeingHeld() throws Exception {
    assertUploadStreams(true);
  }

  private void assertUploadStreams(boolean chunked) throws Exception {
    long size = 20L * MIB;
    double countedBefore = SidecarMetrics.requestBytes(client, FILES, null);
    RawHttp.Response upload;
    AllocatorPeak peak = AllocatorPeak.start();
    try {
      upload = upload("/upload", "POST", size, chunked, Map.of());
    } finally {
      peak.close();
    }
    // Before, the sidecar refused anything over 8 MiB with 413.
    assertThat(upload.status()).as(upload.body()).isEqualTo(200);
    assertThat(upload.body()).isEqualTo("length=" + size + " crc=" + crc(size));
    // Aggregating, each of the two sidecars (they share this JVM's allocator) would hold all of
    // it; streamed: a 1 MiB retry buffer each until it overflows, and what is in flight.
    assertThat(peak.growth()).as("allocator growth while 20 MiB streamed")
        .isLessThan(size);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(SidecarMetrics.requestBytes(client, FILES, null) - countedBefore)
            .isGreaterThanOrEqualTo((double) size));
  }

  @Test
  void aSmallPutIsReplayedWholeFromTheRetryBuffer() throws Exception {
    received.clear();
    long size = 300 * 1024;
    RawHttp.Response upload = upload("/flaky/small", "PUT", size, true, Map.of());
    assertThat(upload.status()).as(upload.body()).isEqualTo(200);
    assertThat(upload.body()).isEqualTo("length=" + size + " crc=" + crc(size));
    // Both attempts got all of it: the 503'd one and the retry.
    assertThat(attempts.get("/flaky/small").get()).isEqualTo(2);
    // Only this path's: another test's request may still be ending at the app.
    assertThat(received).filteredOn(r -> r.startsWith("/flaky/small "))
        .containsExactly("/flaky/small " + size + " " + crc(size) + " null",
            "/flaky/small " + size + " " + crc(size) + " null");
  }

  @Test
  void aBodyPastTheRetryBufferIsNotRetriedAndIsCounted() throws Exception {
    double abandonedBefore = SidecarMetrics.abandoned(client, "outbound");
    RawHttp.Response upload = upload("/flaky/large", "PUT", 2L * MIB, false, Map.of());
    // Past 1 MiB the first attempt's 503 is final.
    assertThat(upload.status()).isEqualTo(503);
    assertThat(attempts.get("/flaky/large").get()).isEqualTo(1);
    // Read over the admin ports: awaited, as nothing orders them before the client's answer.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(SidecarMetrics.abandoned(client, "outbound")).isGreaterThan(abandonedBefore);
      assertThat(SidecarMetrics.abandoned(server, "inbound")).isGreaterThan(0);
    });
  }

  @Test
  void expectContinueIsAnsweredByTheSidecarAndNotForwarded() throws Exception {
    received.clear();
    try (Socket socket = connect()) {
      OutputStream out = socket.getOutputStream();
      out.write(("POST /upload HTTP/1.1\r\nHost: " + FILES + ":8000\r\nContent-Length: 5\r\n"
          + "Expect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      // Nothing of the body is sent until the interim answer came.
      assertThat(RawHttp.readHead(in)).startsWith("HTTP/1.1 100 Continue");
      out.write("hello".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(RawHttp.readHead(in)).startsWith("HTTP/1.1 200");
    }
    // Envoy without proxy_100_continue: the expectation ends at the sidecar.
    assertThat(next("/upload ")).isEqualTo("/upload 5 " + crcOf("hello") + " null");
  }

  @Test
  void aServerThatStopsReadingStopsTheClientsWrites() throws Exception {
    slowGate = new CountDownLatch(1);
    slowRead.set(0);
    long size = 160L * MIB;
    AtomicLong written = new AtomicLong();
    long before = AllocatorPeak.used();
    try (Socket socket = connect()) {
      Thread writer = new Thread(() -> {
        try {
          writeBody(socket.getOutputStream(), "/slow", "POST", size, false, Map.of(), written);
        } catch (IOException e) {
          // The test closes the socket at its end.
        }
      });
      writer.setDaemon(true);
      writer.start();
      // The app reads nothing: the client's writes stall once the buffers on the way are full.
      long stalled = awaitStall(written);
      // Socket buffers on three connections fill first (Linux may grow each to tens of MiB);
      // the sidecars themselves hold little: nothing unbounded waits in their memory.
      assertThat(stalled).as("bytes the client could write while the server read none")
          .isGreaterThan(MIB).isLessThan(size);
      assertThat(AllocatorPeak.used() - before).as("allocator growth while stalled")
          .isLessThan(32L * MIB);
      assertThat(slowRead.get()).isZero();
      // Once the app reads, the rest flows.
      slowGate.countDown();
      await().atMost(Duration.ofSeconds(60)).until(() -> written.get() == size + headerLength(
          "/slow", "POST", size, false, Map.of()));
      RawHttp.Response answer = RawHttp.readResponse(socket.getInputStream());
      assertThat(answer.status()).isEqualTo(200);
      assertThat(answer.body()).isEqualTo("length=" + size + " crc=" + crc(size));
      writer.join(5_000);
    }
  }

  @Test
  void aClientThatLeavesMidBodyCutsTheServersRequest() throws Exception {
    received.clear();
    leaveRead.set(0);
    try (Socket socket = connect()) {
      OutputStream out = socket.getOutputStream();
      out.write(("POST /leave HTTP/1.1\r\nHost: " + FILES + ":8000\r\nContent-Length: "
          + (10 * MIB) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.write(new byte[3 * MIB]);
      out.flush();
      // The head and the first parts went through: the app is reading the body.
      await().atMost(Duration.ofSeconds(30)).until(() -> leaveRead.get() > 0);
    }
    // The client is gone: the upstream request is reset, so the app's read ends short.
    assertThat(next("/leave ")).startsWith("/leave truncated ");
  }

  @Test
  void anH2cPostToAnHttp1OnlyAppIsReplayedInHttp1() throws Exception {
    received.clear();
    byte[] body = new byte[200 * 1024];
    for (int i = 0; i < body.length; i++) {
      body[i] = (byte) (i * 31);
    }
    CRC32 crc = new CRC32();
    crc.update(body);
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      H2Client.Response response = h2.send(HttpMethod.POST, LEGACY + ":9000", "/legacy",
          Map.of("content-type", "application/octet-stream"), body, Duration.ofSeconds(10));
      // The inbound sidecar tried h2c, the app answered in HTTP/1: the body is replayed.
      assertThat(response.status()).as(new String(response.body(), StandardCharsets.UTF_8))
          .isEqualTo(200);
      assertThat(new String(response.body(), StandardCharsets.UTF_8))
          .isEqualTo("length=" + body.length + " crc=" + crc.getValue());
    }
    assertThat(received).contains("/legacy " + body.length + " " + crc.getValue() + " null");
  }

  /**
   * The rude app: to h2c's preface it answers 505 and closes at once with unread bytes (a TCP
   * reset); an HTTP/1.1 request with a Content-Length body gets its length back.
   */
  private void serveRudely() {
    while (!rude.isClosed()) {
      try {
        Socket socket = rude.accept();
        appThreads.execute(() -> {
          try (socket) {
            InputStream in = socket.getInputStream();
            String head = RawHttp.readHead(in);
            if (head.startsWith("PRI ")) {
              socket.getOutputStream().write(("HTTP/1.1 505 HTTP Version Not Supported\r\n"
                  + "Content-Length: 0\r\nConnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
              socket.setSoLinger(true, 0);
              return;
            }
            long length = 0;
            for (String line : head.split("\r\n")) {
              if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Long.parseLong(line.substring(15).trim());
              }
            }
            byte[] body = in.readNBytes((int) length);
            byte[] answer = ("length=" + body.length).getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: " + answer.length
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().write(answer);
          } catch (IOException e) {
            // the sidecar went away
          }
        });
      } catch (IOException e) {
        return;
      }
    }
  }

  @Test
  void anH2cPostToAnAppThatResetsAfterRefusingH2cIsReplayedInHttp1() throws Exception {
    byte[] body = new byte[300 * 1024];
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      H2Client.Response response = h2.send(HttpMethod.POST, RUDE + ":9100", "/rude",
          Map.of("content-type", "application/octet-stream"), body, Duration.ofSeconds(10));
      // The sidecar waits for the h2c preface, so no body frame is in flight when the app
      // answers 505 and resets; it reads the answer and replays the body in HTTP/1.1. (Frames in
      // flight could make the connection fail on the reset before the answer was read: 503. The
      // timing here does not always reproduce that; the JDK app above once did.)
      assertThat(response.status()).as(new String(response.body(), StandardCharsets.UTF_8))
          .isEqualTo(200);
      assertThat(new String(response.body(), StandardCharsets.UTF_8))
          .isEqualTo("length=" + body.length);
    }
  }

  private Socket connect() throws IOException {
    return RawHttp.connect(client.outboundAddress(), Duration.ofSeconds(60));
  }

  /** Sends one request with a {@code size}-byte generated body and reads the answer. */
  private RawHttp.Response upload(String path, String method, long size, boolean chunked,
      Map<String, String> headers) throws IOException {
    try (Socket socket = connect()) {
      writeBody(socket.getOutputStream(), path, method, size, chunked, headers, new AtomicLong());
      return RawHttp.readResponse(socket.getInputStream());
    }
  }

  private static String head(String path, String method, long size, boolean chunked,
      Map<String, String> headers) {
    StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: " + FILES
        + ":8000\r\n");
    head.append(chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + size + "\r\n");
    headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    return head.append("\r\n").toString();
  }

  private static long headerLength(String path, String method, long size, boolean chunked,
      Map<String, String> headers) {
    return head(path, method, size, chunked, headers).length();
  }

  /** Writes the request, counting the body's bytes into {@code written} as they leave. */
  private static void writeBody(OutputStream out, String path, String method, long size,
      boolean chunked, Map<String, String> headers, AtomicLong written) throws IOException {
    byte[] head = head(path, method, size, chunked, headers).getBytes(StandardCharsets.US_ASCII);
    out.write(head);
    written.addAndGet(head.length);
    byte[] part = new byte[64 * 1024];
    long sent = 0;
    while (sent < size) {
      int n = (int) Math.min(part.length, size - sent);
      fill(part, sent, n);
      if (chunked) {
        out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
      }
      out.write(part, 0, n);
      if (chunked) {
        out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      sent += n;
      written.addAndGet(n);
    }
    if (chunked) {
      out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    }
    out.flush();
  }

  /** The generated body's byte at {@code offset}: not all zeros, so a reordering shows. */
  private static void fill(byte[] part, long offset, int n) {
    for (int i = 0; i < n; i++) {
      long at = offset + i;
      part[i] = (byte) (at ^ (at >>> 9));
    }
  }

  private static long crc(long size) {
    CRC32 crc = new CRC32();
    byte[] part = new byte[64 * 1024];
    for (long at = 0; at < size; at += part.length) {
      int n = (int) Math.min(part.length, size - at);
      fill(part, at, n);
      crc.update(part, 0, n);
    }
    return crc.getValue();
  }

  private static long crcOf(String text) {
    CRC32 crc = new CRC32();
    crc.update(text.getBytes(StandardCharsets.US_ASCII));
    return crc.getValue();
  }

  /** Waits until {@code written} stopped growing for a second; returns it then. */
  private static long awaitStall(AtomicLong written) {
    AtomicLong last = new AtomicLong(-1);
    AtomicLong since = new AtomicLong(System.nanoTime());
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> {
      long now = written.get();
      if (now != last.getAndSet(now)) {
        since.set(System.nanoTime());
        return false;
      }
      return System.nanoTime() - since.get() > TimeUnit.SECONDS.toNanos(1);
    });
    return written.get();
  }
}
