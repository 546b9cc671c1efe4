package io.isthmus.proxy.policy;

import static io.isthmus.proxy.testing.RateLimitResources.FILTER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Envoy's local_ratelimit as the sidecar compiles it: which buckets a request takes, and what it NACKs. */
class RateLimitsTest {

  private static final Duration SECOND = Duration.ofSeconds(1);
  private final AtomicLong clock = new AtomicLong();
  private final List<RateLimits.Limited> hits = new ArrayList<>();

  private RateLimits compile(LocalRateLimit perRoute) {
    return RateLimits.compile(RateLimitResources.inboundHcm("inbound|5000||", perRoute), "inbound|5000",
        RateLimits.Buckets.fresh(clock::get));
  }

  private static HttpRequest get(String path) {
    HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
    r.headers().set("host", "helloworld:5000");
    return r;
  }

  private int passed(RateLimits limits, String path, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
      if (limits.check(get(path), hits::add) == null) {
        ok++;
      }
    }
    return ok;
  }

  @Test
  void aRuleWithAMatchLimitsOnlyTheRequestsItMatches() {
    RateLimits limits = compile(RateLimitResources.perRoute(false, true,
        List.of(new Rule("hello", "/hello.*", 3, 3, SECOND))));
    assertThat(passed(limits, "/hello?x=1", 10)).isEqualTo(3);
    assertThat(passed(limits, "/other", 10)).as("no rule matches: not limited").isEqualTo(10);
    assertThat(hits).hasSize(7).allSatisfy(h -> {
      assertThat(h.rule()).isEqualTo("rule=hello");
      assertThat(h.enforced()).isTrue();
      assertThat(h.status()).isEqualTo(429);
      assertThat(h.headers()).isTrue();
      assertThat(h.limit()).isEqualTo(3);
      assertThat(h.filter()).isEqualTo(FILTER);
    });
    clock.addAndGet(SECOND.toNanos());
    assertThat(passed(limits, "/hello", 10)).as("after the fill").isEqualTo(3);
  }

  @Test
  void aRequestTakesATokenFromEveryRuleItMatches() {
    RateLimits limits = compile(RateLimitResources.perRoute(false, true, List.of(
        new Rule("hello", "/hello", 100, 100, SECOND), new Rule("all", null, 4, 4, SECOND))));
    assertThat(passed(limits, "/hello", 2)).isEqualTo(2);
    assertThat(passed(limits, "/other", 10)).as("the shared bucket has 2 left").isEqualTo(2);
    assertThat(hits).extracting(RateLimits.Limited::rule).containsOnly("rule=all");
  }

  @Test
  void dryRunCountsButForwards() {
    RateLimits limits = compile(RateLimitResources.perRoute(true, true,
        List.of(new Rule("all", null, 2, 2, SECOND))));
    assertThat(passed(limits, "/", 5)).isEqualTo(5);
    assertThat(hits).hasSize(3).allSatisfy(h -> assertThat(h.enforced()).isFalse());
  }

  @Test
  void aFilterEnabledForNoRequestLimitsNothingAsInEnvoy() {
    RateLimits limits = compile(RateLimitResources.perRoute(false, true,
        List.of(new Rule("all", null, 1, 1, SECOND))).toBuilder().clearFilterEnabled().build());
    assertThat(passed(limits, "/", 5)).isEqualTo(5);
    assertThat(hits).isEmpty();
  }

  @Test
  void withoutDescriptorsTheRoutesOwnBucketLimitsEveryRequest() {
    LocalRateLimit plain = LocalRateLimit.newBuilder().setStatPrefix("p")
        .setTokenBucket(RateLimitResources.bucket(2, 1, SECOND))
        .setFilterEnabled(RateLimitResources.percent(100))
        .setFilterEnforced(RateLimitResources.percent(100)).build();
    RateLimits limits = compile(plain);
    assertThat(passed(limits, "/a", 5)).isEqualTo(2);
    assertThat(hits).extracting(RateLimits.Limited::rule).containsOnly("default");
  }

  @Test
  void eachRouteUsesItsOwnConfigAndBuckets() {
    HttpConnectionManager hcm = RateLimitResources.inboundHcm("c", RateLimitResources.perRoute(false,
        true, List.of(new Rule("all", null, 1, 1, SECOND))));
    var vh = hcm.getRouteConfig().getVirtualHosts(0).toBuilder();
    Route fallback = vh.getRoutes(0);
    vh.clearRoutes().addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/api"))
            .setRoute(RouteAction.newBuilder().setCluster("c"))
            .putTypedPerFilterConfig(FILTER, Any.pack(RateLimitResources.perRoute(false, true,
                List.of(new Rule("all", null, 3, 3, SECOND))))))
        .addRoutes(fallback);
    hcm = hcm.toBuilder().setRouteConfig(hcm.getRouteConfig().toBuilder().setVirtualHosts(0, vh)).build();
    RateLimits limits = RateLimits.compile(hcm, "s", RateLimits.Buckets.fresh(clock::get));
    assertThat(passed(limits, "/api/x", 10)).isEqualTo(3);
    assertThat(passed(limits, "/web", 10)).isEqualTo(1);
  }

  /** Rule "user": a generic key and a wildcard entry filled by request header x-user-id. */
  private static LocalRateLimit perUser(long max, int maxValues) {
    LocalRateLimit base = RateLimitResources.perRoute(false, true,
        List.of(new Rule("user", null, max, max, SECOND)));
    return base.toBuilder()
        .setDescriptors(0, base.getDescriptors(0).toBuilder().addEntries(
            RateLimitDescriptor.Entry.newBuilder().setKey("x-user-id")))
        .setRateLimits(0, base.getRateLimits(0).toBuilder().addActions(RateLimit.Action.newBuilder()
            .setRequestHeaders(RateLimit.Action.RequestHeaders.newBuilder().setHeaderName("X-User-Id")
                .setDescriptorKey("x-user-id").setSkipIfAbsent(true))))
        .setMaxDynamicDescriptors(com.google.protobuf.UInt32Value.of(maxValues))
        .build();
  }

  private boolean passes(RateLimits limits, String user, RateLimits.Allowed allowed) {
    HttpRequest r = get("/");
    if (user != null) {
      r.headers().set("x-user-id", user);
    }
    return limits.check(r, hits::add, allowed) == null;
  }

  @Test
  void aRequestHeadersDescriptorGivesEachValueItsOwnBucket() {
    RateLimits limits = compile(perUser(2, 100));
    RateLimits.Allowed allowed = new RateLimits.Allowed();
    assertThat(passes(limits, "alice", allowed)).isTrue();
    assertThat(allowed.isSet()).isTrue();
    assertThat(allowed.limit()).isEqualTo(2);
    assertThat(allowed.remaining()).isEqualTo(1);
    assertThat(passes(limits, "alice", allowed)).isTrue();
    assertThat(passes(limits, "alice", allowed)).isFalse();
    assertThat(hits).extracting(RateLimits.Limited::rule).containsExactly("rule=user,x-user-id=");
    assertThat(passes(limits, "bob", allowed)).isTrue();
    assertThat(passes(limits, "bob", allowed)).isTrue();
    // No header, no descriptor: the unbounded default lets it through, and asks for no headers.
    for (int i = 0; i < 5; i++) {
      assertThat(passes(limits, null, allowed)).isTrue();
    }
    assertThat(allowed.isSet()).isFalse();
    clock.addAndGet(SECOND.toNanos());
    assertThat(passes(limits, "alice", allowed)).isTrue();
  }

  @Test
  void beyondMaxDynamicDescriptorsTheLeastRecentlyUsedValueIsForgotten() {
    RateLimits limits = compile(perUser(1, 2));
    assertThat(passes(limits, "a", null)).isTrue();
    assertThat(passes(limits, "b", null)).isTrue();
    assertThat(passes(limits, "a", null)).isFalse();
    assertThat(passes(limits, "c", null)).isTrue(); // b is the least recently used: forgotten
    assertThat(passes(limits, "a", null)).isFalse();
    assertThat(passes(limits, "b", null)).isTrue(); // a fresh bucket
  }

  static Stream<Arguments> unusable() {
    return Stream.<Arguments>of(
        Arguments.of("a wildcard descriptor no request_headers action fills",
            (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setDescriptors(0, c.getDescriptors(0).toBuilder().setEntries(0,
                RateLimitDescriptor.Entry.newBuilder().setKey("rule"))).build(),
            "descriptors[0]: rule= is produced by no rate_limits action"),
        Arguments.of("a wildcard entry before the last", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setDescriptors(0, c.getDescriptors(0).toBuilder().setEntries(0,
                RateLimitDescriptor.Entry.newBuilder().setKey("rule")).addEntries(
                RateLimitDescriptor.Entry.newBuilder().setKey("k").setValue("v"))).build(),
            "descriptors[0].entries[0].value: empty (expected: a value; only the last entry"),
        Arguments.of("an action after request_headers", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setRateLimits(0, RateLimit.newBuilder().addActions(RateLimit.Action.newBuilder()
                .setRequestHeaders(RateLimit.Action.RequestHeaders.newBuilder().setHeaderName("x-user")
                    .setDescriptorKey("user"))).addActions(c.getRateLimits(0).getActions(0))).build(),
            "rate_limits[0].actions[1]: follows a request_headers action"),
        Arguments.of("dynamic descriptors bounded at zero", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setMaxDynamicDescriptors(com.google.protobuf.UInt32Value.of(0)).build(),
            "max_dynamic_descriptors: 0 (expected: > 0)"),
        Arguments.of("a descriptor no action produces", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .addDescriptors(LocalRateLimitDescriptor.newBuilder().addEntries(RateLimitDescriptor.Entry
                .newBuilder().setKey("k").setValue("v")).setTokenBucket(RateLimitResources.bucket(1, 1, SECOND)))
            .build(), "descriptors[1]: k=v is produced by no rate_limits action"),
        Arguments.of("an action it cannot evaluate", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .addRateLimits(RateLimit.newBuilder().addActions(RateLimit.Action.newBuilder()
                .setRemoteAddress(RateLimit.Action.RemoteAddress.getDefaultInstance()))).build(),
            "rate_limits[1].actions[0]: REMOTE_ADDRESS (expected: generic_key, header_value_match or"
                + " request_headers)"),
        Arguments.of("a refill faster than Envoy's", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setDescriptors(0, c.getDescriptors(0).toBuilder().setTokenBucket(
                RateLimitResources.bucket(1, 1, Duration.ofMillis(10)))).build(),
            "descriptors[0].token_bucket.fill_interval: 10ms (expected: at least 50ms"),
        Arguments.of("an empty bucket", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setDescriptors(0, c.getDescriptors(0).toBuilder().setTokenBucket(
                RateLimitResources.bucket(0, 1, SECOND))).build(),
            "descriptors[0].token_bucket.max_tokens: 0 (expected: > 0)"),
        Arguments.of("a per-route config without bucket", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .clearTokenBucket().build(), "token_bucket: missing"),
        Arguments.of("per-connection buckets", (UnaryOperator<LocalRateLimit>) c -> c.toBuilder()
            .setLocalRateLimitPerDownstreamConnection(true).build(),
            "local_rate_limit_per_downstream_connection: true (not supported"),
        Arguments.of("a bad regex", (UnaryOperator<LocalRateLimit>) c -> RateLimitResources.perRoute(false, true,
            List.of(new Rule("a", "(", 1, 1, SECOND))), "rate_limits[0].actions[0].header_value_match.headers[0]"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("unusable")
  void refusesWhatItCannotHonourNamingTheField(String name, UnaryOperator<LocalRateLimit> change,
      String message) {
    LocalRateLimit ok = RateLimitResources.perRoute(false, true, List.of(new Rule("a", null, 1, 1, SECOND)));
    assertThatThrownBy(() -> compile(change.apply(ok)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("inbound|5000: route_config.virtual_hosts[0].routes[0].typed_per_filter_config["
            + FILTER + "]")
        .hasMessageContaining(message);
  }

  @Test
  void refusesALimitOnAConnectionManagerWithRds() {
    HttpConnectionManager hcm = RateLimitResources.inboundHcm("c", RateLimitResources.perRoute(false, true,
        List.of(new Rule("a", null, 1, 1, SECOND)))).toBuilder().setRds(Rds.newBuilder()
        .setRouteConfigName("5000")).build();
    assertThatThrownBy(() -> RateLimits.compile(hcm, "outbound", RateLimits.Buckets.fresh(clock::get)))
        .hasMessageContaining("outbound: http_filters[0] (" + FILTER + "): local rate limits on a connection"
            + " manager with RDS are not enforced");
  }

  @Test
  void noFilterNoLimits() {
    HttpConnectionManager hcm = RateLimitResources.inboundHcm("c", LocalRateLimit.getDefaultInstance())
        .toBuilder().removeHttpFilters(0).build();
    assertThat(RateLimits.compile(hcm, "s", RateLimits.Buckets.fresh(clock::get)).isEmpty()).isTrue();
  }
}
