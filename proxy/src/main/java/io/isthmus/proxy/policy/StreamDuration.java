package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Optional;

/**
 * How long one stream (a request and its response, from the request's head on) may live, as
 * Envoy's connection manager limits it: a route's {@code RouteAction.max_stream_duration}
 * ({@code max_stream_duration}, {@code grpc_timeout_header_max}, {@code
 * grpc_timeout_header_offset}), else the connection manager's {@code
 * common_http_protocol_options.max_stream_duration}. Unlike the route timeout, which runs from the
 * end of the request, this one runs from its start and also ends a stream whose response is under
 * way. Immutable.
 *
 * @param max the route's {@code max_stream_duration} (zero: no limit, whatever the connection
 *     manager says), or empty to use the connection manager's
 * @param grpcHeaderMax {@code grpc_timeout_header_max}: when present, a request's {@code
 *     grpc-timeout} is the limit, capped at this (zero: not capped); when absent the header is not
 *     consulted
 * @param grpcHeaderOffset {@code grpc_timeout_header_offset}: taken off the header's timeout
 * @param connectionMax the connection manager's {@code max_stream_duration} (zero: none)
 */
public record StreamDuration(Optional<Duration> max, Optional<Duration> grpcHeaderMax,
    Optional<Duration> grpcHeaderOffset, Duration connectionMax) {

  /** Nothing configured: streams live as long as they like. */
  public static final StreamDuration NONE =
      new StreamDuration(Optional.empty(), Optional.empty(), Optional.empty(), Duration.ZERO);

  public StreamDuration {
    requireNonNull(max, "max");
    requireNonNull(grpcHeaderMax, "grpcHeaderMax");
    requireNonNull(grpcHeaderOffset, "grpcHeaderOffset");
    requireNonNull(connectionMax, "connectionMax");
    for (Duration d : new Duration[] {max.orElse(Duration.ZERO),
        grpcHeaderMax.orElse(Duration.ZERO), grpcHeaderOffset.orElse(Duration.ZERO),
        connectionMax}) {
      if (d.isNegative()) {
        throw new IllegalArgumentException("stream duration: " + d + " (expected: >= 0)");
      }
    }
  }

  /**
   * A route's {@code max_stream_duration} message; {@code where} names it in errors (it is
   * NACKed when a duration is negative).
   */
  static StreamDuration of(
      io.envoyproxy.envoy.config.route.v3.RouteAction.MaxStreamDuration message, String where) {
    return new StreamDuration(
        message.hasMaxStreamDuration()
            ? Optional.of(Durations.of(message.getMaxStreamDuration(),
                where + ".max_stream_duration")) : Optional.empty(),
        message.hasGrpcTimeoutHeaderMax()
            ? Optional.of(Durations.of(message.getGrpcTimeoutHeaderMax(),
                where + ".grpc_timeout_header_max")) : Optional.empty(),
        message.hasGrpcTimeoutHeaderOffset()
            ? Optional.of(Durations.of(message.getGrpcTimeoutHeaderOffset(),
                where + ".grpc_timeout_header_offset")) : Optional.empty(),
        Duration.ZERO);
  }

  /** This route's settings under a connection manager whose own limit is {@code limit}. */
  public StreamDuration withConnectionMax(Duration limit) {
    requireNonNull(limit, "limit");
    return limit.equals(connectionMax) ? this
        : new StreamDuration(max, grpcHeaderMax, grpcHeaderOffset, limit);
  }

  /** False when no request can get a limit (nothing to look at per request). */
  public boolean isSet() {
    return max.isPresent() || grpcHeaderMax.isPresent() || !connectionMax.isZero();
  }

  /**
   * The limit of a stream whose request carries {@code grpcTimeout} (its {@code grpc-timeout}
   * header, when present and valid), or empty for none. Zero: the stream is over at once (a
   * header timeout that the offset used up), as in Envoy.
   */
  public Optional<Duration> limit(Optional<Duration> grpcTimeout) {
    requireNonNull(grpcTimeout, "grpcTimeout");
    if (grpcTimeout.isEmpty() || grpcHeaderMax.isEmpty()) {
      if (max.isPresent()) {
        return max.get().isZero() ? Optional.empty() : max;
      }
      return connectionMax.isZero() ? Optional.empty() : Optional.of(connectionMax);
    }
    Duration timeout = grpcTimeout.get();
    Duration cap = grpcHeaderMax.get();
    if (!cap.isZero() && timeout.compareTo(cap) > 0) {
      timeout = cap;
    }
    if (!timeout.isZero() && grpcHeaderOffset.isPresent()) {
      Duration offset = grpcHeaderOffset.get();
      timeout = offset.compareTo(timeout) < 0 ? timeout.minus(offset) : Duration.ZERO;
    }
    return Optional.of(timeout);
  }
}
