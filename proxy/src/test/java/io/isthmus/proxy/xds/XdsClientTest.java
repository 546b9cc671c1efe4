package io.isthmus.proxy.xds;

import static io.isthmus.proxy.testing.MeshResources.outboundCluster;
import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class XdsClientTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String CLUSTER = outboundName(5000, HOST);

  private FakeAdsServer ads;
  private XdsClient client;
  private final List<XdsSnapshot> delivered = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    ads = new FakeAdsServer().start();
    ads.set(XdsResourceType.CLUSTER, "c1", List.of(outboundCluster(5000, HOST)));
    ads.set(XdsResourceType.ENDPOINT, "e1", List.of(MeshResources.endpoints(CLUSTER, "us-east",
        new Ep("127.0.0.11", 5000, 1, "east", false))));
    ads.set(XdsResourceType.LISTENER, "l1", List.of(MeshResources.outboundListener(5000)));
    ads.set(XdsResourceType.ROUTE, "r1", List.of(MeshResources.routes(5000, HOST)));
  }

  @AfterEach
  void tearDown() throws Exception {
    if (client != null) {
      client.close();
    }
    ads.close();
  }

  private void startClient() {
    XdsNode node = new XdsNode("sidecar", "127.102.1.1", "curl-1", "sample", "curl", "west",
        "net1", "us-west/us-west-1a/", Map.of("app", "curl"), Map.of());
    client = XdsClient.start(XdsClientOptions.of(ads.target(), null, node)
        .withBackoff(Duration.ofMillis(50), Duration.ofMillis(200)), delivered::add);
  }

  @Test
  void subscribesAcksAndDeliversOneConsistentSnapshot() {
    startClient();

    await().atMost(Duration.ofSeconds(30)).until(
        () -> client.snapshot().initialConfigApplied(true));
    XdsSnapshot snapshot = client.snapshot();
    assertThat(snapshot.clusters()).containsOnlyKeys(CLUSTER);
    assertThat(snapshot.endpoints()).containsOnlyKeys(CLUSTER);
    assertThat(snapshot.routes()).containsOnlyKeys("5000");
    assertThat(snapshot.versions()).containsEntry(XdsResourceType.CLUSTER, "c1")
        .containsEntry(XdsResourceType.ENDPOINT, "e1")
        .containsEntry(XdsResourceType.ROUTE, "r1");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(delivered).last().isEqualTo(snapshot));

    List<DiscoveryRequest> requests = ads.requests();
    DiscoveryRequest first = requests.get(0);
    assertThat(first.getNode().getId()).isEqualTo("sidecar~127.102.1.1~curl-1.sample~sample.svc.cluster.local");
    assertThat(first.getNode().getMetadata().getFieldsOrThrow("CLUSTER_ID").getStringValue())
        .isEqualTo("west");
    assertThat(first.getNode().getLocality().getRegion()).isEqualTo("us-west");
    // EDS and RDS are subscribed by the names CDS and LDS named, then ACKed. Awaited: the ACK
    // goes out after the snapshot is applied, and the server records it when it arrives.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(ads.requests()).anySatisfy(r -> {
        assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.ENDPOINT.typeUrl());
        assertThat(r.getResourceNamesList()).containsExactly(CLUSTER);
      });
      assertThat(ads.requests()).anySatisfy(r -> {
        assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.ROUTE.typeUrl());
        assertThat(r.getVersionInfo()).isEqualTo("r1");
        assertThat(r.hasErrorDetail()).isFalse();
      });
    });
    assertThat(client.nackCount()).isZero();
  }

  @Test
  void nacksAnInvalidResourceAndKeepsTheLastGoodOne() {
    startClient();
    await().atMost(Duration.ofSeconds(30)).until(
        () -> client.snapshot().received(XdsResourceType.CLUSTER));
    Cluster good = client.snapshot().clusters().get(CLUSTER);

    Cluster broken = good.toBuilder().setType(Cluster.DiscoveryType.STATIC).build();
    Cluster added = outboundCluster(9000, "other.sample.svc.cluster.local");
    ads.set(XdsResourceType.CLUSTER, "c2", List.of(broken, added));

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(ads.requests()).anySatisfy(r -> {
          assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.CLUSTER.typeUrl());
          assertThat(r.hasErrorDetail()).isTrue();
          assertThat(r.getErrorDetail().getMessage()).contains(CLUSTER).contains("load_assignment");
          assertThat(r.getVersionInfo()).isEqualTo("c1");
        }));
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      XdsSnapshot snapshot = client.snapshot();
      assertThat(snapshot.clusters().get(CLUSTER)).isEqualTo(good);
      assertThat(snapshot.clusters()).containsKey(added.getName());
      assertThat(snapshot.versions()).containsEntry(XdsResourceType.CLUSTER, "c1");
    });
    assertThat(client.nackCount()).isEqualTo(1);
  }

  @Test
  void nacksARouteWithARegexRE2CannotRunAndAClusterWithABadOutlierField() {
    startClient();
    await().atMost(Duration.ofSeconds(30)).until(
        () -> client.snapshot().initialConfigApplied(true));
    var good = client.snapshot().routes().get("5000");
    var badRoute = good.toBuilder();
    badRoute.getVirtualHostsBuilder(0).getRoutesBuilder(0).setMatch(
        io.envoyproxy.envoy.config.route.v3.RouteMatch.newBuilder().setSafeRegex(
            io.envoyproxy.envoy.type.matcher.v3.RegexMatcher.newBuilder().setRegex("(a)\\1")));
    ads.set(XdsResourceType.ROUTE, "r2", List.of(badRoute.build()));
    Cluster badCluster = outboundCluster(5000, HOST).toBuilder().setOutlierDetection(
        io.envoyproxy.envoy.config.cluster.v3.OutlierDetection.newBuilder()
            .setMaxEjectionPercent(com.google.protobuf.UInt32Value.of(150))).build();
    ads.set(XdsResourceType.CLUSTER, "c2", List.of(badCluster));

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(ads.requests()).anySatisfy(r -> {
        assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.ROUTE.typeUrl());
        assertThat(r.getErrorDetail().getMessage())
            .contains("routes[0].match.safe_regex").contains("RE2 does not support");
        assertThat(r.getVersionInfo()).isEqualTo("r1");
      });
      assertThat(ads.requests()).anySatisfy(r -> {
        assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.CLUSTER.typeUrl());
        assertThat(r.getErrorDetail().getMessage())
            .contains("outlier_detection.max_ejection_percent: 150");
      });
    });
    assertThat(client.snapshot().routes().get("5000")).isEqualTo(good);
    assertThat(client.snapshot().versions()).containsEntry(XdsResourceType.CLUSTER, "c1");
  }

  @Test
  void keepsServingTheLastConfigAndResubscribesAfterTheStreamBreaks() {
    startClient();
    await().atMost(Duration.ofSeconds(30)).until(
        () -> client.snapshot().initialConfigApplied(true));
    XdsSnapshot before = client.snapshot();

    ads.breakStreams();
    await().atMost(Duration.ofSeconds(30)).until(() -> ads.streamsOpened() >= 2);
    assertThat(client.snapshot().clusters()).isEqualTo(before.clusters());

    ads.set(XdsResourceType.ENDPOINT, "e2", List.of(MeshResources.endpoints(CLUSTER, "us-east",
        new Ep("127.0.0.12", 5000, 1, "east", false))));
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(client.snapshot().versions()).containsEntry(XdsResourceType.ENDPOINT, "e2"));
    // The new stream resumed from the versions accepted on the old one.
    assertThat(ads.requests()).anySatisfy(r -> {
      assertThat(r.getTypeUrl()).isEqualTo(XdsResourceType.CLUSTER.typeUrl());
      assertThat(r.getResponseNonce()).isEmpty();
      assertThat(r.getVersionInfo()).isEqualTo("c1");
    });
  }
}
