package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The container images run the same data-plane JVM as the launcher and the bench: each image's
 * Jib {@code jvmFlags} are {@link DataPlaneJvm#container()}, in order.
 */
class DataPlaneJvmTest {

  private static final Pattern FLAG = Pattern.compile("<jvmFlag>([^<]*)</jvmFlag>");

  @ParameterizedTest
  @ValueSource(strings = {"pom.xml", "../east-west-gateway/pom.xml"})
  void theImageRunsTheDataPlaneFlags(String pom) throws IOException {
    String xml = Files.readString(Path.of(pom));
    List<String> flags = new ArrayList<>();
    Matcher m = FLAG.matcher(xml);
    while (m.find()) {
      flags.add(m.group(1).trim());
    }
    assertThat(flags).as(pom + " jib jvmFlags").isEqualTo(DataPlaneJvm.container());
  }

  @org.junit.jupiter.api.Test
  void containerAndLocalDifferOnlyInTheHeap() {
    assertThat(DataPlaneJvm.local()).startsWith(DataPlaneJvm.FLAGS.toArray(String[]::new))
        .endsWith(DataPlaneJvm.LOCAL_HEAP.toArray(String[]::new));
    assertThat(DataPlaneJvm.container()).startsWith(DataPlaneJvm.FLAGS.toArray(String[]::new))
        .endsWith(DataPlaneJvm.CONTAINER_HEAP.toArray(String[]::new));
    assertThat(String.join(" ", DataPlaneJvm.local())).doesNotContain("TieredStopAtLevel");
  }
}
