package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteAction.HashPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.proxy.policy.ClusterPolicy;
import io.isthmus.proxy.policy.RequestView;
import io.isthmus.proxy.policy.RouteRules;
import io.isthmus.proxy.policy.RouteTarget.Forward;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What a DestinationRule's {@code consistentHash} promises, through the xDS the controller sends
 * (a RING_HASH or MAGLEV cluster, a route {@code hash_policy}): a request with the same key goes
 * to the same endpoint every time, and removing another endpoint keeps it there; only the keys of
 * the removed endpoint move, and they spread over the rest.
 */
class ConsistentHashPickTest {

  private static final int USERS = 600;

  static Stream<Arguments> policies() {
    Function<String, RequestView> header = user -> view(new DefaultHttpHeaders().set("x-user", user),
        Map.of(), "10.9.0.1");
    Function<String, RequestView> cookie = user -> view(
        new DefaultHttpHeaders().set("cookie", "theme=dark; session=" + user), Map.of(), "10.9.0.1");
    Function<String, RequestView> query = user -> view(new DefaultHttpHeaders(),
        Map.of("user", List.of(user)), "10.9.0.1");
    Function<String, RequestView> source = user -> view(new DefaultHttpHeaders(), Map.of(),
        "10.9." + (user.hashCode() & 0xff) + "." + (user.length() + (user.hashCode() >>> 8 & 0x7f)));
    return Stream.of(
        Arguments.of("header x-user, RING_HASH", Cluster.LbPolicy.RING_HASH,
            HashPolicy.newBuilder().setHeader(HashPolicy.Header.newBuilder().setHeaderName("x-user")),
            header),
        Arguments.of("cookie session, MAGLEV", Cluster.LbPolicy.MAGLEV,
            HashPolicy.newBuilder().setCookie(HashPolicy.Cookie.newBuilder().setName("session")),
            cookie),
        Arguments.of("query user, RING_HASH", Cluster.LbPolicy.RING_HASH,
            HashPolicy.newBuilder().setQueryParameter(
                HashPolicy.QueryParameter.newBuilder().setName("user")), query),
        Arguments.of("source ip, MAGLEV", Cluster.LbPolicy.MAGLEV,
            HashPolicy.newBuilder().setConnectionProperties(
                HashPolicy.ConnectionProperties.newBuilder().setSourceIp(true)), source));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("policies")
  void sameKeySameEndpointAndRemovingAnotherKeepsIt(String name, Cluster.LbPolicy lb,
      HashPolicy.Builder hash, Function<String, RequestView> request) {
    Forward forward = forward(hash);
    ClusterPolicy policy = ClusterPolicy.of(Cluster.newBuilder().setName("c").setLbPolicy(lb).build());
    EndpointPicker five = EndpointPicker.of(MeshResources.endpoints("c", "r",
        ep("10.0.0.1"), ep("10.0.0.2"), ep("10.0.0.3"), ep("10.0.0.4"), ep("10.0.0.5")));
    ClusterRuntime runtime = new ClusterRuntime("c", policy, Clock.systemUTC(), new SplittableRandom(7));
    runtime.update(policy, five.endpoints());

    Map<String, UpstreamEndpoint> first = new HashMap<>();
    Map<UpstreamEndpoint, Integer> load = new HashMap<>();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      OptionalLong key = OutboundHandler.hashKey(forward.hashPolicies(), request.apply(user));
      assertThat(key).as("hash key of %s", user).isPresent();
      UpstreamEndpoint e = runtime.pick(five, Set.of(), key).orElseThrow();
      for (int again = 0; again < 5; again++) {
        assertThat(runtime.pick(five, Set.of(), key)).as("%s, pick %d", user, again).contains(e);
      }
      first.put(user, e);
      load.merge(e, 1, Integer::sum);
    }
    // Spread: every endpoint gets a fair share of the keys (expected 120 each).
    assertThat(load).hasSize(5);
    assertThat(load.values()).allSatisfy(n -> assertThat(n).isBetween(60, 200));

    UpstreamEndpoint removed = five.endpoints().get(2);
    EndpointPicker four = EndpointPicker.of(MeshResources.endpoints("c", "r",
        ep("10.0.0.1"), ep("10.0.0.2"), ep("10.0.0.4"), ep("10.0.0.5")));
    runtime.update(policy, four.endpoints());
    Map<UpstreamEndpoint, Integer> moved = new HashMap<>();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      OptionalLong key = OutboundHandler.hashKey(forward.hashPolicies(), request.apply(user));
      UpstreamEndpoint now = runtime.pick(four, Set.of(), key).orElseThrow();
      if (first.get(user).equals(removed)) {
        assertThat(now).isNotEqualTo(removed);
        moved.merge(now, 1, Integer::sum);
      } else {
        assertThat(now).as("%s stays where it was", user).isEqualTo(first.get(user));
      }
    }
    // The removed endpoint's keys spread over the others rather than piling onto one.
    assertThat(moved.size()).isGreaterThanOrEqualTo(3);
  }

  private static Forward forward(HashPolicy.Builder hash) {
    RouteRules rules = RouteRules.compile(RouteConfiguration.newBuilder().setName("5000")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc:5000").addDomains("svc")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster("c").addHashPolicy(hash))))
        .build());
    return (Forward) rules.virtualHosts().get(0).routes().get(0).target();
  }

  private static Ep ep(String address) {
    return new Ep(address, 5000, 1, "east", false);
  }

  private static RequestView view(HttpHeaders headers, Map<String, List<String>> query,
      String source) {
    return new RequestView("GET", "svc", "/", query, headers, source);
  }
}
