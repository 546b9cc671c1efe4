package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The authorization of one inbound HTTP connection manager: its RBAC filters in order, the
 * path normalization it asks for, and its request authentication ({@code jwt_authn}, which runs
 * first and hands the verified claims to the RBAC filters' {@code metadata} matchers). A request passes the filters one by one, as in Envoy: a DENY
 * filter denies it when one of its policies matches; an ALLOW filter denies it when none does.
 * With Istio's translation that is its precedence: DENY policies first, then ALLOW policies
 * (none: allowed; an ALLOW policy without rules: nothing matches, so everything is denied).
 * Immutable and thread-safe.
 */
public record Authorization(List<RbacFilter> filters, PathNormalizer.Options paths,
    JwtAuthentication jwt) {

  public static final String RBAC_FILTER = "envoy.filters.http.rbac";
  public static final String RBAC_TYPE_URL =
      "type.googleapis.com/" + RBAC.getDescriptor().getFullName();
  public static final Authorization NONE = new Authorization(List.of(), PathNormalizer.Options.NONE);
  /** An ALLOW filter with no policy: what a proxy falls back to when it cannot trust its config. */
  public static final Authorization DENY_ALL =
      new Authorization(List.of(RbacFilter.denyAll()), PathNormalizer.Options.ISTIO);

  /** The verdict on one request. */
  public record Decision(boolean allowed, String policy, RbacFilter.Action action) {

    static final Decision ALLOWED = new Decision(true, "", null);

    /**
     * The label of the denial counter: the matching DENY policy's name, or {@code none} when no
     * ALLOW policy matched.
     */
    public String reason() {
      return policy.isEmpty() ? "none" : policy;
    }
  }

  public Authorization {
    filters = List.copyOf(requireNonNull(filters, "filters"));
    requireNonNull(paths, "paths");
    requireNonNull(jwt, "jwt");
  }

  /** Without request authentication. */
  public Authorization(List<RbacFilter> filters, PathNormalizer.Options paths) {
    this(filters, paths, JwtAuthentication.NONE);
  }

  /** Compiles the RBAC and jwt_authn filters of {@code hcm}, on the system clock. */
  public static Authorization of(HttpConnectionManager hcm, String field) {
    return of(hcm, field, Clock.systemUTC());
  }

  /**
   * Compiles the RBAC and jwt_authn filters of {@code hcm}; throws
   * {@link IllegalArgumentException} naming the field. A jwt_authn filter must come before the
   * RBAC filters (it feeds them), and there can be one.
   */
  public static Authorization of(HttpConnectionManager hcm, String field, Clock clock) {
    requireNonNull(hcm, "hcm");
    List<RbacFilter> filters = new ArrayList<>();
    JwtAuthentication jwt = JwtAuthentication.NONE;
    for (int i = 0; i < hcm.getHttpFiltersCount(); i++) {
      HttpFilter f = hcm.getHttpFilters(i);
      if (f.getTypedConfig().getTypeUrl().equals(JwtAuthentication.TYPE_URL)) {
        String at = field + ".http_filters[" + i + "]";
        if (jwt != JwtAuthentication.NONE || !filters.isEmpty()) {
          throw new IllegalArgumentException(at + ": a jwt_authn filter "
              + (filters.isEmpty() ? "after another one" : "after an RBAC filter")
              + " (expected: one, before the RBAC filters)");
        }
        try {
          jwt = JwtAuthentication.compile(f.getTypedConfig().unpack(
              io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.class),
              at, clock);
        } catch (InvalidProtocolBufferException e) {
          throw new IllegalArgumentException(at + ": not a jwt_authn config: " + e.getMessage(), e);
        }
        continue;
      }
      boolean rbac = f.getTypedConfig().getTypeUrl().equals(RBAC_TYPE_URL)
          || (!f.hasTypedConfig() && f.getName().equals(RBAC_FILTER));
      if (!rbac) {
        continue;
      }
      String at = field + ".http_filters[" + i + "]";
      try {
        filters.add(RbacFilter.compile(f.getTypedConfig().unpack(RBAC.class), at));
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalArgumentException(at + ": not an RBAC config: " + e.getMessage(), e);
      }
    }
    PathNormalizer.Options paths = new PathNormalizer.Options(
        hcm.hasNormalizePath() && hcm.getNormalizePath().getValue(), hcm.getMergeSlashes(),
        hcm.getPathWithEscapedSlashesAction()
            == HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST);
    return new Authorization(filters, paths, jwt);
  }

  public boolean enforcing() {
    return filters.stream().anyMatch(RbacFilter::enforcing);
  }

  public Decision decide(AuthzRequest request) {
    for (RbacFilter filter : filters) {
      if (!filter.enforcing()) {
        continue;
      }
      Optional<String> matched = filter.matchingPolicy(request);
      switch (filter.action()) {
        case DENY -> {
          if (matched.isPresent()) {
            return new Decision(false, matched.get(), RbacFilter.Action.DENY);
          }
        }
        case ALLOW -> {
          if (matched.isEmpty()) {
            return new Decision(false, "", RbacFilter.Action.ALLOW);
          }
        }
        case LOG -> { }
      }
    }
    return Decision.ALLOWED;
  }
}
