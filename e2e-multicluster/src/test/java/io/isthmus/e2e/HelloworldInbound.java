package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.translate.MeshPolicies;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyResources;
import io.isthmus.controller.translate.ProxyType;
import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.MappingIterator;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The policy tables' controller side: Istio YAML parsed and validated by the controller's config
 * package, then translated by {@link XdsTranslator} for helloworld's sidecar (cluster east,
 * namespace sample, labels app=helloworld, version=v1, port 5000) into the inbound connection
 * manager the proxy compiles.
 */
final class HelloworldInbound {

    private static final String DOMAIN = "cluster.local";
    private static final Locality EAST = new Locality("us-east", "us-east-1a", "");
    private static final ServiceKey HELLOWORLD = new ServiceKey("sample", "helloworld");
    private static final FederatedState STATE = new FederatedState(1,
            Map.of("east", new ClusterInfo("east", "net1", EAST, "127.0.0.1:15012")),
            Map.of("east", new ClusterState("east", "net1",
                    List.of(new MeshService(HELLOWORLD, "helloworld.sample.svc.cluster.local",
                            List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of("app", "helloworld"),
                            Set.of("*"), false)),
                    List.of(new Endpoint(HELLOWORLD, "127.0.1.1", Map.of("http", 5000), true, EAST, "east", "net1",
                            "helloworld", "helloworld-1", Map.of("app", "helloworld", "version", "v1"))),
                    List.of())),
            List.of());
    private static final ProxyNode NODE = new ProxyNode("sidecar~127.0.1.1~helloworld-1.sample~sample.svc.cluster.local",
            ProxyType.SIDECAR, "127.0.1.1", "helloworld-1", "sample", "helloworld", "east", "net1", EAST,
            Map.of("app", "helloworld", "version", "v1"));

    private HelloworldInbound() {}

    /** One YAML document of {@code kind}, created at a fixed time, ending with {@code ---}. */
    static String object(String apiVersion, String kind, String ns, String name, String spec) {
        return "apiVersion: " + apiVersion + "\nkind: " + kind + "\nmetadata: {name: " + name
                + ", namespace: " + ns + ", creationTimestamp: '2026-11-27T00:00:00Z'}\nspec:\n" + spec.indent(2)
                + "---\n";
    }

    /** The inbound connection manager for the objects in {@code yaml}, which must all be valid. */
    static HttpConnectionManager connectionManager(String yaml) {
        return connectionManager(yaml, null);
    }

    /**
     * As {@link #connectionManager(String)}, with the JWKS documents the controller's JwksFetcher
     * would have fetched, by URI.
     */
    static HttpConnectionManager connectionManager(String yaml, Map<String, String> fetchedJwks) {
        List<ConfigResource> resources = new ArrayList<>();
        try (MappingIterator<Object> docs = new YAMLMapper().readerFor(Object.class).readValues(yaml)) {
            while (docs.hasNext()) {
                if (docs.next() instanceof Map<?, ?> doc && !doc.isEmpty()) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> object = (Map<String, Object>) doc;
                    resources.add(ConfigResource.fromObject(object, "sample"));
                }
            }
        }
        MeshConfig config = MeshConfig.merge(Map.of("east", resources), DOMAIN);
        assertThat(config.problems()).as("every object valid").isEmpty();
        MeshPolicies policies = fetchedJwks == null
                ? new MeshPolicies(config, STATE, DOMAIN)
                : new MeshPolicies(config, STATE, DOMAIN, fetchedJwks);
        ProxyResources r = XdsTranslator.translate(MeshView.of(STATE, NODE.viewpoint(), DOMAIN, DOMAIN), NODE,
                List.of(), policies);
        Listener inbound = r.listeners().stream().filter(l -> l.getName().equals("virtualInbound")).findFirst()
                .orElseThrow();
        try {
            return inbound.getFilterChains(0).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }
}
