package io.isthmus.controller.translate;

import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.discovery.FederatedState;
import java.util.Map;

/**
 * Istio objects, as YAML applied in {@code west} (namespace {@code sample} where they name none),
 * translated for a proxy of the demo mesh ({@link MeshFixture}): the one path from YAML to
 * {@link ProxyResources} that the translator tests share, so each states only its objects and what
 * it reads back.
 */
final class PolicyFixture {

    /** The creation time every object gets: a fixed one, so the golden files stay stable. */
    static final String CREATED = "2026-11-27T00:00:00Z";

    private PolicyFixture() {}

    /** The objects of {@code yaml} as west's mesh config (parse problems are kept in it). */
    static MeshConfig config(String yaml) {
        return MeshConfig.merge(Map.of("west", Yaml.resources(yaml, "sample", CREATED)), MeshFixture.DOMAIN);
    }

    /** {@code yaml}'s policies over the demo mesh. */
    static MeshPolicies policies(String yaml) {
        return policies(MeshFixture.state(), yaml);
    }

    static MeshPolicies policies(FederatedState state, String yaml) {
        return new MeshPolicies(config(yaml), state, MeshFixture.DOMAIN);
    }

    /** What {@code node} gets from the demo mesh with {@code yaml}'s policies. */
    static ProxyResources translate(ProxyNode node, String yaml) {
        return translate(node, policies(yaml));
    }

    static ProxyResources translate(FederatedState state, ProxyNode node, String yaml) {
        return translate(node, policies(state, yaml));
    }

    /** What {@code node} gets from {@code policies}' mesh state, viewed from where it runs. */
    static ProxyResources translate(ProxyNode node, MeshPolicies policies) {
        return XdsTranslator.translate(MeshFixture.viewOf(policies.state(), node), node, MeshFixture.ROOTS,
                policies);
    }

    /** The virtual host for {@code domain} in route configuration {@code routeConfig} of {@code r}. */
    static VirtualHost virtualHost(ProxyResources r, String routeConfig, String domain) {
        return r.routes().stream().filter(c -> c.getName().equals(routeConfig)).findFirst()
                .orElseThrow(() -> new AssertionError("no route configuration " + routeConfig))
                .getVirtualHostsList().stream().filter(v -> v.getDomainsList().contains(domain)).findFirst()
                .orElseThrow(() -> new AssertionError("no virtual host for " + domain + " in " + routeConfig));
    }

    /** helloworld's virtual host on port 5000, as west's curl sidecar routes it. */
    static VirtualHost helloworld(ProxyResources r) {
        return virtualHost(r, "5000", "helloworld:5000");
    }
}
