package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.proxy.grpc.GrpcAgentOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code isthmus-grpc-agent}'s flags become the agent's options; bad values are named. */
class GrpcAgentMainTest {

  private static final String[] REQUIRED = {"--pod-ip", "10.0.0.7", "--pod-name", "client-1",
      "--namespace", "sample", "--service-account", "client", "--cluster", "east", "--xds",
      "istiod.istio-system.svc:15010", "--ca", "istiod.istio-system.svc:15012", "--root-cert",
      "/etc/istio/root-cert.pem", "--token-file", "/var/run/secrets/tokens/istio-token", "--out-dir",
      "/var/lib/istio/data"};

  @Test
  void flagsBecomeOptionsWithIstiosDefaults() {
    GrpcAgentMain main = new GrpcAgentMain();
    String[] args = concat(REQUIRED, "--locality", "us-east/us-east-1a", "--labels", "app=client,version=v1",
        "--cert-ttl", "12h");
    new CommandLine(main).parseArgs(args);
    GrpcAgentOptions options = main.options();
    assertThat(options.identity().uri()).isEqualTo("spiffe://cluster.local/ns/sample/sa/client");
    assertThat(options.nodeId()).isEqualTo("sidecar~10.0.0.7~client-1.sample~sample.svc.cluster.local");
    assertThat(options.labels()).isEqualTo(Map.of("app", "client", "version", "v1"));
    assertThat(options.certTtl()).isEqualTo(Duration.ofHours(12));
    assertThat(options.refreshInterval()).isEqualTo(Duration.ofSeconds(60));
    assertThat(options.outputDir()).isEqualTo(Path.of("/var/lib/istio/data"));
  }

  @Test
  void aBadAddressIsNamed() {
    GrpcAgentMain main = new GrpcAgentMain();
    String[] args = REQUIRED.clone();
    args[11] = "istiod";
    new CommandLine(main).parseArgs(args);
    assertThatThrownBy(main::options).hasMessage("xdsServer: 'istiod' (expected: host:port)");
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
