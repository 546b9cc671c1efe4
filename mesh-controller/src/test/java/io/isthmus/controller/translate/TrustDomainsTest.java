package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.MeshSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Trust-domain aliases in AuthorizationPolicy principals, as istiod's
 * {@code ReplaceTrustDomainAliases}: a table of "principals → what the RBAC filter matches", the
 * mesh config fields that set them, and the RBAC filter a sidecar gets.
 */
class TrustDomainsTest {

    static Stream<Arguments> expansions() {
        return Stream.of(
                // No aliases, local domain cluster.local: as written.
                Arguments.of("cluster.local", List.of(), List.of("cluster.local/ns/a/sa/b"),
                        List.of("cluster.local/ns/a/sa/b")),
                Arguments.of("td-new", List.of("td-old"), List.of("td-old/ns/a/sa/b"),
                        List.of("td-new/ns/a/sa/b", "td-old/ns/a/sa/b")),
                Arguments.of("td-new", List.of("td-old"), List.of("td-new/ns/a/sa/b"),
                        List.of("td-new/ns/a/sa/b", "td-old/ns/a/sa/b")),
                // cluster.local stands for the local domain and its aliases.
                Arguments.of("td-new", List.of("td-old"), List.of("cluster.local/ns/a/sa/b"),
                        List.of("td-new/ns/a/sa/b", "td-old/ns/a/sa/b")),
                Arguments.of("td-new", List.of(), List.of("cluster.local/ns/a/sa/b"),
                        List.of("td-new/ns/a/sa/b")),
                Arguments.of("cluster.local", List.of("old.example.com"), List.of("cluster.local/ns/x/sa/y"),
                        List.of("cluster.local/ns/x/sa/y", "old.example.com/ns/x/sa/y")),
                // A foreign domain is left as written.
                Arguments.of("td-new", List.of("td-old"), List.of("other/ns/a/sa/b"), List.of("other/ns/a/sa/b")),
                // No trust domain to enforce: *, */ns/..., and what is not a SPIFFE path.
                Arguments.of("td-new", List.of("td-old"), List.of("*", "*/ns/a/sa/b", "ns/a/sa/b"),
                        List.of("*", "*/ns/a/sa/b", "ns/a/sa/b")),
                // A wildcard domain in the policy keeps its form where it matches, and is not duplicated.
                Arguments.of("old-td", List.of("new-td"), List.of("*-td/ns/a/sa/b"), List.of("*-td/ns/a/sa/b")),
                Arguments.of("td-new", List.of("td-old", "td-older"), List.of("td-old/ns/a/sa/b", "x/ns/a/sa/c"),
                        List.of("td-new/ns/a/sa/b", "td-old/ns/a/sa/b", "td-older/ns/a/sa/b", "x/ns/a/sa/c")));
    }

    @ParameterizedTest(name = "{0} + {1}: {2} -> {3}")
    @MethodSource("expansions")
    void principalsMatchInEveryAlias(String trustDomain, List<String> aliases, List<String> principals,
            List<String> expected) {
        assertThat(TrustDomains.of(trustDomain, aliases).expand(principals)).containsExactlyElementsOf(expected);
    }

    @Test
    void noneLeavesPrincipalsAlone() {
        assertThat(TrustDomains.NONE.expand(List.of("cluster.local/ns/a/sa/b"))).containsExactly("cluster.local/ns/a/sa/b");
        assertThatThrownBy(() -> TrustDomains.of("a/b", List.of())).hasMessageContaining("trust domain: 'a/b'");
    }

    @Test
    void meshConfigSetsTheTrustDomainAndAliases() throws Exception {
        MeshSettings settings = MeshSettings.parse("trustDomain: td-new\ntrustDomainAliases: [td-old, legacy.example]\n");
        assertThat(settings.trustDomain()).isEqualTo("td-new");
        assertThat(settings.trustDomainAliases()).containsExactly("td-old", "legacy.example");
        assertThat(settings.withMoreTrustDomainAliases(List.of("flag.example")).trustDomainAliases())
                .containsExactly("td-old", "legacy.example", "flag.example");
        assertThat(MeshSettings.parse("").trustDomain()).isEmpty();
        assertThatThrownBy(() -> MeshSettings.parse("trustDomainAliases: old.example\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("trustDomainAliases: 'old.example' (expected: a list");
        assertThatThrownBy(() -> MeshSettings.parse("trustDomain: [a]\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("trustDomain: '[a]'");
    }

    @Test
    void theSidecarsRbacFilterMatchesThePrincipalInEachAlias() throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-curl}
                spec:
                  selector: {matchLabels: {app: helloworld}}
                  action: ALLOW
                  rules:
                  - from:
                    - source: {principals: [cluster.local/ns/sample/sa/curl]}
                    when:
                    - {key: source.principal, notValues: [cluster.local/ns/sample/sa/banned]}
                """;
        ProxyNode node = MeshFixture.euHelloworldSidecar();
        MeshPolicies plain = PolicyFixture.policies(yaml);
        MeshPolicies aliased = new MeshPolicies(plain.config(), plain.state(), plain.domainSuffix(), Map.of(),
                TrustDomains.of("cluster.local", List.of("old.example.com")));
        assertThat(exactPrincipals(translate(node, plain))).containsExactlyInAnyOrder(
                "spiffe://cluster.local/ns/sample/sa/curl", "spiffe://cluster.local/ns/sample/sa/banned");
        assertThat(exactPrincipals(translate(node, aliased))).containsExactlyInAnyOrder(
                "spiffe://cluster.local/ns/sample/sa/curl", "spiffe://old.example.com/ns/sample/sa/curl",
                "spiffe://cluster.local/ns/sample/sa/banned", "spiffe://old.example.com/ns/sample/sa/banned");
    }

    private static ProxyResources translate(ProxyNode node, MeshPolicies policies) {
        return XdsTranslator.translate(MeshFixture.viewOf(MeshFixture.state(), node), node, MeshFixture.ROOTS, policies);
    }

    /** Every exact principal_name in the sidecar's inbound RBAC filters. */
    private static List<String> exactPrincipals(ProxyResources r) throws Exception {
        Listener inbound = r.listeners().stream().filter(l -> l.getName().equals("virtualInbound")).findFirst()
                .orElseThrow();
        List<String> out = new ArrayList<>();
        HttpConnectionManager hcm = inbound.getFilterChains(0).getFilters(0).getTypedConfig()
                .unpack(HttpConnectionManager.class);
        for (var filter : hcm.getHttpFiltersList()) {
            if (filter.getName().equals("envoy.filters.http.rbac")) {
                RBAC rbac = filter.getTypedConfig().unpack(RBAC.class);
                rbac.getRules().getPoliciesMap().values().forEach(p -> p.getPrincipalsList()
                        .forEach(principal -> collect(principal, out)));
            }
        }
        return out;
    }

    private static void collect(io.envoyproxy.envoy.config.rbac.v3.Principal p, List<String> out) {
        switch (p.getIdentifierCase()) {
            case AUTHENTICATED -> {
                var m = p.getAuthenticated().getPrincipalName();
                if (!m.getExact().isEmpty()) {
                    out.add(m.getExact());
                }
            }
            case AND_IDS -> p.getAndIds().getIdsList().forEach(x -> collect(x, out));
            case OR_IDS -> p.getOrIds().getIdsList().forEach(x -> collect(x, out));
            case NOT_ID -> collect(p.getNotId(), out);
            default -> { }
        }
    }
}
