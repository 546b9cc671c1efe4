package io.isthmus.proxy.internal.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PeerMetadataTest {

  @Test
  void roundTripsThroughIstiosStructEncoding() {
    PeerMetadata m = new PeerMetadata("helloworld-v1-1a2b3", "sample", "east", "helloworld-v1",
        "helloworld", "v1");
    assertThat(PeerMetadata.decode(m.encode())).contains(m);
  }

  @Test
  void readsWhatAnIstioSidecarSends() {
    // Envoy's metadata exchange carries more keys; we read the ones we need.
    Struct struct = Struct.newBuilder()
        .putFields("NAME", Value.newBuilder().setStringValue("reviews-v2-5d8f9c7b4-x7k2p").build())
        .putFields("NAMESPACE", Value.newBuilder().setStringValue("bookinfo").build())
        .putFields("CLUSTER_ID", Value.newBuilder().setStringValue("Kubernetes").build())
        .putFields("MESH_ID", Value.newBuilder().setStringValue("cluster.local").build())
        .putFields("LABELS", Value.newBuilder().setStructValue(Struct.newBuilder()
            .putFields("app", Value.newBuilder().setStringValue("reviews").build())
            .putFields("version", Value.newBuilder().setStringValue("v2").build())).build())
        .build();
    String header = Base64.getEncoder().encodeToString(struct.toByteArray());

    PeerMetadata m = PeerMetadata.decode(header).orElseThrow();
    assertThat(m.workload()).isEqualTo("reviews-v2");
    assertThat(m.namespace()).isEqualTo("bookinfo");
    assertThat(m.cluster()).isEqualTo("Kubernetes");
    assertThat(m.app()).isEqualTo("reviews");
    assertThat(m.version()).isEqualTo("v2");
  }

  @Test
  void garbageIsRefusedNotGuessed() {
    assertThat(PeerMetadata.decode("not base64 at all!")).isEmpty();
    assertThat(PeerMetadata.decode(Base64.getEncoder().encodeToString(new byte[] {(byte) 0xff,
        (byte) 0xff, 0x01}))).isEmpty();
    assertThat(PeerMetadata.decode("A".repeat(PeerMetadata.MAX_HEADER_CHARS + 4))).isEmpty();
    assertThat(PeerMetadata.decode(null)).isEmpty();
  }

  @ParameterizedTest
  @CsvSource({
      "helloworld-v1-1a2b3, helloworld-v1",
      "reviews-v2-5d8f9c7b4-x7k2p, reviews-v2",
      "curl, curl",
      "db-0, db-0",
  })
  void workloadNameDropsGeneratedPodSuffixes(String pod, String workload) {
    assertThat(PeerMetadata.workloadOfPod(pod)).isEqualTo(workload);
  }
}
