package io.isthmus.proxy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.TestPki;
import java.util.List;
import org.junit.jupiter.api.Test;

class XdsStaticConfigTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";

  private static List<Message> mesh() {
    return List.of(MeshResources.outboundCluster(5000, HOST),
        MeshResources.endpoints(MeshResources.outboundName(5000, HOST), "us-east",
            new Ep("127.0.0.2", 5000, 1, "east", false)),
        MeshResources.outboundListener(5000), MeshResources.routes(5000, HOST),
        MeshResources.virtualInbound(5000), MeshResources.inboundCluster(5000, 8080),
        MeshResources.rootCa(new TestPki().rootPem()));
  }

  @Test
  void renderedResourcesReadBackAsTheSameCompleteSnapshot() {
    XdsSnapshot snapshot = XdsStaticConfig.parse(XdsStaticConfig.render(mesh()), "mesh.json");

    assertThat(snapshot.clusters()).containsOnlyKeys(MeshResources.outboundName(5000, HOST),
        "inbound|5000||");
    assertThat(snapshot.clusters().get(MeshResources.outboundName(5000, HOST)))
        .isEqualTo(MeshResources.outboundCluster(5000, HOST));
    assertThat(snapshot.endpoints()).containsOnlyKeys(MeshResources.outboundName(5000, HOST));
    assertThat(snapshot.listeners()).containsOnlyKeys("0.0.0.0_5000", "virtualInbound");
    assertThat(snapshot.routes().get("5000")).isEqualTo(MeshResources.routes(5000, HOST));
    assertThat(snapshot.secrets()).containsOnlyKeys(XdsClient.ROOT_CA_SECRET);
    assertThat(snapshot.versions()).hasSize(XdsResourceType.values().length)
        .allSatisfy((type, version) -> assertThat(version).isEqualTo(XdsStaticConfig.VERSION));
    assertThat(snapshot.initialConfigApplied(true)).isTrue();
  }

  @Test
  void anEmptyListIsAValidConfigurationWithNothingInIt() {
    XdsSnapshot snapshot = XdsStaticConfig.parse("{\"resources\": []}", "empty.json");

    assertThat(snapshot.clusters()).isEmpty();
    assertThat(snapshot.initialConfigApplied(true)).isTrue();
  }

  @Test
  void aResourceThatFailsValidationRejectsTheFileNamingItsIndex() {
    String json = XdsStaticConfig.render(List.of(MeshResources.inboundCluster(5000, 8080),
        Cluster.newBuilder().setName("broken").setType(Cluster.DiscoveryType.STATIC).build()));

    assertThatThrownBy(() -> XdsStaticConfig.parse(json, "bad.json"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad.json: resources[1]: cluster broken: load_assignment has no"
            + " endpoints");
  }

  @Test
  void twoResourcesOfOneTypeAndNameAreRejected() {
    String json = XdsStaticConfig.render(List.of(MeshResources.inboundCluster(5000, 8080),
        MeshResources.inboundCluster(5000, 9090)));

    assertThatThrownBy(() -> XdsStaticConfig.parse(json, "dup.json"))
        .hasMessageContaining("dup.json: resources[1]: a second cluster named inbound|5000||");
  }

  @Test
  void aTypeTheProxyDoesNotServeIsRejectedWithTheTypesItDoes() {
    String json = "{\"resources\": [{\"@type\": \"type.googleapis.com/google.protobuf.Duration\","
        + " \"value\": \"1s\"}]}";

    assertThatThrownBy(() -> XdsStaticConfig.parse(json, "odd.json"))
        .hasMessageContaining("odd.json")
        .hasMessageContaining("google.protobuf.Duration");
  }

  @Test
  void textThatIsNotAResourceListSaysWhatWasExpected() {
    assertThatThrownBy(() -> XdsStaticConfig.parse("{\"clusters\": 1}", "x.json"))
        .hasMessageContaining("x.json: not an xDS resource list")
        .hasMessageContaining("{\"resources\": [");
  }
}
