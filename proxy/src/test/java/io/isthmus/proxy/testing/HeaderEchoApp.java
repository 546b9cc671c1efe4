package io.isthmus.proxy.testing;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** An app that answers every request with its headers, one {@code name: value} per line. */
public final class HeaderEchoApp implements AutoCloseable {

  private final HttpServer server;

  public HeaderEchoApp(String address) throws IOException {
    this(address, 0);
  }

  /** On {@code address:port} (0: a free port). */
  public HeaderEchoApp(String address, int port) throws IOException {
    server = HttpServer.create(new InetSocketAddress(address, port), 16);
    server.createContext("/", exchange -> {
      Map<String, String> headers = new TreeMap<>();
      exchange.getRequestHeaders().forEach((k, v) ->
          headers.put(k.toLowerCase(Locale.ROOT), String.join(",", v)));
      StringBuilder body = new StringBuilder("path: " + exchange.getRequestURI() + "\n");
      body.append("peer: ").append(exchange.getRemoteAddress().getAddress().getHostAddress())
          .append('\n');
      headers.forEach((k, v) -> body.append(k).append(": ").append(v).append('\n'));
      byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("content-type", "text/plain");
      exchange.sendResponseHeaders(200, bytes.length);
      exchange.getResponseBody().write(bytes);
      exchange.close();
    });
    server.start();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
