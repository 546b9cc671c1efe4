package io.isthmus.proxy.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** A blocking HTTP/1.1 client over a plain socket, so tests control the Host header. */
public final class RawHttp {

  public record Response(int status, Map<String, String> headers, String body) {}

  private RawHttp() {}

  public static Response get(InetSocketAddress address, String host, String path)
      throws IOException {
    return get(address, host, path, Map.of());
  }

  /** A GET with extra request headers. */
  public static Response get(InetSocketAddress address, String host, String path,
      Map<String, String> headers) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(address, 5_000);
      socket.setSoTimeout(10_000);
      StringBuilder extra = new StringBuilder();
      headers.forEach((k, v) -> extra.append(k).append(": ").append(v).append("\r\n"));
      String request = "GET " + path + " HTTP/1.1\r\nHost: " + host
          + "\r\n" + extra + "Connection: close\r\n\r\n";
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      return parse(readAll(socket.getInputStream()));
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
    String[] lines = text.substring(0, end).split("\r\n");
    int status = Integer.parseInt(lines[0].split(" ")[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
          lines[i].substring(colon + 1).trim());
    }
    return new Response(status, headers, text.substring(end + 4));
  }
}
