package io.isthmus.controller.translate;

import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The demo mesh: east and west on net1, eu on net2. helloworld runs in east (v1, one ready and
 * one not-ready pod) and eu (v2, two ready pods); curl runs in west.
 */
public final class MeshFixture {

    public static final String DOMAIN = "cluster.local";
    public static final String HELLOWORLD = "helloworld.sample.svc.cluster.local";
    public static final String CURL = "curl.sample.svc.cluster.local";
    public static final Locality EAST_LOCALITY = new Locality("us-east", "us-east-1a", "");
    public static final Locality WEST_LOCALITY = new Locality("us-west", "us-west-1a", "");
    public static final Locality EU_LOCALITY = new Locality("eu-west", "eu-west-1a", "");
    public static final List<String> ROOTS = List.of(
            "-----BEGIN CERTIFICATE-----\nRk9SLVRFU1RTLXJvb3QtYQ==\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nRk9SLVRFU1RTLXJvb3QtYg==\n-----END CERTIFICATE-----");

    private static final ServiceKey HELLOWORLD_KEY = new ServiceKey("sample", "helloworld");
    private static final ServiceKey CURL_KEY = new ServiceKey("sample", "curl");
    private static final MeshService HELLOWORLD_SERVICE = new MeshService(HELLOWORLD_KEY, HELLOWORLD,
            List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of("app", "helloworld"), Set.of("*"), false);
    private static final MeshService CURL_SERVICE = new MeshService(CURL_KEY, CURL,
            List.of(new ServicePort("http", 80, 8080, "HTTP")), Map.of("app", "curl"), Set.of("*"), false);

    private MeshFixture() {}

    public static ClusterState east() {
        return new ClusterState("east", "net1", List.of(HELLOWORLD_SERVICE),
                List.of(helloworld("east", "net1", EAST_LOCALITY, "127.101.1.1", "helloworld-v1-east-1", "v1", true),
                        helloworld("east", "net1", EAST_LOCALITY, "127.101.1.2", "helloworld-v1-east-2", "v1", false)),
                List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));
    }

    public static ClusterState west() {
        return new ClusterState("west", "net1", List.of(CURL_SERVICE),
                List.of(new Endpoint(CURL_KEY, "127.102.1.1", Map.of("http", 8080), true, WEST_LOCALITY, "west",
                        "net1", "curl", "curl-west-1", Map.of("app", "curl", "version", "v1"))),
                List.of(new NetworkGateway("net1", "west", "127.102.0.2", 15443)));
    }

    public static ClusterState eu() {
        return new ClusterState("eu", "net2", List.of(HELLOWORLD_SERVICE),
                List.of(helloworld("eu", "net2", EU_LOCALITY, "127.103.1.1", "helloworld-v2-eu-1", "v2", true),
                        helloworld("eu", "net2", EU_LOCALITY, "127.103.1.2", "helloworld-v2-eu-2", "v2", true)),
                List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443)));
    }

    public static FederatedState state() {
        return state(east(), west(), eu());
    }

    public static FederatedState state(ClusterState east, ClusterState west, ClusterState eu) {
        return new FederatedState(7,
                Map.of("east", new ClusterInfo("east", "net1", EAST_LOCALITY, "127.101.0.1:15012"),
                        "west", new ClusterInfo("west", "net1", WEST_LOCALITY, "127.102.0.1:15012"),
                        "eu", new ClusterInfo("eu", "net2", EU_LOCALITY, "127.103.0.1:15012")),
                Map.of("east", east, "west", west, "eu", eu),
                ROOTS);
    }

    public static ProxyNode westCurlSidecar() {
        return new ProxyNode("sidecar~127.102.1.1~curl-west-1.sample~sample.svc.cluster.local", ProxyType.SIDECAR,
                "127.102.1.1", "curl-west-1", "sample", "curl", "west", "net1", WEST_LOCALITY,
                Map.of("app", "curl", "version", "v1"));
    }

    public static ProxyNode euHelloworldSidecar() {
        return new ProxyNode("sidecar~127.103.1.1~helloworld-v2-eu-1.sample~sample.svc.cluster.local",
                ProxyType.SIDECAR, "127.103.1.1", "helloworld-v2-eu-1", "sample", "helloworld", "eu", "net2",
                EU_LOCALITY, Map.of("app", "helloworld", "version", "v2"));
    }

    public static ProxyNode gateway(String cluster, String network, String address, Locality locality) {
        return new ProxyNode("router~" + address + "~istio-eastwestgateway-" + cluster
                        + ".istio-system~istio-system.svc.cluster.local", ProxyType.ROUTER, address,
                "istio-eastwestgateway-" + cluster, "istio-system", "istio-eastwestgateway", cluster, network,
                locality, Map.of("istio", "eastwestgateway"));
    }

    public static ProxyNode euGateway() {
        return gateway("eu", "net2", "127.103.0.2", EU_LOCALITY);
    }

    public static MeshView viewOf(FederatedState state, ProxyNode node) {
        return MeshView.of(state, node.viewpoint(), DOMAIN, DOMAIN);
    }

    public static ProxyResources translate(FederatedState state, ProxyNode node) {
        return XdsTranslator.translate(viewOf(state, node), node, state.trustRootsPem());
    }

    private static Endpoint helloworld(String cluster, String network, Locality locality, String ip, String pod,
            String version, boolean ready) {
        return new Endpoint(HELLOWORLD_KEY, ip, Map.of("http", 5000), ready, locality, cluster, network, "helloworld",
                pod, Map.of("app", "helloworld", "version", version));
    }
}
