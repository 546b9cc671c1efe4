package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Map;

/**
 * What route matching reads of one request: method, authority, path without the query,
 * decoded query parameters and the headers (not copied: the view must not outlive the
 * request, and matching never changes it).
 */
public record RequestView(String method, String authority, String path,
    Map<String, List<String>> queryParameters, HttpHeaders headers, String sourceAddress) {

  public RequestView {
    requireNonNull(method, "method");
    requireNonNull(authority, "authority");
    requireNonNull(path, "path");
    queryParameters = Map.copyOf(requireNonNull(queryParameters, "queryParameters"));
    requireNonNull(headers, "headers");
    requireNonNull(sourceAddress, "sourceAddress");
  }

  public static RequestView of(HttpRequest request, String sourceAddress) {
    String host = request.headers().get(HttpHeaderNames.HOST, "");
    String target = request.uri();
    if (target.indexOf('?') < 0 && target.indexOf('#') < 0) {
      // No query: the decoder would answer the target itself and no parameters.
      return new RequestView(request.method().name(), host, target, Map.of(),
          request.headers(), sourceAddress);
    }
    QueryStringDecoder uri = new QueryStringDecoder(target);
    return new RequestView(request.method().name(), host, uri.rawPath(), uri.parameters(),
        request.headers(), sourceAddress);
  }

  /** A header's value as Envoy sees it: pseudo-headers included, repeats joined by commas. */
  public String header(String name) {
    return switch (name) {
      case ":authority" -> authority;
      case ":method" -> method;
      case ":path" -> path;
      case ":scheme" -> "http";
      default -> {
        List<String> values = headers.getAll(name);
        yield values.isEmpty() ? null : String.join(",", values);
      }
    };
  }
}
