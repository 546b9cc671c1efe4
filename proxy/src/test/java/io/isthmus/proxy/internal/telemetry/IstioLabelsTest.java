package io.isthmus.proxy.internal.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.internal.telemetry.IstioLabels.Reporter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class IstioLabelsTest {

  private static final PeerMetadata CURL =
      new PeerMetadata("curl-1a2b3", "sample", "west", "curl", "curl", "v1");
  private static final PeerMetadata HELLO =
      new PeerMetadata("helloworld-v2-9f8e7", "sample", "eu", "helloworld-v2", "helloworld", "v2");

  @Test
  void destinationReporterCarriesBothPeersAndMutualTls() {
    IstioLabels labels = IstioLabels.of(Reporter.DESTINATION, CURL,
        "spiffe://cluster.local/ns/sample/sa/curl", HELLO,
        "spiffe://cluster.local/ns/sample/sa/helloworld",
        "helloworld.sample.svc.cluster.local:5000", "http", 200, "", "-", "mutual_tls");

    assertThat(asMap(labels)).containsExactlyEntriesOf(ordered(
        "reporter", "destination",
        "source_workload", "curl",
        "source_workload_namespace", "sample",
        "source_principal", "spiffe://cluster.local/ns/sample/sa/curl",
        "source_app", "curl",
        "source_version", "v1",
        "source_cluster", "west",
        "destination_workload", "helloworld-v2",
        "destination_workload_namespace", "sample",
        "destination_principal", "spiffe://cluster.local/ns/sample/sa/helloworld",
        "destination_app", "helloworld",
        "destination_version", "v2",
        "destination_service", "helloworld.sample.svc.cluster.local",
        "destination_service_name", "helloworld",
        "destination_service_namespace", "sample",
        "destination_cluster", "eu",
        "request_protocol", "http",
        "response_code", "200",
        "grpc_response_status", "",
        "response_flags", "-",
        "connection_security_policy", "mutual_tls"));
  }

  @Test
  void unknownPeersAndEmptyValuesBecomeUnknown() {
    IstioLabels labels = IstioLabels.of(Reporter.SOURCE, CURL, "", PeerMetadata.UNKNOWN, null,
        null, "grpc", 0, "14", "", null);

    Map<String, String> m = asMap(labels);
    assertThat(m).containsEntry("destination_workload", "unknown")
        .containsEntry("destination_cluster", "unknown")
        .containsEntry("destination_service", "unknown")
        .containsEntry("source_principal", "unknown")
        .containsEntry("response_code", "0")
        .containsEntry("grpc_response_status", "14")
        .containsEntry("response_flags", "-")
        .containsEntry("connection_security_policy", "unknown");
  }

  @ParameterizedTest
  @CsvSource({
      "helloworld.sample.svc.cluster.local:5000, helloworld.sample.svc.cluster.local, helloworld, sample",
      "helloworld.sample:5000, helloworld.sample, helloworld, sample",
      "helloworld, helloworld, helloworld, unknown",
      "www.example.com:443, www.example.com, www, unknown",
      "10.1.2.3:8080, 10.1.2.3, 10.1.2.3, unknown",
      "'[::1]:80', '[::1]', '[::1]', unknown",
  })
  void serviceNameAndNamespaceComeFromTheHost(String authority, String host, String name,
      String namespace) {
    IstioLabels labels = IstioLabels.of(Reporter.SOURCE, CURL, "p", HELLO, "p", authority,
        "http", 200, "", "-", "unknown");
    assertThat(labels.destinationService()).isEqualTo(host);
    assertThat(labels.destinationServiceName()).isEqualTo(name);
    assertThat(labels.destinationServiceNamespace()).isEqualTo(namespace);
  }

  @Test
  void hugeValuesAreCut() {
    String host = "a".repeat(10_000) + ".sample.svc.cluster.local";
    IstioLabels labels = IstioLabels.of(Reporter.SOURCE, CURL, "p", HELLO, "p", host, "http",
        200, "", "-", "unknown");
    assertThat(labels.destinationService()).hasSize(IstioLabels.MAX_VALUE_CHARS);
  }

  @Test
  void tcpTagsHaveNoResponseCodeOrGrpcStatus() {
    IstioLabels labels = IstioLabels.of(Reporter.SOURCE, CURL, "p", HELLO, "p", "h", "tcp", 0,
        "", "-", "unknown");
    assertThat(labels.tcpTags().stream().map(t -> t.getKey()).toList())
        .hasSize(IstioLabels.NAMES.size() - 2)
        .doesNotContain("response_code", "grpc_response_status");
  }

  @Test
  void overflowKeepsReporterStatusAndFlagsOnly() {
    IstioLabels labels = IstioLabels.of(Reporter.SOURCE, CURL, "p", HELLO, "p", "h", "http", 503,
        "", "UH", "unknown").overflow();
    assertThat(labels.reporter()).isEqualTo("source");
    assertThat(labels.responseCode()).isEqualTo("503");
    assertThat(labels.responseFlags()).isEqualTo("UH");
    assertThat(labels.sourceWorkload()).isEqualTo(IstioLabels.OVERFLOW);
    assertThat(labels.destinationService()).isEqualTo(IstioLabels.OVERFLOW);
  }

  private static Map<String, String> asMap(IstioLabels labels) {
    Map<String, String> m = new LinkedHashMap<>();
    List<String> values = labels.values();
    for (int i = 0; i < IstioLabels.NAMES.size(); i++) {
      m.put(IstioLabels.NAMES.get(i), values.get(i));
    }
    return m;
  }

  private static Map<String, String> ordered(String... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }
}
