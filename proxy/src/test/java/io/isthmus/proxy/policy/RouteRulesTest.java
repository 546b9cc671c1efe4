package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.policy.RouteRules.RouteRule;
import io.isthmus.proxy.policy.RouteTarget.Forward;
import io.isthmus.proxy.policy.RouteTarget.Redirect;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Route matching, rewrites, redirects and validation, as tables. */
class RouteRulesTest {

  private static RouteMatch.Builder prefix(String p) {
    return RouteMatch.newBuilder().setPrefix(p);
  }

  private static Route route(String name, RouteMatch.Builder match) {
    return Route.newBuilder().setName(name).setMatch(match)
        .setRoute(RouteAction.newBuilder().setCluster(name)).build();
  }

  private static HeaderMatcher.Builder header(String name) {
    return HeaderMatcher.newBuilder().setName(name);
  }

  /** In order: the first that matches wins. */
  private static final RouteConfiguration CONFIG = RouteConfiguration.newBuilder().setName("80")
      .addVirtualHosts(VirtualHost.newBuilder().setName("v").addDomains("*")
          .addRoutes(route("exact", RouteMatch.newBuilder().setPath("/exact")))
          .addRoutes(route("regex", RouteMatch.newBuilder().setSafeRegex(
              RegexMatcher.newBuilder().setRegex("/items/[0-9]+"))))
          .addRoutes(route("nocase", prefix("/CaseLess")
              .setCaseSensitive(BoolValue.of(false))))
          .addRoutes(route("hdr-exact", prefix("/h").addHeaders(header("x-user")
              .setStringMatch(StringMatcher.newBuilder().setExact("jason")))))
          .addRoutes(route("hdr-prefix", prefix("/h").addHeaders(header("x-user")
              .setPrefixMatch("adm"))))
          .addRoutes(route("hdr-suffix", prefix("/h").addHeaders(header("x-user")
              .setSuffixMatch("-bot"))))
          .addRoutes(route("hdr-contains", prefix("/h").addHeaders(header("x-user")
              .setContainsMatch("mid"))))
          .addRoutes(route("hdr-regex", prefix("/h").addHeaders(header("x-user")
              .setSafeRegexMatch(RegexMatcher.newBuilder().setRegex("u[0-9]{2}")))))
          .addRoutes(route("hdr-authority", prefix("/h").addHeaders(header(":authority")
              .setStringMatch(StringMatcher.newBuilder().setSuffix(".internal")
                  .setIgnoreCase(true)))))
          .addRoutes(route("hdr-present-inverted", prefix("/h")
              .addHeaders(header("x-canary").setPresentMatch(true).setInvertMatch(true))))
          .addRoutes(route("query", prefix("/q").addQueryParameters(
              QueryParameterMatcher.newBuilder().setName("debug")
                  .setStringMatch(StringMatcher.newBuilder().setExact("1")))))
          .addRoutes(route("query-present", prefix("/q").addQueryParameters(
              QueryParameterMatcher.newBuilder().setName("trace").setPresentMatch(true))))
          .addRoutes(route("default", prefix("/"))))
      .build();

  private static final RouteRules RULES = RouteRules.compile(CONFIG);

  private static RequestView request(String uri, String... headers) {
    var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri);
    request.headers().set("host", "svc:80");
    for (int i = 0; i < headers.length; i += 2) {
      request.headers().set(headers[i], headers[i + 1]);
    }
    try {
      return RequestView.of(request, "10.0.0.1");
    } finally {
      request.release();
    }
  }

  private static String routeFor(RequestView request) {
    return RULES.virtualHosts().get(0).match(request).map(RouteRule::name).orElse("none");
  }

  @ParameterizedTest(name = "{0} {1}={2} -> {3}")
  @CsvSource({
      "/exact,,,exact",
      "/exact?a=b,,,exact",
      "/exact/more,,,default",
      "/items/42,,,regex",
      "/items/42x,,,default",
      "/caseless/x,,,nocase",
      "/CASELESS,,,nocase",
      "/h,x-user,jason,hdr-exact",
      "/h,x-user,Jason,hdr-present-inverted",
      "/h,x-user,admin,hdr-prefix",
      "/h,x-user,crawl-bot,hdr-suffix",
      "/h,x-user,amidst,hdr-contains",
      "/h,x-user,u42,hdr-regex",
      "/h,x-user,u421,hdr-present-inverted",
      "/h,x-canary,yes,default",
      "/h,host,API.INTERNAL,hdr-authority",
      "/q?debug=1,,,query",
      "/q?debug=2,,,default",
      "/q?trace,,,query-present",
      "/q?debug=2&trace=x,,,query-present",
      "/other,,,default",
  })
  void firstMatchingRouteWins(String uri, String header, String value, String expected) {
    RequestView view = header == null ? request(uri) : request(uri, header, value);
    assertThat(routeFor(view)).isEqualTo(expected);
  }

  @Test
  void prefixAndRegexRewritesKeepTheRestOfThePath() {
    RouteRule prefixRule = RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/api/v1"))
        .setRoute(RouteAction.newBuilder().setCluster("c").setPrefixRewrite("/v2")).build(), "r");
    Forward prefixForward = (Forward) prefixRule.target();
    assertThat(prefixForward.rewritePath("/api/v1/users", prefixRule.matchedPrefix("/api/v1/users")))
        .isEqualTo("/v2/users");

    RouteRule regexRule = RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster("c").setRegexRewrite(
            RegexMatchAndSubstitute.newBuilder()
                .setPattern(RegexMatcher.newBuilder().setRegex("^/service/([^/]+)(/.*)$"))
                .setSubstitution("\\2/instance/\\1"))).build(), "r");
    assertThat(((Forward) regexRule.target()).rewritePath("/service/foo/v1/api", "/"))
        .isEqualTo("/v1/api/instance/foo");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "https|/old/page?x=1|https://svc/old/page?x=1|301",
      "host-and-port|/a|http://new.example:8443/a|302",
      "path|/a?x=1|http://svc:80/new?y=2|301",
      "prefix|/old/page|http://svc:80/new/page|301",
      "strip|/a?x=1|http://svc:80/a|308",
  })
  void redirectsBuildTheLocation(String kind, String uri, String location, int status) {
    RedirectAction.Builder r = RedirectAction.newBuilder();
    switch (kind) {
      case "https" -> r.setHttpsRedirect(true);
      case "host-and-port" -> r.setHostRedirect("new.example").setPortRedirect(8443)
          .setResponseCode(RedirectAction.RedirectResponseCode.FOUND);
      case "path" -> r.setPathRedirect("/new?y=2");
      case "prefix" -> r.setPrefixRewrite("/new");
      case "strip" -> r.setStripQuery(true)
          .setResponseCode(RedirectAction.RedirectResponseCode.PERMANENT_REDIRECT);
      default -> throw new IllegalArgumentException(kind);
    }
    RouteRule rule = RouteRules.compileRoute(Route.newBuilder()
        .setMatch(prefix(kind.equals("prefix") ? "/old" : "/")).setRedirect(r).build(), "r");
    Redirect redirect = (Redirect) rule.target();
    RequestView view = request(uri);
    String rawQuery = uri.contains("?") ? uri.substring(uri.indexOf('?') + 1) : "";
    assertThat(redirect.location(view, rawQuery, rule.matchedPrefix(view.path())))
        .isEqualTo(location);
    assertThat(redirect.status()).isEqualTo(status);
  }

  @Test
  void weightedClustersAreChosenByWeightWithASeededGenerator() {
    RouteRule rule = RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setWeightedClusters(WeightedCluster.newBuilder()
            .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName("v1")
                .setWeight(UInt32Value.of(75)))
            .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName("v2")
                .setWeight(UInt32Value.of(25)))
            .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName("off")
                .setWeight(UInt32Value.of(0))))).build(), "r");
    Forward forward = (Forward) rule.target();
    Map<String, Integer> counts = new HashMap<>();
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 4000; i++) {
      counts.merge(forward.pick(random).cluster(), 1, Integer::sum);
    }
    assertThat(counts).doesNotContainKey("off");
    assertThat(counts.get("v1")).isBetween(2850, 3150);
    assertThat(counts.get("v2")).isBetween(850, 1150);
    // Same seed, same sequence: a test can pin exact picks.
    assertThat(forward.pick(new SplittableRandom(1)).cluster())
        .isEqualTo(forward.pick(new SplittableRandom(1)).cluster());
  }

  @ParameterizedTest(name = "{1}")
  @CsvSource(delimiter = '|', value = {
      "(a)\\1|RE2 does not support",
      "foo(?=bar)|RE2 does not support",
      "a{1001}|repeats 1001 times",
      "[unclosed|is invalid",
  })
  void regexesRE2CannotRunAreRejectedNamingTheField(String regex, String message) {
    Route bad = Route.newBuilder().setMatch(RouteMatch.newBuilder().setSafeRegex(
        RegexMatcher.newBuilder().setRegex(regex))).setRoute(RouteAction.newBuilder()
        .setCluster("c")).build();
    assertThatThrownBy(() -> RouteRules.compileRoute(bad, "routes[0]"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("routes[0].match.safe_regex").hasMessageContaining(message);
  }

  @Test
  void aRegexAboveTheSizeBoundIsRejected() {
    assertThatThrownBy(() -> SafeRegex.compile("a".repeat(SafeRegex.MAX_LENGTH + 1), "f"))
        .hasMessageContaining("f: regex of 1025 characters is too large");
  }

  @Test
  void catastrophicBacktrackingRunsOutOfBudgetInsteadOfHanging() {
    SafeRegex evil = SafeRegex.compile("(a+)+b", "f");
    assertThat(evil.matches("a".repeat(40))).isFalse();
    assertThat(evil.matches("aaab")).isTrue();
  }

  @Test
  void badFieldsAreRejectedWithTheirNames() {
    assertThatThrownBy(() -> RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster("c").setRetryPolicy(
            RetryPolicy.newBuilder().setRetryOn("5xx,sometimes"))).build(), "r"))
        .hasMessageContaining("r.route.retry_policy.retry_on: 'sometimes'");
    assertThatThrownBy(() -> RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setWeightedClusters(WeightedCluster.newBuilder()
            .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName("a")))).build(), "r"))
        .hasMessageContaining("r.route.weighted_clusters: no cluster with a weight above 0");
    assertThatThrownBy(() -> RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster("c"))
        .putTypedPerFilterConfig(FaultPolicy.FILTER_NAME, Any.pack(HTTPFault.newBuilder()
            .setAbort(FaultAbort.newBuilder().setHttpStatus(99)).build())).build(), "r"))
        .hasMessageContaining("r.typed_per_filter_config[envoy.filters.http.fault].abort"
            + ".http_status: 99");
    assertThatThrownBy(() -> RouteRules.compileRoute(Route.newBuilder().setMatch(prefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster("c"))
        .putTypedPerFilterConfig(FaultPolicy.FILTER_NAME, Any.pack(RouteAction.newBuilder()
            .build())).build(), "r"))
        .hasMessageContaining("(expected: " + FaultPolicy.TYPE_URL + ")");
  }

  @Test
  void aVirtualHostRetryPolicyAppliesToRoutesWithoutTheirOwn() {
    RouteRules rules = RouteRules.compile(RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("v").addDomains("*")
            .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("reset")
                .setNumRetries(UInt32Value.of(4)))
            .addRoutes(route("inherits", prefix("/a")))
            .addRoutes(route("own", prefix("/b")).toBuilder().setRoute(RouteAction.newBuilder()
                .setCluster("own").setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx")))
                .build()))
        .build());
    var routes = rules.virtualHosts().get(0).routes();
    assertThat(((Forward) routes.get(0).target()).retry()).get()
        .satisfies(r -> assertThat(r.numRetries()).isEqualTo(4));
    assertThat(((Forward) routes.get(1).target()).retry()).get()
        .satisfies(r -> assertThat(r.retryOn()).containsExactly("5xx"));
  }

  @Test
  void retryPolicyDefaultsFollowEnvoy() {
    RouteTarget.RetryRules retry = RouteRules.retry(RetryPolicy.newBuilder()
        .setRetryOn("gateway-error,retriable-status-codes").addRetriableStatusCodes(409)
        .build(), "r");
    assertThat(retry.numRetries()).isEqualTo(1);
    assertThat(retry.retriesStatus(503)).isTrue();
    assertThat(retry.retriesStatus(500)).isFalse();
    assertThat(retry.retriesStatus(409)).isTrue();
    assertThat(retry.retriesConnectFailure()).isTrue();
    assertThat(retry.previousHosts()).isFalse();
    assertThat(retry.priorityUpdateFrequency()).isZero();
  }

  /**
   * Envoy's fully jittered back-off: retry n waits uniformly in [0, (2^n - 1) × 25 ms), capped
   * at 250 ms; drawn from a seeded source, so the table is exact and its spread checked.
   */
  @Test
  void backoffIsEnvoysJitteredExponentialCappedAtTenTimesTheBase() {
    RouteTarget.RetryRules retry = RouteRules.retry(RetryPolicy.newBuilder()
        .setRetryOn("5xx").build(), "r");
    java.util.SplittableRandom random = new java.util.SplittableRandom(42);
    long[] ceilingsMillis = {25, 75, 175, 250, 250};
    for (int n = 1; n <= ceilingsMillis.length; n++) {
      long max = 0;
      long min = Long.MAX_VALUE;
      for (int i = 0; i < 2_000; i++) {
        long nanos = retry.backoff(n, random).toNanos();
        max = Math.max(max, nanos);
        min = Math.min(min, nanos);
      }
      assertThat(max).as("retry %d: below its ceiling", n)
          .isLessThanOrEqualTo(ceilingsMillis[n - 1] * 1_000_000);
      assertThat(max).as("retry %d: reaches near its ceiling", n)
          .isGreaterThan(ceilingsMillis[n - 1] * 900_000);
      assertThat(min).as("retry %d: jitter reaches near zero", n).isLessThan(2_000_000);
    }
    RouteTarget.RetryRules custom = RouteRules.retry(RetryPolicy.newBuilder().setRetryOn("5xx")
        .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder()
            .setBaseInterval(com.google.protobuf.Duration.newBuilder().setNanos(100_000_000))
            .setMaxInterval(com.google.protobuf.Duration.newBuilder().setSeconds(1)))
        .build(), "r");
    assertThat(custom.backoff(30, random)).isLessThanOrEqualTo(java.time.Duration.ofSeconds(1));
    assertThat(custom.backoff(1, new java.util.SplittableRandom(1)))
        .isEqualTo(custom.backoff(1, new java.util.SplittableRandom(1)));
  }

  @Test
  void retryHostPredicateAndPriorityAreIstios() {
    RouteTarget.RetryRules retry = RouteRules.retry(RetryPolicy.newBuilder().setRetryOn("5xx")
        .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
            .setName("envoy.retry_host_predicates.previous_hosts"))
        .setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
            .setName("envoy.retry_priorities.previous_priorities")
            .setTypedConfig(com.google.protobuf.Any.pack(io.envoyproxy.envoy.extensions.retry
                .priority.previous_priorities.v3.PreviousPrioritiesConfig.newBuilder()
                .setUpdateFrequency(2).build())))
        .build(), "r");
    assertThat(retry.previousHosts()).isTrue();
    assertThat(retry.priorityUpdateFrequency()).isEqualTo(2);
    assertThatThrownBy(() -> RouteRules.retry(RetryPolicy.newBuilder().setRetryOn("5xx")
        .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
            .setName("envoy.retry_host_predicates.omit_canary_hosts")).build(), "r"))
        .hasMessage("r.retry_host_predicate[0].name: 'envoy.retry_host_predicates.omit_canary_hosts'"
            + " (expected: envoy.retry_host_predicates.previous_hosts)");
    assertThatThrownBy(() -> RouteRules.retry(RetryPolicy.newBuilder().setRetryOn("5xx")
        .setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
            .setName("envoy.retry_priorities.previous_priorities")
            .setTypedConfig(com.google.protobuf.Any.pack(io.envoyproxy.envoy.extensions.retry
                .priority.previous_priorities.v3.PreviousPrioritiesConfig.getDefaultInstance())))
        .build(), "r"))
        .hasMessage("r.retry_priority.typed_config.update_frequency: 0 (expected: > 0)");
  }
}
