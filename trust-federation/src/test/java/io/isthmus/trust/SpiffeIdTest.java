package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SpiffeIdTest {

    @Test
    void parsesAndPrintsIstioIdentity() {
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/sample/sa/helloworld");
        assertThat(id).isEqualTo(SpiffeId.of("cluster.local", "sample", "helloworld"));
        assertThat(id.uri()).isEqualTo("spiffe://cluster.local/ns/sample/sa/helloworld");
        assertThat(id).hasToString(id.uri());
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
        "https://cluster.local/ns/a/sa/b | scheme spiffe",
        "SPIFFE://cluster.local/ns/a/sa/b | lowercase scheme",
        "spiffe://cluster.local | a path",
        "spiffe://cluster.local/ns/a | /ns/<namespace>/sa/<service-account>",
        "spiffe://cluster.local/ns/a/sa/b/extra | /ns/<namespace>/sa/<service-account>",
        "spiffe://cluster.local/sa/a/ns/b | /ns/<namespace>/sa/<service-account>",
        "spiffe://cluster.local/ns//sa/b | namespace is empty",
        "spiffe:///ns/a/sa/b | trust domain is empty",
        "spiffe://Cluster.Local/ns/a/sa/b | trust domain",
        "spiffe://cluster.local:443/ns/a/sa/b | trust domain",
        "spiffe://user@cluster.local/ns/a/sa/b | trust domain",
        "spiffe://cluster.local/ns/../sa/b | not '.' or '..'",
        "spiffe://cluster.local/ns/a%2Fb/sa/b | namespace",
        "spiffe://cluster.local/ns/a/sa/b?x=1 | serviceAccount",
        "spiffe://cluster.local/ns/a/sa/b#f | serviceAccount",
    })
    void rejectsMalformedIds(String uri, String expectedMessagePart) {
        assertThatThrownBy(() -> SpiffeId.parse(uri))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(expectedMessagePart);
    }

    @Test
    void rejectsControlCharactersAndEscapesThemInTheMessage() {
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a\u0000b/sa/c"))
                .hasMessageContaining("control character 0x0")
                .hasMessageContaining("\\x00")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\u0000"));
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b\n"))
                .hasMessageContaining("control character");
    }

    @Test
    void rejectsOverlongIds() {
        String longSa = "a".repeat(SpiffeId.MAX_LENGTH);
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a/sa/" + longSa))
                .hasMessageContaining("length");
        assertThatThrownBy(() -> SpiffeId.of("cluster.local", "a", longSa)).hasMessageContaining("length");
    }
}
