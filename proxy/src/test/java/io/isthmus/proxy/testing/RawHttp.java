package io.isthmus.proxy.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A blocking HTTP/1.1 client over a plain socket, so tests control the Host header and every
 * byte on the wire: {@link #get} for a whole exchange; {@link #connect}, {@link #readHead} and
 * {@link #readResponse} for tests that write requests themselves (pipelined, half-closed, with
 * {@code Expect: 100-continue}, cut mid-body) or serve raw requests.
 */
public final class RawHttp {

  /** A response; header names in lower case, the body as ISO-8859-1 text. */
  public record Response(int status, Map<String, String> headers, String body) {}

  private RawHttp() {}

  public static Response get(InetSocketAddress address, String host, String path)
      throws IOException {
    return get(address, host, path, Map.of());
  }

  /** A GET with extra request headers. */
  public static Response get(InetSocketAddress address, String host, String path,
      Map<String, String> headers) throws IOException {
    try (Socket socket = connect(address, Duration.ofSeconds(10))) {
      StringBuilder extra = new StringBuilder();
      headers.forEach((k, v) -> extra.append(k).append(": ").append(v).append("\r\n"));
      String request = "GET " + path + " HTTP/1.1\r\nHost: " + host
          + "\r\n" + extra + "Connection: close\r\n\r\n";
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      return parse(readAll(socket.getInputStream()));
    }
  }

  /** A socket connected to {@code address}; a read that waits past {@code readTimeout} fails. */
  public static Socket connect(InetSocketAddress address, Duration readTimeout)
      throws IOException {
    Socket socket = new Socket();
    try {
      socket.connect(address, 5_000);
      socket.setSoTimeout(Math.toIntExact(readTimeout.toMillis()));
      return socket;
    } catch (IOException | RuntimeException e) {
      socket.close();
      throw e;
    }
  }

  /**
   * The head of the next message on {@code in} (a response's, or a request's for a raw server),
   * up to and with its blank line; the stream is left at the body.
   */
  public static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before the head ended, after: "
            + head.toString(StandardCharsets.ISO_8859_1));
      }
      head.write(b);
      matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
    }
    return head.toString(StandardCharsets.ISO_8859_1);
  }

  /**
   * The next final response on {@code in}: interim (1xx) heads are skipped, then its head and a
   * body of its {@code Content-Length} (none without one); the stream is left at the next one.
   */
  public static Response readResponse(InputStream in) throws IOException {
    while (true) {
      String head = readHead(in);
      int status = status(head);
      if (status < 200) {
        continue;
      }
      Map<String, String> headers = headers(head);
      int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
      byte[] body = in.readNBytes(length);
      if (body.length < length) {
        throw new IOException("closed after " + body.length + " of the " + length
            + " body bytes of: " + head);
      }
      return new Response(status, headers, new String(body, StandardCharsets.ISO_8859_1));
    }
  }

  static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    in.transferTo(out);
    return out.toByteArray();
  }

  static Response parse(byte[] raw) {
    String text = new String(raw, StandardCharsets.ISO_8859_1);
    int end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new IllegalStateException("no HTTP response in: " + text);
    }
    String head = text.substring(0, end + 4);
    return new Response(status(head), headers(head), text.substring(end + 4));
  }

  private static int status(String head) {
    return Integer.parseInt(head.substring(0, head.indexOf("\r\n")).split(" ")[1]);
  }

  /** The header fields of {@code head}, names in lower case. */
  private static Map<String, String> headers(String head) {
    String[] lines = head.split("\r\n");
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).trim());
      }
    }
    return headers;
  }
}
