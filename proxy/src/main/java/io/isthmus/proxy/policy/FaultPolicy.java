package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import java.time.Duration;
import java.util.Optional;

/**
 * The {@code envoy.filters.http.fault} per-route config Istio emits for a VirtualService
 * {@code fault}: a fixed delay for a fraction of requests, an abort for a fraction, with an
 * HTTP status or (as Envoy, answered with HTTP 200) a gRPC status. {@code delay} is
 * {@link Duration#ZERO}, {@code abortStatus} 0 and {@code abortGrpcStatus} -1 when absent.
 */
public record FaultPolicy(Duration delay, Fraction delayFraction, int abortStatus,
    Fraction abortFraction, int abortGrpcStatus) {

  /** An HTTP abort (or none). */
  public FaultPolicy(Duration delay, Fraction delayFraction, int abortStatus,
      Fraction abortFraction) {
    this(delay, delayFraction, abortStatus, abortFraction, -1);
  }

  public static final String FILTER_NAME = "envoy.filters.http.fault";
  static final String TYPE_URL = "type.googleapis.com/" + HTTPFault.getDescriptor().getFullName();

  public FaultPolicy {
    requireNonNull(delay, "delay");
    requireNonNull(delayFraction, "delayFraction");
    requireNonNull(abortFraction, "abortFraction");
  }

  static Optional<FaultPolicy> of(java.util.Map<String, Any> typedPerFilterConfig, String field) {
    return TypedConfigs.perFilter(typedPerFilterConfig, FILTER_NAME, HTTPFault.class, TYPE_URL,
        field).map(fault -> of(fault, TypedConfigs.perFilterAt(field, FILTER_NAME)));
  }

  private static FaultPolicy of(HTTPFault fault, String where) {
    Duration delay = Duration.ZERO;
    Fraction delayFraction = Fraction.ALL;
    if (fault.hasDelay()) {
      var d = fault.getDelay();
      if (!d.hasFixedDelay()) {
        throw new IllegalArgumentException(where + ".delay: " + d.getFaultDelaySecifierCase()
            + " (expected: fixed_delay)");
      }
      delay = Durations.of(d.getFixedDelay(), where + ".delay.fixed_delay");
      if (d.hasPercentage()) {
        delayFraction = Fraction.of(d.getPercentage());
      }
    }
    int abortStatus = 0;
    int grpcStatus = -1;
    Fraction abortFraction = Fraction.ALL;
    if (fault.hasAbort()) {
      var a = fault.getAbort();
      if (a.hasGrpcStatus()) {
        grpcStatus = a.getGrpcStatus();
        if (grpcStatus > 16) {
          throw new IllegalArgumentException(where + ".abort.grpc_status: " + grpcStatus
              + " (expected: 0..16)");
        }
        // Envoy: a gRPC abort is an HTTP 200 whose trailers carry the status.
        abortStatus = 200;
      } else if (!a.hasHttpStatus()) {
        throw new IllegalArgumentException(where + ".abort: " + a.getErrorTypeCase()
            + " (expected: http_status or grpc_status; header aborts are not supported)");
      } else {
        abortStatus = a.getHttpStatus();
      }
      if (abortStatus < 200 || abortStatus > 599) {
        throw new IllegalArgumentException(where + ".abort.http_status: " + abortStatus
            + " (expected: 200..599)");
      }
      if (a.hasPercentage()) {
        abortFraction = Fraction.of(a.getPercentage());
      }
    }
    if (fault.hasMaxActiveFaults() || fault.hasResponseRateLimit()) {
      throw new IllegalArgumentException(where
          + ": max_active_faults and response_rate_limit are not supported");
    }
    return new FaultPolicy(delay, delayFraction, abortStatus, abortFraction, grpcStatus);
  }

  public boolean hasDelay() {
    return !delay.isZero();
  }

  public boolean hasAbort() {
    return abortStatus != 0;
  }
}
