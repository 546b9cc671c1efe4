package io.isthmus.topologies;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.DataPlaneJvm;
import io.isthmus.topologies.bench.BenchOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The launcher starts the sidecars and gateways as production runs them (the flags the bench
 * measures and the images carry), and every other child small.
 */
class LocalMeshOptionsTest {

  @Test
  void everyChildRunsTheSmallFlagsByDefaultAndTheDataPlaneMayRunTheProductionOnes() {
    LocalMeshOptions o = LocalMeshOptions.defaults(Path.of("/tmp/run"))
        .withProgress(line -> {}).withReadyTimeout(Duration.ofSeconds(5)).withTracing("h:4317", 5);

    assertThat(o.jvmOptionsFor(LocalMesh.PROXY_MAIN)).isEqualTo(LocalMeshOptions.SMALL_JVM);
    assertThat(o.jvmOptionsFor(LocalMesh.GATEWAY_MAIN)).isEqualTo(LocalMeshOptions.SMALL_JVM);

    LocalMeshOptions production = o.withDataPlaneJvmOptions(DataPlaneJvm.local());
    assertThat(production.jvmOptionsFor(LocalMesh.PROXY_MAIN)).isEqualTo(DataPlaneJvm.local())
        .isEqualTo(BenchOptions.PROXY_JVM).noneMatch(f -> f.startsWith("-XX:TieredStopAtLevel"));
    assertThat(production.jvmOptionsFor(LocalMesh.GATEWAY_MAIN)).isEqualTo(DataPlaneJvm.local());
    assertThat(production.withTracing("h:4317", 1).jvmOptionsFor(LocalMesh.CONTROLLER_MAIN))
        .isEqualTo(LocalMeshOptions.SMALL_JVM);
  }

  @Test
  void aTestMayRunTheDataPlaneSmallToo() {
    LocalMeshOptions o = LocalMeshOptions.defaults(Path.of("/tmp/run"))
        .withDataPlaneJvmOptions(List.of("-Xmx96m"));

    assertThat(o.jvmOptionsFor(LocalMesh.PROXY_MAIN)).containsExactly("-Xmx96m");
    assertThat(o.withReadyTimeout(Duration.ofSeconds(1)).dataPlaneJvmOptions())
        .containsExactly("-Xmx96m");
  }
}
