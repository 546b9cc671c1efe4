package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code --concurrency}: Istio's defaults (2 for a sidecar, one per core for a router). */
class ProxyFlagsConcurrencyTest {

  private static ProxyOptions parse(String forcedType, String... extra) {
    List<String> args = new ArrayList<>(List.of("--pod-ip", "127.0.0.1", "--pod-name", "p-1",
        "--namespace", "ns", "--service-account", "sa", "--cluster", "c", "--network", "n",
        "--root-cert", "root.pem", "--controller", "127.0.0.1:15012", "--token-file", "t"));
    args.addAll(List.of(extra));
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs(args.toArray(String[]::new));
    return main.flags.toOptions(forcedType);
  }

  @Test
  void aSidecarRunsTwoEventLoopsUnlessTold() {
    assertThat(parse(null).concurrency()).isEqualTo(2);
    assertThat(parse(null).eventLoops()).isEqualTo(2);
    assertThat(parse(null, "--concurrency", "1").eventLoops()).isEqualTo(1);
    assertThat(parse(null, "--concurrency", "0").eventLoops())
        .isEqualTo(Runtime.getRuntime().availableProcessors());
  }

  @Test
  void aRouterRunsOneEventLoopPerCoreUnlessTold() {
    assertThat(parse("router").concurrency()).isZero();
    assertThat(parse("router").eventLoops()).isEqualTo(Runtime.getRuntime().availableProcessors());
    assertThat(parse("router", "--concurrency", "3").eventLoops()).isEqualTo(3);
  }

  @Test
  void refusesANegativeConcurrency() {
    assertThatThrownBy(() -> parse(null, "--concurrency", "-1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("concurrency: -1 (expected: >= 0, 0 for one event loop per core)");
  }
}
