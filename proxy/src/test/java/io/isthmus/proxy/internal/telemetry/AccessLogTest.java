package io.isthmus.proxy.internal.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class AccessLogTest {

  private static final AccessLogEntry ENTRY = new AccessLogEntry(
      Instant.parse("2026-11-27T05:10:00.123Z"), "GET", "/hello?x=1", "HTTP/1.1", 503, "UF,URX",
      null, 0, 91, 12, null, "curl/8.0", "7f9e-req", "helloworld.sample.svc.cluster.local:5000",
      "127.101.1.1:5000", "outbound|5000||helloworld.sample.svc.cluster.local", null,
      "127.102.2.1:15001", "127.102.2.1:40000", null, null, null);

  @Test
  void textIsIstiosDefaultFormat() {
    assertThat(ENTRY.text()).isEqualTo("[2026-11-27T05:10:00.123Z] \"GET /hello?x=1 HTTP/1.1\" "
        + "503 UF,URX - - \"-\" 0 91 12 - \"-\" \"curl/8.0\" \"7f9e-req\" "
        + "\"helloworld.sample.svc.cluster.local:5000\" \"127.101.1.1:5000\" "
        + "outbound|5000||helloworld.sample.svc.cluster.local - 127.102.2.1:15001 "
        + "127.102.2.1:40000 - -");
  }

  @Test
  void jsonUsesIstiosKeys() {
    JsonNode json = JsonMapper.builder().build().readTree(ENTRY.json());
    assertThat(json.get("response_code").asInt()).isEqualTo(503);
    assertThat(json.get("response_flags").asText()).isEqualTo("UF,URX");
    assertThat(json.get("upstream_cluster").asText())
        .isEqualTo("outbound|5000||helloworld.sample.svc.cluster.local");
    assertThat(json.get("authority").asText()).isEqualTo("helloworld.sample.svc.cluster.local:5000");
    assertThat(json.get("x_forwarded_for").isNull()).isTrue();
  }

  @Test
  void writesOneLinePerEntryToAFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("logs/access.log");
    try (AccessLog log = AccessLog.open(file.toString(), AccessLog.Format.JSON,
        new SimpleMeterRegistry())) {
      log.log(ENTRY);
      log.log(ENTRY);
    }
    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(2).allSatisfy(l -> assertThat(l).startsWith("{\"start_time\""));
  }

  @Test
  void offAndBadTargetsAreClear(@TempDir Path dir) throws Exception {
    assertThat(AccessLog.open("off", AccessLog.Format.TEXT, new SimpleMeterRegistry()).enabled())
        .isFalse();
    Path notADir = Files.writeString(dir.resolve("file"), "x");
    assertThatThrownBy(() -> AccessLog.open(notADir.resolve("a.log").toString(),
        AccessLog.Format.TEXT, new SimpleMeterRegistry()))
        .hasMessageContaining("--access-log").hasMessageContaining("a.log");
    assertThatThrownBy(() -> AccessLog.Format.parse("xml"))
        .hasMessageContaining("expected: text or json");
  }
}
