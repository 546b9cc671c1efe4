package io.isthmus.proxy.internal;

import io.isthmus.proxy.policy.RouteTarget.RetryRules;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * What the proxy needs to know about gRPC over HTTP/2: which requests are gRPC, the status a
 * response carries ({@code grpc-status}, in the headers of a trailers-only response or in the
 * trailers), Envoy's gRPC retry conditions, the {@code grpc-timeout} deadline, and how a local
 * reply (503, 504, ...) becomes a gRPC status, as Envoy maps it.
 */
final class Grpc {

  static final String STATUS = "grpc-status";
  static final String MESSAGE = "grpc-message";
  static final String TIMEOUT = "grpc-timeout";

  /** Envoy's retry_on names for gRPC status codes. */
  private static final Map<String, Integer> RETRY_ON = Map.of(
      "cancelled", 1,
      "deadline-exceeded", 4,
      "resource-exhausted", 8,
      "internal", 13,
      "unavailable", 14);

  private Grpc() {}

  static boolean isGrpc(HttpHeaders headers) {
    String type = headers.get(HttpHeaderNames.CONTENT_TYPE);
    return type != null && type.regionMatches(true, 0, "application/grpc", 0, 16);
  }

  /** The {@code grpc-status} in {@code headers}, or -1 when absent or not a number. */
  static int status(HttpHeaders headers) {
    String value = headers.get(STATUS);
    if (value == null) {
      return -1;
    }
    try {
      int status = Integer.parseInt(value.trim());
      return status >= 0 && status <= 16 ? status : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Whether {@code retry} asks for another try when the response carries {@code status}. */
  static boolean retries(RetryRules retry, int status) {
    if (status <= 0) {
      return false;
    }
    for (String condition : retry.retryOn()) {
      Integer code = RETRY_ON.get(condition);
      if (code != null && code == status) {
        return true;
      }
    }
    return false;
  }

  /**
   * The deadline a {@code grpc-timeout} header asks for ({@code 1-8 digits} and a unit:
   * H, M, S, m, u, n), or empty when absent or malformed (a malformed one is ignored, as
   * Envoy ignores it).
   */
  static Optional<Duration> timeout(HttpHeaders headers) {
    String value = headers.get(TIMEOUT);
    if (value == null || value.length() < 2 || value.length() > 9) {
      return Optional.empty();
    }
    long amount;
    try {
      amount = Long.parseLong(value.substring(0, value.length() - 1));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    if (amount < 0) {
      return Optional.empty();
    }
    return switch (value.charAt(value.length() - 1)) {
      case 'H' -> Optional.of(Duration.ofHours(amount));
      case 'M' -> Optional.of(Duration.ofMinutes(amount));
      case 'S' -> Optional.of(Duration.ofSeconds(amount));
      case 'm' -> Optional.of(Duration.ofMillis(amount));
      case 'u' -> Optional.of(Duration.ofNanos(amount * 1_000));
      case 'n' -> Optional.of(Duration.ofNanos(amount));
      default -> Optional.empty();
    };
  }

  /**
   * The route timeout, shortened by the client's {@code grpc-timeout} (Istio leaves
   * {@code max_stream_duration.grpc_timeout_header_max} unlimited, so the header wins when it is
   * the shorter; zero means none on either side).
   */
  static Duration effectiveTimeout(Duration route, HttpHeaders request) {
    Optional<Duration> asked = isGrpc(request) ? timeout(request) : Optional.empty();
    if (asked.isEmpty() || asked.get().isZero()) {
      return route;
    }
    return route.isZero() || asked.get().compareTo(route) < 0 ? asked.get() : route;
  }

  /** Envoy's mapping of a local HTTP reply to a gRPC status (grpc-status in a 200). */
  static int statusForHttp(int http) {
    return switch (http) {
      case 400 -> 13;
      case 401 -> 16;
      case 403 -> 7;
      case 404 -> 12;
      case 429, 502, 503, 504 -> 14;
      default -> 2;
    };
  }

  /** Local replies for a deadline the proxy enforced say so, as Envoy's do. */
  static int statusForLocalReply(int http, String flags) {
    // An upstream timeout or a stream past its max_stream_duration: the deadline is exceeded.
    return http == 504 && flags.contains("UT") || flags.contains("DT") ? 4
        : statusForHttp(http);
  }

  /** {@code grpc-message} is percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"). */
  static String percentEncode(String message) {
    StringBuilder out = new StringBuilder(message.length());
    for (byte b : message.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if (c >= 0x20 && c <= 0x7e && c != '%') {
        out.append((char) c);
      } else {
        out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
      }
    }
    return out.toString();
  }
}
