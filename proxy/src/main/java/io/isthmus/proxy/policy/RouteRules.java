package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.isthmus.proxy.policy.RouteTarget.DirectResponse;
import io.isthmus.proxy.policy.RouteTarget.Forward;
import io.isthmus.proxy.policy.RouteTarget.HashRule;
import io.isthmus.proxy.policy.RouteTarget.Mirror;
import io.isthmus.proxy.policy.RouteTarget.Redirect;
import io.isthmus.proxy.policy.RouteTarget.RetryRules;
import io.isthmus.proxy.policy.RouteTarget.WeightedTarget;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * One RDS {@code RouteConfiguration}, compiled: every matcher, regex, action and header
 * operation parsed once, so a bad field is rejected when the resource arrives (the xDS
 * client NACKs it) and requests only evaluate. Immutable and thread-safe.
 */
public record RouteRules(String name, List<VirtualHostRules> virtualHosts,
    HeaderMutation requestHeaders, HeaderMutation responseHeaders) {

  /**
   * Retry conditions Istio accepts; the gRPC ones never fire on HTTP/1.1, and
   * {@code retriable-headers} (no {@code retriable_headers} come from Istio) and
   * {@code http3-post-connect-failure} never fire here, but all are accepted.
   */
  static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "connect-failure",
      "retriable-status-codes", "reset", "retriable-4xx", "refused-stream", "unavailable",
      "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "envoy-ratelimited",
      "reset-before-request", "retriable-headers", "http3-post-connect-failure");

  public RouteRules {
    requireNonNull(name, "name");
    virtualHosts = List.copyOf(requireNonNull(virtualHosts, "virtualHosts"));
    requireNonNull(requestHeaders, "requestHeaders");
    requireNonNull(responseHeaders, "responseHeaders");
  }

  public record VirtualHostRules(String name, List<String> domains, List<RouteRule> routes,
      HeaderMutation requestHeaders, HeaderMutation responseHeaders) {
    public VirtualHostRules {
      requireNonNull(name, "name");
      domains = List.copyOf(requireNonNull(domains, "domains"));
      routes = List.copyOf(requireNonNull(routes, "routes"));
      requireNonNull(requestHeaders, "requestHeaders");
      requireNonNull(responseHeaders, "responseHeaders");
    }

    /** The first route that matches, in order. */
    public Optional<RouteRule> match(RequestView request) {
      // Indexed: no iterator per request on the routing path.
      for (int i = 0; i < routes.size(); i++) {
        RouteRule route = routes.get(i);
        if (route.matches(request)) {
          return Optional.of(route);
        }
      }
      return Optional.empty();
    }
  }

  /** How a route matches the path. */
  public enum PathKind { PREFIX, EXACT, REGEX }

  /**
   * One route: path match ({@code pathValue} lower-cased when not case sensitive), header and
   * query matches (all must hold), what to do, header operations, an optional fault and an
   * optional CORS policy.
   */
  public record RouteRule(String name, PathKind pathKind, String pathValue, SafeRegex pathRegex,
      boolean caseSensitive, List<HeaderMatch> headers, List<HeaderMatch> queryParameters,
      RouteTarget target, HeaderMutation requestHeaders, HeaderMutation responseHeaders,
      Optional<FaultPolicy> fault, Optional<CorsPolicy> cors) {

    /** Without a CORS policy. */
    public RouteRule(String name, PathKind pathKind, String pathValue, SafeRegex pathRegex,
        boolean caseSensitive, List<HeaderMatch> headers, List<HeaderMatch> queryParameters,
        RouteTarget target, HeaderMutation requestHeaders, HeaderMutation responseHeaders,
        Optional<FaultPolicy> fault) {
      this(name, pathKind, pathValue, pathRegex, caseSensitive, headers, queryParameters, target,
          requestHeaders, responseHeaders, fault, Optional.empty());
    }

    public RouteRule {
      requireNonNull(cors, "cors");
      requireNonNull(name, "name");
      requireNonNull(pathKind, "pathKind");
      requireNonNull(pathValue, "pathValue");
      headers = List.copyOf(requireNonNull(headers, "headers"));
      queryParameters = List.copyOf(requireNonNull(queryParameters, "queryParameters"));
      requireNonNull(target, "target");
      requireNonNull(requestHeaders, "requestHeaders");
      requireNonNull(responseHeaders, "responseHeaders");
      requireNonNull(fault, "fault");
    }

    public boolean matches(RequestView request) {
      String path = caseSensitive ? request.path() : request.path().toLowerCase(Locale.ROOT);
      boolean pathMatches = switch (pathKind) {
        case PREFIX -> path.startsWith(pathValue);
        case EXACT -> path.equals(pathValue);
        case REGEX -> pathRegex.matches(request.path());
      };
      if (!pathMatches) {
        return false;
      }
      for (int i = 0; i < headers.size(); i++) {
        HeaderMatch header = headers.get(i);
        if (!header.matches(request.header(header.name()))) {
          return false;
        }
      }
      for (int i = 0; i < queryParameters.size(); i++) {
        HeaderMatch query = queryParameters.get(i);
        if (!query.matchesQuery(request.queryParameters().get(query.name()))) {
          return false;
        }
      }
      return true;
    }

    /** The part of the path a prefix or exact match consumed, for prefix rewrites. */
    public String matchedPrefix(String path) {
      return switch (pathKind) {
        case PREFIX, EXACT -> path.substring(0, Math.min(pathValue.length(), path.length()));
        case REGEX -> null;
      };
    }
  }

  /** Compiles a route configuration, or throws naming the first bad field. */
  public static RouteRules compile(RouteConfiguration config) {
    requireNonNull(config, "config");
    String where = "route configuration " + config.getName();
    List<VirtualHostRules> hosts = new ArrayList<>();
    for (VirtualHost vhost : config.getVirtualHostsList()) {
      String vWhere = where + ": virtual_hosts[" + vhost.getName() + "]";
      if (vhost.getDomainsCount() == 0) {
        throw new IllegalArgumentException(vWhere + " has no domains");
      }
      if (vhost.containsTypedPerFilterConfig(CorsPolicy.FILTER_NAME)) {
        throw new IllegalArgumentException(vWhere + ".typed_per_filter_config["
            + CorsPolicy.FILTER_NAME + "]: not supported on a virtual host (expected: on its"
            + " routes, as Istio emits a corsPolicy)");
      }
      List<RouteRule> routes = new ArrayList<>();
      Optional<RetryRules> vhostRetry = vhost.hasRetryPolicy()
          ? Optional.of(retry(vhost.getRetryPolicy(), vWhere + ".retry_policy"))
          : Optional.empty();
      for (int i = 0; i < vhost.getRoutesCount(); i++) {
        routes.add(compileRoute(vhost.getRoutes(i), vWhere + ".routes[" + i + "]",
            vhostRetry));
      }
      hosts.add(new VirtualHostRules(vhost.getName(), vhost.getDomainsList(), routes,
          HeaderMutation.of(vhost.getRequestHeadersToAddList(),
              vhost.getRequestHeadersToRemoveList(), vWhere + ".request_headers"),
          HeaderMutation.of(vhost.getResponseHeadersToAddList(),
              vhost.getResponseHeadersToRemoveList(), vWhere + ".response_headers")));
    }
    return new RouteRules(config.getName(), hosts,
        HeaderMutation.of(config.getRequestHeadersToAddList(),
            config.getRequestHeadersToRemoveList(), where + ": request_headers"),
        HeaderMutation.of(config.getResponseHeadersToAddList(),
            config.getResponseHeadersToRemoveList(), where + ": response_headers"));
  }

  static RouteRule compileRoute(Route route, String where) {
    return compileRoute(route, where, Optional.empty());
  }

  /** {@code vhostRetry}: the virtual host's retry policy, used when the route has none. */
  static RouteRule compileRoute(Route route, String where, Optional<RetryRules> vhostRetry) {
    RouteMatch match = route.getMatch();
    boolean caseSensitive = !match.hasCaseSensitive() || match.getCaseSensitive().getValue();
    PathKind kind;
    String value = "";
    SafeRegex regex = null;
    switch (match.getPathSpecifierCase()) {
      case PREFIX -> {
        kind = PathKind.PREFIX;
        value = match.getPrefix();
      }
      case PATH -> {
        kind = PathKind.EXACT;
        value = match.getPath();
      }
      case SAFE_REGEX -> {
        kind = PathKind.REGEX;
        regex = SafeRegex.compile(match.getSafeRegex().getRegex(), where + ".match.safe_regex");
      }
      case PATHSPECIFIER_NOT_SET -> kind = PathKind.PREFIX;
      default -> throw new IllegalArgumentException(where + ".match: path specifier "
          + match.getPathSpecifierCase() + " (expected: prefix, path or safe_regex)");
    }
    if (!caseSensitive) {
      value = value.toLowerCase(Locale.ROOT);
    }
    if (match.hasRuntimeFraction() || match.hasGrpc() || match.hasTlsContext()
        || match.getDynamicMetadataCount() > 0) {
      throw new IllegalArgumentException(where + ".match: runtime_fraction, grpc, tls_context"
          + " and dynamic_metadata are not supported");
    }
    List<HeaderMatch> headers = new ArrayList<>();
    for (int i = 0; i < match.getHeadersCount(); i++) {
      headers.add(HeaderMatch.of(match.getHeaders(i), where + ".match.headers[" + i + "]"));
    }
    List<HeaderMatch> query = new ArrayList<>();
    for (int i = 0; i < match.getQueryParametersCount(); i++) {
      query.add(HeaderMatch.of(match.getQueryParameters(i),
          where + ".match.query_parameters[" + i + "]"));
    }
    RouteTarget target = switch (route.getActionCase()) {
      case ROUTE -> forward(route.getRoute(), kind, where + ".route", vhostRetry);
      case REDIRECT -> redirect(route.getRedirect(), kind, where + ".redirect");
      case DIRECT_RESPONSE -> direct(route.getDirectResponse(), where + ".direct_response");
      default -> throw new IllegalArgumentException(where + ": action " + route.getActionCase()
          + " (expected: route, redirect or direct_response)");
    };
    return new RouteRule(route.getName(), kind, value, regex, caseSensitive, headers, query,
        target,
        HeaderMutation.of(route.getRequestHeadersToAddList(),
            route.getRequestHeadersToRemoveList(), where + ".request_headers"),
        HeaderMutation.of(route.getResponseHeadersToAddList(),
            route.getResponseHeadersToRemoveList(), where + ".response_headers"),
        FaultPolicy.of(route.getTypedPerFilterConfigMap(), where),
        CorsPolicy.of(route.getTypedPerFilterConfigMap(), where));
  }

  private static Forward forward(RouteAction action, PathKind kind, String where,
      Optional<RetryRules> vhostRetry) {
    List<WeightedTarget> targets = new ArrayList<>();
    long total = 0;
    switch (action.getClusterSpecifierCase()) {
      case CLUSTER -> {
        if (action.getCluster().isEmpty()) {
          throw new IllegalArgumentException(where + ".cluster: empty (expected: a cluster name)");
        }
        targets.add(new WeightedTarget(action.getCluster(), 1, HeaderMutation.NONE,
            HeaderMutation.NONE, null));
        total = 1;
      }
      case WEIGHTED_CLUSTERS -> {
        var weighted = action.getWeightedClusters();
        for (int i = 0; i < weighted.getClustersCount(); i++) {
          var c = weighted.getClusters(i);
          String cWhere = where + ".weighted_clusters.clusters[" + i + "]";
          if (c.getName().isEmpty()) {
            throw new IllegalArgumentException(cWhere + ".name: empty (expected: a cluster name)");
          }
          long weight = c.hasWeight() ? c.getWeight().getValue() & 0xffffffffL : 0;
          if (weight == 0) {
            continue;
          }
          total += weight;
          targets.add(new WeightedTarget(c.getName(), weight,
              HeaderMutation.of(c.getRequestHeadersToAddList(),
                  c.getRequestHeadersToRemoveList(), cWhere + ".request_headers"),
              HeaderMutation.of(c.getResponseHeadersToAddList(),
                  c.getResponseHeadersToRemoveList(), cWhere + ".response_headers"),
              c.hasHostRewriteLiteral() ? c.getHostRewriteLiteral() : null));
        }
        if (targets.isEmpty()) {
          throw new IllegalArgumentException(where + ".weighted_clusters: no cluster with a"
              + " weight above 0 (expected: at least one)");
        }
      }
      default -> throw new IllegalArgumentException(where + ": cluster specifier "
          + action.getClusterSpecifierCase() + " (expected: cluster or weighted_clusters)");
    }
    String prefixRewrite = action.getPrefixRewrite().isEmpty() ? null : action.getPrefixRewrite();
    if (prefixRewrite != null && kind == PathKind.REGEX) {
      throw new IllegalArgumentException(where + ".prefix_rewrite: set on a safe_regex match"
          + " (expected: a prefix or path match)");
    }
    SafeRegex regexRewrite = null;
    String substitution = null;
    if (action.hasRegexRewrite()) {
      if (prefixRewrite != null) {
        throw new IllegalArgumentException(where + ": both prefix_rewrite and regex_rewrite"
            + " (expected: at most one)");
      }
      regexRewrite = SafeRegex.compile(action.getRegexRewrite().getPattern().getRegex(),
          where + ".regex_rewrite.pattern");
      substitution = action.getRegexRewrite().getSubstitution();
    }
    String hostRewrite = null;
    switch (action.getHostRewriteSpecifierCase()) {
      case HOST_REWRITE_LITERAL -> hostRewrite = action.getHostRewriteLiteral();
      case HOSTREWRITESPECIFIER_NOT_SET -> { }
      // Istio emits auto_host_rewrite for some ServiceEntries; the cluster's own host fits.
      case AUTO_HOST_REWRITE -> { }
      default -> throw new IllegalArgumentException(where + ": host rewrite "
          + action.getHostRewriteSpecifierCase() + " (expected: host_rewrite_literal)");
    }
    Duration timeout = action.hasTimeout()
        ? Durations.of(action.getTimeout(), where + ".timeout") : RouteTarget.DEFAULT_TIMEOUT;
    Optional<RetryRules> retry = action.hasRetryPolicy()
        ? Optional.of(retry(action.getRetryPolicy(), where + ".retry_policy")) : vhostRetry;
    List<Mirror> mirrors = new ArrayList<>();
    for (int i = 0; i < action.getRequestMirrorPoliciesCount(); i++) {
      var m = action.getRequestMirrorPolicies(i);
      if (m.getCluster().isEmpty()) {
        throw new IllegalArgumentException(where + ".request_mirror_policies[" + i
            + "].cluster: empty (expected: a cluster name)");
      }
      mirrors.add(new Mirror(m.getCluster(), m.hasRuntimeFraction()
          ? Fraction.of(m.getRuntimeFraction().getDefaultValue()) : Fraction.ALL,
          !m.getDisableShadowHostSuffixAppend()));
    }
    List<HashRule> hashes = new ArrayList<>();
    for (int i = 0; i < action.getHashPolicyCount(); i++) {
      var h = action.getHashPolicy(i);
      String hWhere = where + ".hash_policy[" + i + "]";
      hashes.add(switch (h.getPolicySpecifierCase()) {
        case HEADER -> new HashRule(HashRule.Kind.HEADER,
            h.getHeader().getHeaderName().toLowerCase(Locale.ROOT), h.getTerminal());
        case COOKIE -> new HashRule(HashRule.Kind.COOKIE, h.getCookie().getName(),
            h.getTerminal());
        case CONNECTION_PROPERTIES -> new HashRule(HashRule.Kind.SOURCE_IP, "",
            h.getTerminal());
        case QUERY_PARAMETER -> new HashRule(HashRule.Kind.QUERY_PARAMETER,
            h.getQueryParameter().getName(), h.getTerminal());
        default -> throw new IllegalArgumentException(hWhere + ": " + h.getPolicySpecifierCase()
            + " (expected: header, cookie, connection_properties or query_parameter)");
      });
    }
    StreamDuration streamDuration = action.hasMaxStreamDuration()
        ? StreamDuration.of(action.getMaxStreamDuration(), where + ".max_stream_duration")
        : StreamDuration.NONE;
    return new Forward(targets, total, prefixRewrite, regexRewrite, substitution, hostRewrite,
        timeout, retry, mirrors, hashes, streamDuration);
  }

  static RetryRules retry(io.envoyproxy.envoy.config.route.v3.RetryPolicy policy, String where) {
    Set<String> on = new HashSet<>();
    for (String token : policy.getRetryOn().split(",")) {
      String t = token.trim();
      if (t.isEmpty()) {
        continue;
      }
      if (!RETRY_ON.contains(t)) {
        throw new IllegalArgumentException(where + ".retry_on: '" + t + "' (expected: one of "
            + new java.util.TreeSet<>(RETRY_ON) + ")");
      }
      on.add(t);
    }
    int num = policy.hasNumRetries() ? policy.getNumRetries().getValue() : 1;
    if (num < 0 || num > 100) {
      throw new IllegalArgumentException(where + ".num_retries: " + num + " (expected: 0..100)");
    }
    Set<Integer> codes = new HashSet<>();
    for (int code : policy.getRetriableStatusCodesList()) {
      if (code < 100 || code > 599) {
        throw new IllegalArgumentException(where + ".retriable_status_codes: " + code
            + " (expected: 100..599)");
      }
      codes.add(code);
    }
    Duration perTry = policy.hasPerTryTimeout()
        ? Durations.of(policy.getPerTryTimeout(), where + ".per_try_timeout") : Duration.ZERO;
    Duration base = Duration.ofMillis(25);
    Duration max = null;
    if (policy.hasRetryBackOff()) {
      var backoff = policy.getRetryBackOff();
      base = Durations.of(backoff.getBaseInterval(), where + ".retry_back_off.base_interval");
      if (base.isZero()) {
        throw new IllegalArgumentException(where + ".retry_back_off.base_interval: 0"
            + " (expected: > 0)");
      }
      if (backoff.hasMaxInterval()) {
        max = Durations.of(backoff.getMaxInterval(), where + ".retry_back_off.max_interval");
        if (max.compareTo(base) < 0) {
          throw new IllegalArgumentException(where + ".retry_back_off.max_interval: " + max
              + " (expected: >= base_interval " + base + ")");
        }
      }
    }
    boolean previousHosts = false;
    for (int i = 0; i < policy.getRetryHostPredicateCount(); i++) {
      String name = policy.getRetryHostPredicate(i).getName();
      if (!name.equals(PREVIOUS_HOSTS)) {
        throw new IllegalArgumentException(where + ".retry_host_predicate[" + i + "].name: '"
            + name + "' (expected: " + PREVIOUS_HOSTS + ")");
      }
      previousHosts = true;
    }
    int updateFrequency = 0;
    if (policy.hasRetryPriority()) {
      updateFrequency = previousPriorities(policy.getRetryPriority(), where + ".retry_priority");
    }
    return new RetryRules(on, num, perTry, codes, base, max != null ? max : base.multipliedBy(10),
        previousHosts, updateFrequency);
  }

  static final String PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";
  static final String PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";

  /** The {@code update_frequency} of a {@code previous_priorities} retry priority. */
  private static int previousPriorities(
      io.envoyproxy.envoy.config.route.v3.RetryPolicy.RetryPriority priority, String where) {
    if (!priority.getName().equals(PREVIOUS_PRIORITIES)) {
      throw new IllegalArgumentException(where + ".name: '" + priority.getName()
          + "' (expected: " + PREVIOUS_PRIORITIES + ")");
    }
    PreviousPrioritiesConfig config;
    try {
      config = priority.getTypedConfig().unpack(PreviousPrioritiesConfig.class);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(where + ".typed_config: " + priority.getTypedConfig()
          .getTypeUrl() + " (expected: a PreviousPrioritiesConfig): " + e.getMessage(), e);
    }
    if (config.getUpdateFrequency() <= 0) {
      throw new IllegalArgumentException(where + ".typed_config.update_frequency: "
          + config.getUpdateFrequency() + " (expected: > 0)");
    }
    return config.getUpdateFrequency();
  }

  private static Redirect redirect(io.envoyproxy.envoy.config.route.v3.RedirectAction r,
      PathKind kind, String where) {
    String scheme = r.getHttpsRedirect() ? "https"
        : r.hasSchemeRedirect() ? r.getSchemeRedirect().toLowerCase(Locale.ROOT) : null;
    int status = switch (r.getResponseCode()) {
      case MOVED_PERMANENTLY -> 301;
      case FOUND -> 302;
      case SEE_OTHER -> 303;
      case TEMPORARY_REDIRECT -> 307;
      case PERMANENT_REDIRECT -> 308;
      case UNRECOGNIZED -> throw new IllegalArgumentException(where + ".response_code: "
          + r.getResponseCodeValue() + " (expected: a RedirectResponseCode)");
    };
    if (r.getPortRedirect() > 65535) {
      throw new IllegalArgumentException(where + ".port_redirect: " + r.getPortRedirect()
          + " (expected: 0..65535)");
    }
    if (r.hasPrefixRewrite() && kind == PathKind.REGEX) {
      throw new IllegalArgumentException(where + ".prefix_rewrite: set on a safe_regex match"
          + " (expected: a prefix or path match)");
    }
    SafeRegex regex = r.hasRegexRewrite() ? SafeRegex.compile(
        r.getRegexRewrite().getPattern().getRegex(), where + ".regex_rewrite.pattern") : null;
    return new Redirect(scheme, r.getHostRedirect().isEmpty() ? null : r.getHostRedirect(),
        r.getPortRedirect(), r.hasPathRedirect() ? r.getPathRedirect() : null,
        r.hasPrefixRewrite() ? r.getPrefixRewrite() : null, regex,
        regex == null ? null : r.getRegexRewrite().getSubstitution(), r.getStripQuery(), status);
  }

  private static DirectResponse direct(io.envoyproxy.envoy.config.route.v3.DirectResponseAction d,
      String where) {
    int status = d.getStatus();
    if (status < 200 || status > 599) {
      throw new IllegalArgumentException(where + ".status: " + status + " (expected: 200..599)");
    }
    String body = "";
    if (d.hasBody()) {
      body = switch (d.getBody().getSpecifierCase()) {
        case INLINE_STRING -> d.getBody().getInlineString();
        case INLINE_BYTES -> d.getBody().getInlineBytes().toString(StandardCharsets.UTF_8);
        case SPECIFIER_NOT_SET -> "";
        default -> throw new IllegalArgumentException(where + ".body: "
            + d.getBody().getSpecifierCase() + " (expected: inline_string or inline_bytes)");
      };
    }
    return new DirectResponse(status, body);
  }
}
