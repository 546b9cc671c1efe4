package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class ConfigDumpTest {

  @Test
  void aRouteWithIstiosRetryHostPredicatePrintsInFull() {
    // Istio's retries always carry retry_host_predicate previous_hosts (an Any): the dump must
    // show the route, not "unprintable".
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("5000")
        .addVirtualHosts(VirtualHost.newBuilder().setName("h:5000").addDomains("h")
            .addRoutes(Route.newBuilder().setRoute(RouteAction.newBuilder().setCluster("c")
                .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("connect-failure")
                    .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
                        .setName("envoy.retry_host_predicates.previous_hosts")
                        .setTypedConfig(Any.pack(PreviousHostsPredicate.getDefaultInstance())))))))
        .build();
    XdsSnapshot snapshot = new XdsSnapshot(Map.of(), Map.of(), Map.of(), Map.of("5000", routes),
        Map.of(), Map.of());

    JsonNode route = ConfigDump.toJson(snapshot).path("routes").path(0);

    assertThat(route.has("unprintable")).as("%s", route).isFalse();
    assertThat(route.path("virtualHosts").path(0).path("routes").path(0).path("route")
        .path("retryPolicy").path("retryHostPredicate").path(0).path("name").asString())
        .isEqualTo("envoy.retry_host_predicates.previous_hosts");
  }
}
