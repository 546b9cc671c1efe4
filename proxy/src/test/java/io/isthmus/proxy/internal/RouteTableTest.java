package io.isthmus.proxy.internal;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.proxy.testing.MeshResources;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RouteTableTest {

  private static final String HELLO = "helloworld.sample.svc.cluster.local";
  private static final String RATINGS = "ratings.sample.svc.cluster.local";

  private static final RouteTable TABLE = new RouteTable(Map.of(
      "5000", MeshResources.routes(5000, HELLO, RATINGS),
      "80", RouteConfiguration.newBuilder().setName("80")
          .addVirtualHosts(MeshResources.routes(80, "web.sample.svc.cluster.local")
              .getVirtualHosts(0))
          .addVirtualHosts(VirtualHost.newBuilder().setName("wild").addDomains("*.example.com")
              .addRoutes(MeshResources.routes(80, "wild.example.com").getVirtualHosts(0)
                  .getRoutes(0)))
          .build()));

  @ParameterizedTest(name = "Host {0} → {1}")
  @CsvSource({
      "helloworld.sample.svc.cluster.local:5000, outbound|5000||helloworld.sample.svc.cluster.local",
      "HelloWorld.Sample.svc.cluster.local:5000, outbound|5000||helloworld.sample.svc.cluster.local",
      "helloworld:5000,                          outbound|5000||helloworld.sample.svc.cluster.local",
      "ratings.sample.svc.cluster.local:5000,    outbound|5000||ratings.sample.svc.cluster.local",
      "web.sample.svc.cluster.local,             outbound|80||web.sample.svc.cluster.local",
      "api.example.com,                          outbound|80||wild.example.com",
      "helloworld.sample.svc.cluster.local:9999, NONE",
      "nothing.sample.svc.cluster.local:5000,    NONE",
      "helloworld.sample.svc.cluster.local,      NONE",
  })
  void hostHeaderPicksRouteConfigVirtualHostAndCluster(String host, String expected) {
    Optional<String> cluster = TABLE.clusterFor(host, "/any/path");
    if (expected.equals("NONE")) {
      assertThat(cluster).isEmpty();
    } else {
      assertThat(cluster).contains(expected);
    }
  }

  @org.junit.jupiter.api.Test
  void clusterNameCarriesTheServiceForTelemetry() {
    assertThat(OutboundHandler.serviceOf(outboundName(5000, HELLO), "x")).isEqualTo(HELLO);
  }
}
