package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.XRateLimitHeadersRFCVersion;
import io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;

/**
 * The local rate limits of one HTTP connection manager, compiled from its
 * {@code envoy.filters.http.local_ratelimit} filters (type {@code LocalRateLimit}) and the
 * per-route configs of its inline route configuration: each filter in order, each with the
 * config of the route a request takes (else the filter's own). A config's buckets are its
 * default {@code token_bucket} and one per descriptor; a request takes a token from every
 * descriptor its {@code rate_limits} actions produce, and from the default bucket when
 * {@code always_consume_default_token_bucket} (default true) or when no descriptor matched.
 * A descriptor whose last entry has no value (a wildcard) and whose {@code rate_limits} entry ends
 * with a {@code request_headers} action for that key is dynamic: one bucket per distinct value of
 * the header, at most {@code max_dynamic_descriptors} per config, the least recently used forgotten
 * (Envoy's dynamic descriptors); a request without the header does not produce it.
 * What this proxy cannot honour is refused with the field's path, so the xDS client NACKs it.
 * Immutable; its buckets are thread-safe.
 */
public final class RateLimits {

  public static final String FILTER_PREFIX = "envoy.filters.http.local_ratelimit";
  public static final String TYPE_URL =
      "type.googleapis.com/" + LocalRateLimit.getDescriptor().getFullName();
  public static final RateLimits NONE = new RateLimits(List.of(), null);
  /** Envoy's shortest refill. */
  static final Duration MIN_FILL_INTERVAL = Duration.ofMillis(50);

  /** Where compiled configs get their buckets, so an unchanged bucket keeps its tokens. */
  @FunctionalInterface
  public interface Buckets {
    /** The bucket {@code key} with this definition: the same one as before if it did not change. */
    TokenBucket bucket(String key, long maxTokens, long tokensPerFill, long fillIntervalNanos);

    /** Fresh buckets on {@code nanoClock} every time (validation, tests). */
    static Buckets fresh(LongSupplier nanoClock) {
      return (key, max, perFill, interval) -> new TokenBucket(max, perFill, interval, nanoClock);
    }
  }

  /**
   * A request over a limit.
   *
   * @param rule        the descriptor that refused it ({@code key=value,...}) or {@code default}
   * @param enforced    false: dry run (count, forward)
   * @param headers     whether to add {@code x-ratelimit-*} headers to the 429
   * @param limit       the refusing bucket's size ({@code x-ratelimit-limit})
   * @param resetNanos  time until that bucket's next fill
   */
  public record Limited(String filter, String statPrefix, String rule, boolean enforced,
      int status, boolean headers, long limit, long resetNanos) {}

  /** One HTTP filter: its own config (may be null) and, per route, the one that overrides it. */
  record Filter(String name, Config own, Config[][] perRoute) {
    Config forRoute(int vhost, int route) {
      if (vhost >= 0 && route >= 0) {
        Config c = perRoute[vhost][route];
        if (c != null) {
          return c;
        }
      }
      return own;
    }
  }

  /**
   * The per-value buckets of one config's dynamic descriptors: a bounded map from (descriptor,
   * value) to bucket, least recently used first out. One short lock per lookup (the buckets
   * themselves stay lock-free).
   */
  static final class DynamicBuckets {
    /** The descriptor (its template bucket, compared by identity) and the header's value. */
    private record Key(TokenBucket template, String value) {}

    private final java.util.LinkedHashMap<Key, TokenBucket> byValue;

    DynamicBuckets(int capacity) {
      this.byValue = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, TokenBucket> eldest) {
          return size() > capacity;
        }
      };
    }

    TokenBucket get(String value, TokenBucket template) {
      Key key = new Key(template, value);
      synchronized (byValue) {
        TokenBucket b = byValue.get(key);
        if (b == null) {
          b = template.fresh();
          byValue.put(key, b);
        }
        return b;
      }
    }
  }

  /** One LocalRateLimit, compiled. */
  record Config(String statPrefix, int status, Fraction enabled, Fraction enforced,
      boolean headers, TokenBucket defaultBucket, boolean alwaysConsumeDefault, Limit[] limits) {}

  /**
   * One {@code rate_limits} entry and the bucket of the descriptor it produces; with
   * {@code perHeader}, {@code bucket} is the template of one bucket per value of that header.
   */
  record Limit(String rule, HeaderMatch[] headers, boolean[] expectMatch, TokenBucket bucket,
      String perHeader, DynamicBuckets dynamic) {

    /** The bucket this request takes a token from, or null when it does not produce one. */
    TokenBucket bucketFor(HttpRequest request) {
      if (perHeader == null) {
        return bucket;
      }
      String value = header(request, perHeader);
      return value == null ? null : dynamic.get(value, bucket);
    }

    boolean applies(HttpRequest request) {
      for (int i = 0; i < headers.length; i++) {
        HeaderMatch h = headers[i];
        if (h.matches(header(request, h.name())) != expectMatch[i]) {
          return false;
        }
      }
      return true;
    }
  }

  private final List<Filter> filters;
  /** Null when the route configuration has at most one route: nothing to choose. */
  private final RouteRules routes;

  private RateLimits(List<Filter> filters, RouteRules routes) {
    this.filters = List.copyOf(filters);
    this.routes = routes;
  }

  public boolean isEmpty() {
    return filters.isEmpty();
  }

  /**
   * Compiles the local rate limits of {@code hcm}; throws {@link IllegalArgumentException} naming
   * the field of what cannot be honoured.
   *
   * @param scope identifies the connection manager among the proxy's (e.g. the inbound port), so
   *              bucket keys are unique
   */
  public static RateLimits compile(HttpConnectionManager hcm, String scope, Buckets buckets) {
    requireNonNull(hcm, "hcm");
    requireNonNull(scope, "scope");
    requireNonNull(buckets, "buckets");
    List<Filter> filters = new ArrayList<>();
    RouteConfiguration rc = hcm.getRouteConfig();
    for (int i = 0; i < hcm.getHttpFiltersCount(); i++) {
      HttpFilter f = hcm.getHttpFilters(i);
      if (!f.getTypedConfig().getTypeUrl().equals(TYPE_URL)) {
        continue;
      }
      String at = scope + ": http_filters[" + i + "] (" + f.getName() + ")";
      if (hcm.hasRds()) {
        throw new IllegalArgumentException(at + ": local rate limits on a connection manager with RDS"
            + " are not enforced (expected: only on inbound connection managers with route_config)");
      }
      String key = scope + "|" + f.getName();
      Config own = config(unpack(f.getTypedConfig(), at), at, key, buckets, false);
      Config[][] perRoute = new Config[rc.getVirtualHostsCount()][];
      for (int v = 0; v < rc.getVirtualHostsCount(); v++) {
        VirtualHost vh = rc.getVirtualHosts(v);
        String vAt = scope + ": route_config.virtual_hosts[" + v + "]";
        Any vhAny = vh.getTypedPerFilterConfigMap().get(f.getName());
        String vhAt = TypedConfigs.perFilterAt(vAt, f.getName());
        Config vhConfig = vhAny == null ? null
            : config(unpack(vhAny, vhAt), vhAt, key + "|" + vh.getName(), buckets, true);
        perRoute[v] = new Config[vh.getRoutesCount()];
        for (int r = 0; r < vh.getRoutesCount(); r++) {
          Any any = vh.getRoutes(r).getTypedPerFilterConfigMap().get(f.getName());
          String rAt = TypedConfigs.perFilterAt(vAt + ".routes[" + r + "]", f.getName());
          perRoute[v][r] = any == null ? vhConfig
              : config(unpack(any, rAt), rAt, key + "|" + vh.getName() + "|" + r, buckets, true);
        }
      }
      filters.add(new Filter(f.getName(), own, perRoute));
    }
    if (filters.isEmpty()) {
      return NONE;
    }
    int routeCount = 0;
    for (VirtualHost vh : rc.getVirtualHostsList()) {
      routeCount += vh.getRoutesCount();
    }
    return new RateLimits(filters, routeCount > 1 ? RouteRules.compile(rc) : null);
  }

  private static LocalRateLimit unpack(Any any, String at) {
    return TypedConfigs.unpack(any, LocalRateLimit.class, TYPE_URL, at);
  }

  private static Config config(LocalRateLimit c, String at, String key, Buckets buckets,
      boolean perRoute) {
    if (c.getLocalRateLimitPerDownstreamConnection()) {
      throw new IllegalArgumentException(at + ".local_rate_limit_per_downstream_connection: true"
          + " (not supported: buckets are per proxy)");
    }
    if (c.hasLocalClusterRateLimit()) {
      throw new IllegalArgumentException(at + ".local_cluster_rate_limit: not supported");
    }
    if (c.getRequestHeadersToAddWhenNotEnforcedCount() > 0 || c.getResponseHeadersToAddCount() > 0) {
      throw new IllegalArgumentException(at + ": request_headers_to_add_when_not_enforced and"
          + " response_headers_to_add are not supported");
    }
    if (c.getStage() != 0) {
      throw new IllegalArgumentException(at + ".stage: " + c.getStage() + " (not supported)");
    }
    if (c.hasMaxDynamicDescriptors() && c.getMaxDynamicDescriptors().getValue() == 0) {
      throw new IllegalArgumentException(at + ".max_dynamic_descriptors: 0 (expected: > 0)");
    }
    // Envoy's default when wildcard descriptors are used without a bound.
    DynamicBuckets dynamic = new DynamicBuckets(c.hasMaxDynamicDescriptors()
        ? c.getMaxDynamicDescriptors().getValue() : 20);
    if (perRoute && !c.hasTokenBucket()) {
      throw new IllegalArgumentException(at + ".token_bucket: missing (expected: a token bucket on"
          + " every per-route config, as Envoy requires)");
    }
    TokenBucket defaultBucket = c.hasTokenBucket()
        ? bucket(c.getTokenBucket(), at + ".token_bucket", key + "|default", buckets, true) : null;
    Map<String, TokenBucket> byDescriptor = new HashMap<>();
    List<String> descriptorNames = new ArrayList<>();
    for (int d = 0; d < c.getDescriptorsCount(); d++) {
      LocalRateLimitDescriptor desc = c.getDescriptors(d);
      String dAt = at + ".descriptors[" + d + "]";
      String name = entries(desc.getEntriesList(), dAt);
      if (byDescriptor.containsKey(name)) {
        throw new IllegalArgumentException(dAt + ": " + name + " is listed twice (expected: unique"
            + " descriptors)");
      }
      if (!desc.hasTokenBucket()) {
        throw new IllegalArgumentException(dAt + ".token_bucket: missing");
      }
      byDescriptor.put(name, bucket(desc.getTokenBucket(), dAt + ".token_bucket", key + "|" + name,
          buckets, false));
      descriptorNames.add(name);
    }
    List<Limit> limits = new ArrayList<>();
    List<String> produced = new ArrayList<>();
    for (int r = 0; r < c.getRateLimitsCount(); r++) {
      RateLimit rl = c.getRateLimits(r);
      String rAt = at + ".rate_limits[" + r + "]";
      if (rl.hasStage() || rl.hasLimit() || !rl.getDisableKey().isEmpty() || rl.hasHitsAddend()) {
        throw new IllegalArgumentException(rAt + ": stage, disable_key, limit and hits_addend are not"
            + " supported");
      }
      if (rl.getActionsCount() == 0) {
        throw new IllegalArgumentException(rAt + ".actions: empty (expected: at least one action)");
      }
      StringBuilder name = new StringBuilder();
      List<HeaderMatch> headers = new ArrayList<>();
      List<Boolean> expect = new ArrayList<>();
      String perHeader = null;
      for (int a = 0; a < rl.getActionsCount(); a++) {
        RateLimit.Action action = rl.getActions(a);
        String aAt = rAt + ".actions[" + a + "]";
        String entry;
        if (perHeader != null) {
          throw new IllegalArgumentException(aAt + ": follows a request_headers action (expected:"
              + " request_headers last, its value is the dynamic descriptor's)");
        }
        switch (action.getActionSpecifierCase()) {
          case REQUEST_HEADERS -> {
            var h = action.getRequestHeaders();
            if (h.getHeaderName().isEmpty() || h.getDescriptorKey().isEmpty()) {
              throw new IllegalArgumentException(aAt + ".request_headers: header_name and"
                  + " descriptor_key are required");
            }
            // The value is the request's: a wildcard entry of the descriptor.
            entry = h.getDescriptorKey() + "=";
            perHeader = h.getHeaderName().toLowerCase(java.util.Locale.ROOT);
          }
          case GENERIC_KEY -> {
            var g = action.getGenericKey();
            entry = (g.getDescriptorKey().isEmpty() ? "generic_key" : g.getDescriptorKey()) + "="
                + g.getDescriptorValue();
          }
          case HEADER_VALUE_MATCH -> {
            var h = action.getHeaderValueMatch();
            entry = (h.getDescriptorKey().isEmpty() ? "header_match" : h.getDescriptorKey()) + "="
                + h.getDescriptorValue();
            if (h.getHeadersCount() == 0) {
              throw new IllegalArgumentException(aAt + ".header_value_match.headers: empty");
            }
            boolean expectMatch = !h.hasExpectMatch() || h.getExpectMatch().getValue();
            for (int i = 0; i < h.getHeadersCount(); i++) {
              headers.add(HeaderMatch.of(h.getHeaders(i), aAt + ".header_value_match.headers[" + i
                  + "]"));
              // Envoy: the entry is produced when all headers match (or, with expect_match false,
              // when not all do); the all-match case is what expect_match: false negates.
              expect.add(expectMatch);
            }
            if (!expectMatch && h.getHeadersCount() > 1) {
              throw new IllegalArgumentException(aAt + ".header_value_match: expect_match false with"
                  + " several headers is not supported");
            }
          }
          default -> throw new IllegalArgumentException(aAt + ": " + action.getActionSpecifierCase()
              + " (expected: generic_key, header_value_match or request_headers)");
        }
        if (name.length() > 0) {
          name.append(',');
        }
        name.append(entry);
      }
      String descriptor = name.toString();
      produced.add(descriptor);
      TokenBucket bucket = byDescriptor.get(descriptor);
      if (bucket == null) {
        continue; // Envoy: a descriptor no bucket is configured for limits nothing
      }
      boolean[] expectMatch = new boolean[expect.size()];
      for (int i = 0; i < expectMatch.length; i++) {
        expectMatch[i] = expect.get(i);
      }
      limits.add(new Limit(descriptor, headers.toArray(HeaderMatch[]::new), expectMatch, bucket,
          perHeader, perHeader == null ? null : dynamic));
    }
    for (int d = 0; d < descriptorNames.size(); d++) {
      if (!produced.contains(descriptorNames.get(d))) {
        throw new IllegalArgumentException(at + ".descriptors[" + d + "]: " + descriptorNames.get(d)
            + " is produced by no rate_limits action of this config (route and virtual host"
            + " rate_limits are not supported; add a generic_key, header_value_match or"
            + " request_headers action)");
      }
    }
    int status = c.hasStatus() && c.getStatus().getCodeValue() >= 400
        ? c.getStatus().getCodeValue() : 429;
    return new Config(c.getStatPrefix(), status, fraction(c.hasFilterEnabled(),
        c.getFilterEnabled(), at + ".filter_enabled"), fraction(c.hasFilterEnforced(),
        c.getFilterEnforced(), at + ".filter_enforced"),
        c.getEnableXRatelimitHeaders() == XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
        defaultBucket, !c.hasAlwaysConsumeDefaultTokenBucket()
            || c.getAlwaysConsumeDefaultTokenBucket().getValue(),
        limits.toArray(Limit[]::new));
  }

  /** Envoy's default for an absent fraction is 0%: the filter is off unless it says otherwise. */
  private static Fraction fraction(boolean present, RuntimeFractionalPercent p,
      String at) {
    if (!present) {
      return new Fraction(0, 100);
    }
    try {
      return Fraction.of(p.getDefaultValue());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + ".default_value." + e.getMessage(), e);
    }
  }

  private static String entries(List<RateLimitDescriptor.Entry> entries, String at) {
    if (entries.isEmpty()) {
      throw new IllegalArgumentException(at + ".entries: empty (expected: at least one entry)");
    }
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < entries.size(); i++) {
      RateLimitDescriptor.Entry e = entries.get(i);
      if (e.getKey().isEmpty()) {
        throw new IllegalArgumentException(at + ".entries[" + i + "].key: empty");
      }
      if (e.getValue().isEmpty() && i < entries.size() - 1) {
        throw new IllegalArgumentException(at + ".entries[" + i + "].value: empty (expected: a"
            + " value; only the last entry may be a wildcard, one bucket per request header value)");
      }
      if (out.length() > 0) {
        out.append(',');
      }
      out.append(e.getKey()).append('=').append(e.getValue());
    }
    return out.toString();
  }

  /** A bucket, or null for the unbounded default Isthmus' translation emits (nothing to count). */
  private static TokenBucket bucket(io.envoyproxy.envoy.type.v3.TokenBucket b, String at, String key,
      Buckets buckets, boolean isDefault) {
    long max = Integer.toUnsignedLong(b.getMaxTokens());
    long perFill = b.hasTokensPerFill() ? Integer.toUnsignedLong(b.getTokensPerFill().getValue()) : 1;
    if (max == 0) {
      throw new IllegalArgumentException(at + ".max_tokens: 0 (expected: > 0)");
    }
    if (perFill == 0) {
      throw new IllegalArgumentException(at + ".tokens_per_fill: 0 (expected: > 0)");
    }
    Duration interval = Durations.of(b.getFillInterval(), at + ".fill_interval");
    if (interval.compareTo(MIN_FILL_INTERVAL) < 0) {
      throw new IllegalArgumentException(at + ".fill_interval: " + interval.toMillis()
          + "ms (expected: at least 50ms, as Envoy)");
    }
    if (isDefault && max == TokenBucket.MAX && perFill == TokenBucket.MAX) {
      return null;
    }
    return buckets.bucket(key, max, perFill, interval.toNanos());
  }

  /**
   * Applies every filter to {@code request}, in order, taking tokens; calls {@code onLimited} for
   * each limit hit (dry runs included) and returns the first enforced one, or null: forward it.
   * Allocates nothing when no limit is hit and no route has to be chosen.
   */
  public Limited check(HttpRequest request, java.util.function.Consumer<Limited> onLimited) {
    return check(request, onLimited, null);
  }

  /**
   * The {@code x-ratelimit-*} values of an allowed request (Envoy's {@code DRAFT_VERSION_03}
   * headers on the responses it lets through): the bucket with the fewest tokens left among those
   * the request took a token from, in configs that enable the headers. Reused per request by its
   * owner (one per connection or stream), so an allowed request allocates nothing for it.
   */
  public static final class Allowed {
    private boolean set;
    private long limit;
    private long remaining;
    private long resetNanos;

    /** Forgets the previous request's values. */
    public void clear() {
      set = false;
    }

    /** Whether a bucket asked for headers on this request. */
    public boolean isSet() {
      return set;
    }

    public long limit() {
      return limit;
    }

    public long remaining() {
      return remaining;
    }

    public long resetNanos() {
      return resetNanos;
    }

    void offer(TokenBucket bucket) {
      long left = bucket.remaining();
      if (!set || left < remaining) {
        set = true;
        limit = bucket.maxTokens();
        remaining = left;
        resetNanos = bucket.nanosToNextFill();
      }
    }
  }

  /**
   * As {@link #check(HttpRequest, java.util.function.Consumer)}; when the request is allowed,
   * {@code allowed} (if not null, cleared first) holds the values of its {@code x-ratelimit-*}
   * headers, if a config asks for them.
   */
  public Limited check(HttpRequest request, java.util.function.Consumer<Limited> onLimited,
      Allowed allowed) {
    if (allowed != null) {
      allowed.clear();
    }
    int vhost = 0;
    int route = 0;
    if (routes != null) {
      long vr = route(request);
      vhost = (int) (vr >> 32);
      route = (int) vr;
    }
    for (Filter filter : filters) {
      Config c = filter.forRoute(vhost, route);
      if (c == null || !c.enabled().roll(ThreadLocalRandom.current())) {
        continue;
      }
      Limited limited = apply(filter, c, request, allowed);
      if (limited != null) {
        onLimited.accept(limited);
        if (limited.enforced()) {
          return limited;
        }
      }
    }
    return null;
  }

  private static Limited apply(Filter filter, Config c, HttpRequest request, Allowed allowed) {
    boolean matched = false;
    for (Limit limit : c.limits()) {
      if (!limit.applies(request)) {
        continue;
      }
      TokenBucket bucket = limit.bucketFor(request);
      if (bucket == null) {
        continue;
      }
      matched = true;
      if (!bucket.tryAcquire()) {
        return limited(filter, c, limit.rule(), bucket);
      }
      if (c.headers() && allowed != null) {
        allowed.offer(bucket);
      }
    }
    TokenBucket d = c.defaultBucket();
    if (d != null && (c.alwaysConsumeDefault() || !matched)) {
      if (!d.tryAcquire()) {
        return limited(filter, c, "default", d);
      }
      if (c.headers() && allowed != null) {
        allowed.offer(d);
      }
    }
    return null;
  }

  private static Limited limited(Filter filter, Config c, String rule, TokenBucket bucket) {
    return new Limited(filter.name(), c.statPrefix(), rule,
        c.enforced().roll(ThreadLocalRandom.current()), c.status(), c.headers(), bucket.maxTokens(),
        bucket.nanosToNextFill());
  }

  /** (virtual host index << 32 | route index) of the route {@code request} takes, or -1s. */
  private long route(HttpRequest request) {
    RequestView view = RequestView.of(request, "");
    List<RouteRules.VirtualHostRules> hosts = routes.virtualHosts();
    String authority = view.authority();
    int chosen = -1;
    for (int v = 0; v < hosts.size() && chosen < 0; v++) {
      for (String domain : hosts.get(v).domains()) {
        if (domain.equals("*") || domain.equalsIgnoreCase(authority)) {
          chosen = v;
          break;
        }
      }
    }
    if (chosen < 0) {
      return -1L;
    }
    List<RouteRules.RouteRule> rules = hosts.get(chosen).routes();
    for (int r = 0; r < rules.size(); r++) {
      if (rules.get(r).matches(view)) {
        return ((long) chosen << 32) | r;
      }
    }
    return ((long) chosen << 32) | 0xffff_ffffL;
  }

  /** A header as Envoy's matchers see it: pseudo-headers included, {@code :path} with the query. */
  static String header(HttpRequest request, String name) {
    return switch (name) {
      case ":method" -> request.method().name();
      case ":path" -> request.uri();
      case ":authority" -> request.headers().get(HttpHeaderNames.HOST);
      case ":scheme" -> "http";
      default -> {
        List<String> values = request.headers().getAll(name);
        yield values.isEmpty() ? null : values.size() == 1 ? values.get(0) : String.join(",", values);
      }
    };
  }
}
