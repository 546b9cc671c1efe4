package io.isthmus.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The multi-cluster services API (KEP-1645) in the merge: {@code *.svc.clusterset.local} hosts. */
class ClusterSetViewTest {

    private static final ServiceKey HELLO = new ServiceKey("sample", "helloworld");
    private static final String LOCAL_HOST = "helloworld.sample.svc.cluster.local";
    private static final String CLUSTERSET_HOST = "helloworld.sample.svc.clusterset.local";
    private static final Locality EAST = new Locality("us-east", "us-east-1a", "");
    private static final Locality WEST = new Locality("us-west", "us-west-1a", "");
    private static final Locality EU = new Locality("eu-west", "eu-west-1a", "");

    /**
     * helloworld runs in east, west (net1) and eu (net2); {@code exporters} (space separated) have a
     * ServiceExport for it.
     */
    private static FederatedState mesh(String exporters) {
        Set<String> exporting = exporters.isBlank() ? Set.of() : Set.of(exporters.split(" "));
        Map<String, ClusterState> states = new HashMap<>();
        states.put("east", cluster("east", "net1", EAST, "127.101.1.1", exporting.contains("east")));
        states.put("west", cluster("west", "net1", WEST, "127.102.1.1", exporting.contains("west")));
        states.put("eu", cluster("eu", "net2", EU, "127.103.1.1", exporting.contains("eu")));
        return new FederatedState(3, Map.of(), states, List.of());
    }

    private static ClusterState cluster(String name, String network, Locality locality, String address,
            boolean exported) {
        MeshService service = new MeshService(HELLO, LOCAL_HOST, List.of(new ServicePort("http", 5000, 5000, "HTTP")),
                Map.of("app", "helloworld"), Set.of("*"), false, exported);
        Endpoint endpoint = new Endpoint(HELLO, address, Map.of("http", 5000), true, locality, name, network,
                "helloworld", "helloworld-" + name, Map.of("app", "helloworld"));
        String gateway = address.substring(0, address.lastIndexOf('.', address.lastIndexOf('.') - 1)) + ".0.2";
        return new ClusterState(name, network, List.of(service), List.of(endpoint),
                List.of(new NetworkGateway(network, name, gateway, 15443)));
    }

    @ParameterizedTest(name = "exported by [{0}], seen from {1}, mcsClusterLocal={2}")
    @CsvSource(delimiter = '|', value = {
        // exporters  | viewer | mcsClusterLocal | clusterset.local: clusters -> endpoints         | cluster.local: endpoints
        "east         | west   | false | east -> 127.101.1.1:5000                       | 127.101.1.1:5000 127.102.1.1:5000 127.103.0.2:15443",
        "east eu      | west   | false | east eu -> 127.101.1.1:5000 127.103.0.2:15443  | 127.101.1.1:5000 127.102.1.1:5000 127.103.0.2:15443",
        "eu           | east   | false | eu -> 127.103.0.2:15443                        | 127.101.1.1:5000 127.102.1.1:5000 127.103.0.2:15443",
        "west         | eu     | false | west -> 127.102.0.2:15443                      | 127.103.1.1:5000 127.101.0.2:15443 127.102.0.2:15443",
        // the viewer's own cluster does not export: its endpoints are not in the clusterset host
        "east eu      | east   | false | east eu -> 127.101.1.1:5000 127.103.0.2:15443  | 127.101.1.1:5000 127.102.1.1:5000 127.103.0.2:15443",
        // ENABLE_MCS_CLUSTER_LOCAL: cluster.local is the viewer's own cluster only
        "east eu      | west   | true  | east eu -> 127.101.1.1:5000 127.103.0.2:15443  | 127.102.1.1:5000",
        "east eu      | eu     | true  | east eu -> 127.103.1.1:5000 127.101.0.2:15443  | 127.103.1.1:5000",
    })
    void theClusterSetHostHasExactlyTheExportingClusters(String exporters, String viewer, boolean mcsClusterLocal,
            String clusterSet, String local) {
        MeshViewOptions options = new MeshViewOptions("cluster.local", "cluster.local",
                ClusterLocalHosts.defaults("cluster.local"), mcsClusterLocal);
        MeshView view = MeshView.of(mesh(exporters), new Viewpoint(viewer, viewer.equals("eu") ? "net2" : "net1"),
                options);

        ServiceView set = view.service(CLUSTERSET_HOST).orElseThrow();
        String[] expected = clusterSet.split(" -> ");
        assertThat(set.clusters()).containsExactly(expected[0].split(" "));
        assertThat(set.key()).isEqualTo(HELLO);
        assertThat(set.endpoints(5000)).extracting(e -> e.address() + ":" + e.port())
                .containsExactly(expected[1].split(" "));
        assertThat(view.service(LOCAL_HOST).orElseThrow().endpoints(5000)).extracting(e -> e.address() + ":" + e.port())
                .containsExactly(local.split(" "));
        assertThat(view.isVisibleFrom(CLUSTERSET_HOST, "other")).isTrue();
    }

    @Test
    void aServiceNoClusterExportsHasNoClusterSetHost() {
        MeshView view = MeshView.of(mesh(""), new Viewpoint("west", "net1"),
                MeshViewOptions.defaults("cluster.local", "cluster.local"));
        assertThat(view.services()).extracting(ServiceView::hostname).containsExactly(LOCAL_HOST);
    }

    @Test
    void aClusterSetHostCanItselfBeMadeClusterLocal() {
        MeshViewOptions options = new MeshViewOptions("cluster.local", "cluster.local",
                ClusterLocalHosts.defaults("cluster.local").plus(List.of("*.svc.clusterset.local")), false);
        MeshView fromEast = MeshView.of(mesh("east eu"), new Viewpoint("east", "net1"), options);
        assertThat(fromEast.service(CLUSTERSET_HOST).orElseThrow().clusters()).containsExactly("east");
        MeshView fromWest = MeshView.of(mesh("east eu"), new Viewpoint("west", "net1"), options);
        assertThat(fromWest.service(CLUSTERSET_HOST)).isEmpty();
    }

    @Test
    void serviceEntryHostsAreNeverClusterSetHosts() {
        ServiceKey entry = new ServiceKey("sample", "api.example.com");
        MeshService service = new MeshService(entry, "api.example.com",
                List.of(new ServicePort("http", 80, 80, "HTTP")), Map.of(), Set.of("*"), false, true);
        ClusterState east = new ClusterState("east", "net1", List.of(service), List.of(), List.of());
        MeshView view = MeshView.of(new FederatedState(1, Map.of(), Map.of("east", east), List.of()),
                new Viewpoint("east", "net1"), MeshViewOptions.defaults("cluster.local", "cluster.local"));
        assertThat(view.services()).extracting(ServiceView::hostname).containsExactly("api.example.com");
    }
}
