package io.isthmus.proxy.testing;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.XRateLimitHeadersRFCVersion;
import io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.envoyproxy.envoy.type.v3.TokenBucket;
import java.time.Duration;
import java.util.List;

/**
 * Envoy local rate-limit configs in the shape mesh-controller's RateLimitTranslator emits for a
 * RateLimitPolicy (filter per policy, per-route LocalRateLimit with one descriptor and one
 * rate_limits entry per rule, an unbounded default bucket), for the proxy's tests.
 */
public final class RateLimitResources {

  public static final String FILTER = "envoy.filters.http.local_ratelimit/sample/helloworld";

  /** One rule: a bucket, and the :path regex it applies to (null: every request). */
  public record Rule(String name, String pathRegex, long maxTokens, long tokensPerFill,
      Duration fillInterval) {}

  private RateLimitResources() {}

  public static TokenBucket bucket(long max, long perFill, Duration interval) {
    return TokenBucket.newBuilder().setMaxTokens((int) max)
        .setTokensPerFill(UInt32Value.of((int) perFill))
        .setFillInterval(com.google.protobuf.Duration.newBuilder().setSeconds(interval.getSeconds())
            .setNanos(interval.getNano()))
        .build();
  }

  public static LocalRateLimit perRoute(boolean dryRun, boolean headers, List<Rule> rules) {
    LocalRateLimit.Builder b = LocalRateLimit.newBuilder()
        .setStatPrefix("ratelimit_sample_helloworld")
        .setStatus(HttpStatus.newBuilder().setCode(StatusCode.TooManyRequests))
        .setTokenBucket(bucket(0xffff_ffffL, 0xffff_ffffL, Duration.ofSeconds(1)))
        .setAlwaysConsumeDefaultTokenBucket(BoolValue.of(false))
        .setFilterEnabled(percent(100))
        .setFilterEnforced(percent(dryRun ? 0 : 100))
        .setEnableXRatelimitHeaders(headers ? XRateLimitHeadersRFCVersion.DRAFT_VERSION_03
            : XRateLimitHeadersRFCVersion.OFF);
    for (Rule r : rules) {
      b.addDescriptors(LocalRateLimitDescriptor.newBuilder()
          .addEntries(RateLimitDescriptor.Entry.newBuilder().setKey("rule").setValue(r.name()))
          .setTokenBucket(bucket(r.maxTokens(), r.tokensPerFill(), r.fillInterval())));
      RateLimit.Action action = r.pathRegex() == null
          ? RateLimit.Action.newBuilder().setGenericKey(RateLimit.Action.GenericKey.newBuilder()
              .setDescriptorKey("rule").setDescriptorValue(r.name())).build()
          : RateLimit.Action.newBuilder().setHeaderValueMatch(
              RateLimit.Action.HeaderValueMatch.newBuilder().setDescriptorKey("rule")
                  .setDescriptorValue(r.name()).setExpectMatch(BoolValue.of(true))
                  .addHeaders(HeaderMatcher.newBuilder().setName(":path").setStringMatch(
                      StringMatcher.newBuilder().setSafeRegex(
                          RegexMatcher.newBuilder().setRegex(r.pathRegex()))))).build();
      b.addRateLimits(RateLimit.newBuilder().addActions(action));
    }
    return b.build();
  }

  public static RuntimeFractionalPercent percent(int p) {
    return RuntimeFractionalPercent.newBuilder().setRuntimeKey("ratelimit.sample.helloworld.x")
        .setDefaultValue(FractionalPercent.newBuilder().setNumerator(p)
            .setDenominator(FractionalPercent.DenominatorType.HUNDRED))
        .build();
  }

  public static HttpFilter filter() {
    return HttpFilter.newBuilder().setName(FILTER).setTypedConfig(Any.pack(
        LocalRateLimit.newBuilder().setStatPrefix("ratelimit_sample_helloworld").build())).build();
  }

  /** An inbound connection manager with the filter and {@code perRoute} on its one route. */
  public static HttpConnectionManager inboundHcm(String cluster, LocalRateLimit perRoute) {
    return HttpConnectionManager.newBuilder()
        .setStatPrefix(cluster)
        .setRouteConfig(RouteConfiguration.newBuilder().setName(cluster)
            .addVirtualHosts(VirtualHost.newBuilder().setName(cluster).addDomains("*")
                .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                    .setRoute(RouteAction.newBuilder().setCluster(cluster))
                    .putTypedPerFilterConfig(FILTER, Any.pack(perRoute)))))
        .addHttpFilters(filter())
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router"))
        .build();
  }
}
