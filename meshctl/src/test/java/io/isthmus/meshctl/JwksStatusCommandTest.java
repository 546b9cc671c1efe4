package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.JwksFetcher;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code jwks-status} shows each key source's issuers, key count, last success, next refresh and
 * last error, from the controller's {@code /debug/jwks} (rendered here from the controller's own
 * {@link JwksFetcher.Status} records, so a renamed field breaks this test).
 */
class JwksStatusCommandTest {

    @Test
    void showsEverySourceWithItsKeysAndErrors() {
        Instant success = Instant.parse("2026-11-27T14:00:00Z");
        String doc = JsonMapper.builder().build().writeValueAsString(Map.of("sources", List.of(
                new JwksFetcher.Status("https://issuer.example.com/keys", List.of("https://issuer.example.com"),
                        true, 2, success, "", success.plusSeconds(1200)),
                new JwksFetcher.Status("https://down.example.com/.well-known/openid-configuration",
                        List.of("https://down.example.com"), false, 0, null,
                        "https://down.example.com/.well-known/openid-configuration answered 503", null))));
        try (FakeAdminServer east = new FakeAdminServer().page("/debug/jwks", doc)) {
            CliRunner r = CliRunner.run("jwks-status", "--controller", east.address());

            assertThat(r.code).as(r.err()).isZero();
            assertThat(r.out()).containsPattern("SOURCE\\s+ISSUERS\\s+KEYS\\s+LAST SUCCESS\\s+NEXT REFRESH\\s+LAST ERROR");
            assertThat(r.out()).containsPattern("https://issuer\\.example\\.com/keys\\s+https://issuer\\.example\\.com"
                    + "\\s+2\\s+2026-11-27T14:00:00Z\\s+2026-11-27T14:20:00Z\\s+-");
            assertThat(r.out()).containsPattern("openid-configuration\\s+https://down\\.example\\.com\\s+none\\s+-\\s+-"
                    + "\\s+https://down\\.example\\.com/\\.well-known/openid-configuration answered 503");
        }
    }

    @Test
    void anUnreachableControllerIsAFailure() {
        CliRunner r = CliRunner.run("jwks-status", "--controller", "127.0.0.1:1");
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err()).contains("127.0.0.1:1");
    }
}
