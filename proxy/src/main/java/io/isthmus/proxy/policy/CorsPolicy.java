package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code envoy.filters.http.cors} per-route config Istio emits for a VirtualService
 * {@code corsPolicy}, with Envoy's CORS filter semantics: a request whose {@code Origin} one of
 * {@link #allowOrigins} matches (a matcher that matches {@code *} allows every origin) gets
 * {@code access-control-allow-origin} (the origin itself), {@code -allow-credentials} and
 * {@code -expose-headers} on its response; a preflight ({@code OPTIONS} with {@code Origin} and
 * {@code Access-Control-Request-Method}) is answered by the proxy with 200 and the allowed
 * methods, headers and max age, unless its origin is not allowed and
 * {@link #forwardNotMatchingPreflights} (Envoy's default) sends it upstream. Empty strings mean
 * "not set". Immutable.
 */
public record CorsPolicy(List<StringMatch> allowOrigins, String allowMethods, String allowHeaders,
    String exposeHeaders, String maxAge, boolean allowCredentials, Fraction enabled,
    boolean allowPrivateNetworkAccess, boolean forwardNotMatchingPreflights) {

  public static final String FILTER_NAME = "envoy.filters.http.cors";
  static final String TYPE_URL = "type.googleapis.com/"
      + io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.getDescriptor()
          .getFullName();

  public CorsPolicy {
    allowOrigins = List.copyOf(requireNonNull(allowOrigins, "allowOrigins"));
    requireNonNull(allowMethods, "allowMethods");
    requireNonNull(allowHeaders, "allowHeaders");
    requireNonNull(exposeHeaders, "exposeHeaders");
    requireNonNull(maxAge, "maxAge");
    requireNonNull(enabled, "enabled");
  }

  /** The route's CORS policy, if its {@code typed_per_filter_config} has one. */
  static Optional<CorsPolicy> of(Map<String, Any> typedPerFilterConfig, String field) {
    return TypedConfigs.perFilter(typedPerFilterConfig, FILTER_NAME,
        io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.class, TYPE_URL, field)
        .map(cors -> of(cors, TypedConfigs.perFilterAt(field, FILTER_NAME)));
  }

  private static CorsPolicy of(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy cors,
      String where) {
    if (cors.hasShadowEnabled()) {
      throw new IllegalArgumentException(where + ".shadow_enabled: not supported (expected:"
          + " unset; Istio never sets it)");
    }
    List<StringMatch> origins = new ArrayList<>();
    for (int i = 0; i < cors.getAllowOriginStringMatchCount(); i++) {
      origins.add(StringMatch.of(cors.getAllowOriginStringMatch(i),
          where + ".allow_origin_string_match[" + i + "]"));
    }
    if (!cors.getMaxAge().isEmpty() && !cors.getMaxAge().chars().allMatch(Character::isDigit)) {
      throw new IllegalArgumentException(where + ".max_age: '" + cors.getMaxAge()
          + "' (expected: a number of seconds)");
    }
    return new CorsPolicy(origins, cors.getAllowMethods(), cors.getAllowHeaders(),
        cors.getExposeHeaders(), cors.getMaxAge(),
        cors.hasAllowCredentials() && cors.getAllowCredentials().getValue(),
        cors.hasFilterEnabled() ? Fraction.of(cors.getFilterEnabled().getDefaultValue())
            : Fraction.ALL,
        cors.hasAllowPrivateNetworkAccess() && cors.getAllowPrivateNetworkAccess().getValue(),
        !cors.hasForwardNotMatchingPreflights()
            || cors.getForwardNotMatchingPreflights().getValue());
  }

  /** Whether {@code origin} may read responses: a matcher matches it, or matches {@code *}. */
  public boolean allows(String origin) {
    for (int i = 0; i < allowOrigins.size(); i++) {
      StringMatch m = allowOrigins.get(i);
      if (m.matches("*") || m.matches(origin)) {
        return true;
      }
    }
    return false;
  }

  /** A preflight: {@code OPTIONS} with an {@code Access-Control-Request-Method}. */
  public static boolean isPreflight(String method, HttpHeaders request) {
    String requested = request.get("access-control-request-method");
    return "OPTIONS".equals(method) && requested != null && !requested.isEmpty();
  }

  /**
   * The headers of the proxy's answer to a preflight from {@code origin} ({@code allowed}: by
   * {@link #allows}), as Envoy's filter writes them.
   */
  public void preflightHeaders(String origin, boolean allowed, HttpHeaders request,
      HttpHeaders response) {
    if (allowed) {
      response.set("access-control-allow-origin", origin);
    }
    if (allowCredentials) {
      response.set("access-control-allow-credentials", "true");
    }
    if (!allowMethods.isEmpty()) {
      response.set("access-control-allow-methods", allowMethods.equals("*")
          ? request.get("access-control-request-method", "") : allowMethods);
    }
    if (!allowHeaders.isEmpty()) {
      response.set("access-control-allow-headers", allowHeaders.equals("*")
          ? request.get("access-control-request-headers", "") : allowHeaders);
    }
    if (!maxAge.isEmpty()) {
      response.set("access-control-max-age", maxAge);
    }
    if (allowPrivateNetworkAccess
        && "true".equals(request.get("access-control-request-private-network"))) {
      response.set("access-control-allow-private-network", "true");
    }
  }

  /** The headers an allowed origin's actual (non-preflight) response carries. */
  public void responseHeaders(String origin, HttpHeaders response) {
    response.set("access-control-allow-origin", origin);
    if (allowCredentials) {
      response.set("access-control-allow-credentials", "true");
    }
    if (!exposeHeaders.isEmpty()) {
      response.set("access-control-expose-headers", exposeHeaders);
    }
  }
}
