package io.isthmus.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class MeshViewTest {

    private static final String HOST = "helloworld.sample.svc.cluster.local";
    private static final ServiceKey HELLO = new ServiceKey("sample", "helloworld");
    private static final Locality US_EAST = new Locality("us-east", "us-east-1a", "");
    private static final Locality EU_1 = new Locality("eu-west", "eu-west-1a", "");
    private static final Locality EU_2 = new Locality("eu-west", "eu-west-1b", "");

    /** The demo: east and west on net1, eu on net2, each with its east-west gateway. */
    static FederatedState demo() {
        ClusterState east = new ClusterState("east", "net1",
                List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(endpoint(HELLO, "127.101.1.1", true, US_EAST, "east", "net1", "helloworld-v1-a")),
                List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));
        ClusterState west = new ClusterState("west", "net1",
                List.of(service(new ServiceKey("sample", "curl"), Set.of("*"), false,
                        new ServicePort("http", 80, 8080, "HTTP"))),
                List.of(),
                List.of(new NetworkGateway("net1", "west", "127.102.0.2", 15443)));
        ClusterState eu = new ClusterState("eu", "net2",
                List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(
                        endpoint(HELLO, "127.103.1.1", true, EU_1, "eu", "net2", "helloworld-v2-a"),
                        endpoint(HELLO, "127.103.1.2", true, EU_1, "eu", "net2", "helloworld-v2-b"),
                        endpoint(HELLO, "127.103.1.3", true, EU_2, "eu", "net2", "helloworld-v2-c"),
                        endpoint(HELLO, "127.103.1.4", false, EU_2, "eu", "net2", "helloworld-v2-d")),
                List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443)));
        return state(east, west, eu);
    }

    static Stream<Arguments> viewpoints() {
        return Stream.of(
                // viewer in west (net1): east direct, eu through its gateway, weighted by ready pods per locality
                Arguments.of("west", "net1", List.of(
                        "127.101.1.1:5000 direct east us-east/us-east-1a/ w1 healthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.0.2:15443 gateway eu eu-west/eu-west-1a/ w2 healthy ",
                        "127.103.0.2:15443 gateway eu eu-west/eu-west-1b/ w1 healthy ")),
                // viewer in eu (net2): its own pods direct (the not-ready one unhealthy), east through net1's gateway in east
                Arguments.of("eu", "net2", List.of(
                        "127.103.1.1:5000 direct eu eu-west/eu-west-1a/ w1 healthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.1.2:5000 direct eu eu-west/eu-west-1a/ w1 healthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.1.3:5000 direct eu eu-west/eu-west-1b/ w1 healthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.1.4:5000 direct eu eu-west/eu-west-1b/ w1 unhealthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.101.0.2:15443 gateway east us-east/us-east-1a/ w1 healthy ")),
                // viewer in east (net1) sees the same as west
                Arguments.of("east", "net1", List.of(
                        "127.101.1.1:5000 direct east us-east/us-east-1a/ w1 healthy spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.0.2:15443 gateway eu eu-west/eu-west-1a/ w2 healthy ",
                        "127.103.0.2:15443 gateway eu eu-west/eu-west-1b/ w1 healthy ")));
    }

    @ParameterizedTest(name = "{0}/{1}")
    @MethodSource("viewpoints")
    void remoteNetworksAreReachedThroughTheirGatewayWithWeights(String cluster, String network, List<String> expected) {
        MeshView view = MeshView.of(demo(), new Viewpoint(cluster, network), "cluster.local", "cluster.local");

        ServiceView hello = view.service(HOST).orElseThrow();
        assertThat(hello.clusters()).containsExactly("east", "eu");
        assertThat(hello.ports()).containsExactly(new ServicePort("http", 5000, 5000, "HTTP"));
        assertThat(hello.endpoints(5000)).extracting(MeshViewTest::describe).containsExactlyElementsOf(expected);
        assertThat(view.droppedNoGateway()).isZero();
        assertThat(view.conflicts()).isEmpty();
    }

    @Test
    void gatewayEntriesCarryNetworkAndNoIdentity() {
        MeshView view = MeshView.of(demo(), new Viewpoint("west", "net1"), "cluster.local", "cluster.local");

        MeshEndpoint viaGateway = view.service(HOST).orElseThrow().endpoints(5000).get(1);
        assertThat(viaGateway.viaGateway()).isTrue();
        assertThat(viaGateway.network()).isEqualTo("net2");
        assertThat(viaGateway.cluster()).isEqualTo("eu");
        assertThat(viaGateway.workload()).isEmpty();
        assertThat(viaGateway.identity()).isEmpty();
        assertThat(view.gatewaysOf("net1")).extracting(NetworkGateway::address)
                .containsExactly("127.101.0.2", "127.102.0.2");
        assertThat(view.gatewaysOf("net2")).extracting(NetworkGateway::cluster).containsExactly("eu");
        assertThat(view.gatewaysOf("net9")).isEmpty();
    }

    @Test
    void identitiesNameEveryEndpointsServiceAccountAlsoBehindAGatewayOrNotReady() {
        ClusterState east = new ClusterState("east", "net1",
                List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(new Endpoint(HELLO, "127.101.1.1", Map.of("http", 5000), true, US_EAST, "east", "net1",
                        "hello-east", "a", Map.of())),
                List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));
        ClusterState eu = new ClusterState("eu", "net2",
                List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(new Endpoint(HELLO, "127.103.1.1", Map.of("http", 5000), true, EU_1, "eu", "net2",
                                "hello-eu", "b", Map.of()),
                        new Endpoint(HELLO, "127.103.1.2", Map.of("http", 5000), false, EU_1, "eu", "net2",
                                "hello-eu-canary", "c", Map.of())),
                List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443)));

        ServiceView hello = MeshView.of(state(east, eu), new Viewpoint("east", "net1"), "cluster.local",
                "cluster.local").service(HOST).orElseThrow();

        // eu's pods are one gateway entry without identity, yet the client sees their own
        // certificates through the passthrough gateway: who may answer comes from every endpoint.
        assertThat(hello.endpoints(5000)).extracting(MeshEndpoint::identity)
                .containsExactly("spiffe://cluster.local/ns/sample/sa/hello-east", "");
        assertThat(hello.identities(5000)).containsExactly(
                "spiffe://cluster.local/ns/sample/sa/hello-east",
                "spiffe://cluster.local/ns/sample/sa/hello-eu",
                "spiffe://cluster.local/ns/sample/sa/hello-eu-canary");
        assertThat(hello.identities(6000)).isEmpty();
    }

    @Test
    void serviceOnlyInARemoteClusterIsStillAHost() {
        MeshView view = MeshView.of(demo(), new Viewpoint("eu", "net2"), "cluster.local", "cluster.local");

        assertThat(view.services()).extracting(ServiceView::hostname)
                .containsExactly("curl.sample.svc.cluster.local", HOST);
        ServiceView curl = view.service("curl.sample.svc.cluster.local").orElseThrow();
        assertThat(curl.clusters()).containsExactly("west");
        assertThat(curl.endpoints(80)).isEmpty();
        assertThat(curl.endpointsByPort()).containsOnlyKeys(80);
    }

    @Test
    void remoteNetworkWithoutGatewayIsDroppedAndCounted() {
        FederatedState noGateway = state(
                new ClusterState("west", "net1", List.of(), List.of(), List.of()),
                new ClusterState("eu", "net2",
                        List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(
                                endpoint(HELLO, "127.103.1.1", true, EU_1, "eu", "net2", "a"),
                                endpoint(HELLO, "127.103.1.2", true, EU_1, "eu", "net2", "b")),
                        List.of()));

        MeshView view = MeshView.of(noGateway, new Viewpoint("west", "net1"), "cluster.local", "cluster.local");

        assertThat(view.service(HOST).orElseThrow().endpoints(5000)).isEmpty();
        assertThat(view.droppedNoGateway()).isEqualTo(2);
    }

    @Test
    void allRemoteEndpointsNotReadyGivesNoGatewayEntry() {
        FederatedState state = state(
                new ClusterState("eu", "net2",
                        List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(endpoint(HELLO, "127.103.1.1", false, EU_1, "eu", "net2", "a")),
                        List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443))));

        MeshView view = MeshView.of(state, new Viewpoint("west", "net1"), "cluster.local", "cluster.local");

        assertThat(view.service(HOST).orElseThrow().endpoints(5000)).isEmpty();
    }

    @Test
    void endpointPortComesFromThePortNameElseTheTargetPort() {
        ServiceKey key = new ServiceKey("sample", "web");
        Endpoint named = new Endpoint(key, "10.0.0.1", Map.of("http", 8081), true, US_EAST, "east", "net1", "web",
                "web-a", Map.of());
        Endpoint unnamed = new Endpoint(key, "10.0.0.2", Map.of(), true, US_EAST, "east", "net1", "web", "web-b",
                Map.of());
        FederatedState state = state(new ClusterState("east", "net1",
                List.of(service(key, Set.of("*"), false, new ServicePort("http", 80, 8080, "HTTP"))),
                List.of(named, unnamed), List.of()));

        MeshView view = MeshView.of(state, new Viewpoint("east", "net1"), "cluster.local", "td.example");

        assertThat(view.service("web.sample.svc.cluster.local").orElseThrow().endpoints(80))
                .extracting(e -> e.address() + ":" + e.port() + " " + e.identity())
                .containsExactly("10.0.0.1:8081 spiffe://td.example/ns/sample/sa/web",
                        "10.0.0.2:8080 spiffe://td.example/ns/sample/sa/web");
    }

    @Test
    void portsMergeByNumberAndTheFirstClusterWinsConflicts() {
        FederatedState state = state(
                new ClusterState("b-cluster", "net1",
                        List.of(service(HELLO, Set.of("*"), false,
                                new ServicePort("tcp-legacy", 5000, 5001, "TCP"),
                                new ServicePort("grpc", 9000, 9000, "GRPC"))),
                        List.of(), List.of()),
                new ClusterState("a-cluster", "net1",
                        List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(), List.of()));

        MeshView view = MeshView.of(state, new Viewpoint("a-cluster", "net1"), "cluster.local", "cluster.local");

        assertThat(view.service(HOST).orElseThrow().ports()).containsExactly(
                new ServicePort("http", 5000, 5000, "HTTP"), new ServicePort("grpc", 9000, 9000, "GRPC"));
        assertThat(view.conflicts()).singleElement().asString()
                .contains(HOST, "port 5000", "b-cluster", "kept http", "a-cluster");
    }

    @Test
    void endpointsUseTheirOwnClustersPortDefinition() {
        // east names port 5000 "http", eu names it "web": each cluster's endpoints are looked up by their own name.
        FederatedState state = state(
                new ClusterState("east", "net1",
                        List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(new Endpoint(HELLO, "10.1.0.1", Map.of("http", 5100), true, US_EAST, "east",
                                "net1", "helloworld", "a", Map.of())),
                        List.of()),
                new ClusterState("eu", "net1",
                        List.of(service(HELLO, Set.of("*"), false, new ServicePort("web", 5000, 5000, "HTTP"))),
                        List.of(new Endpoint(HELLO, "10.2.0.1", Map.of("web", 5200), true, EU_1, "eu",
                                "net1", "helloworld", "b", Map.of())),
                        List.of()));

        MeshView view = MeshView.of(state, new Viewpoint("east", "net1"), "cluster.local", "cluster.local");

        assertThat(view.service(HOST).orElseThrow().endpoints(5000))
                .extracting(e -> e.address() + ":" + e.port())
                .containsExactly("10.1.0.1:5100", "10.2.0.1:5200");
        assertThat(view.conflicts()).hasSize(1);
    }

    @Test
    void headlessServicesKeepPerPodEntriesEvenThroughAGateway() {
        FederatedState state = state(
                new ClusterState("eu", "net2",
                        List.of(service(HELLO, Set.of("*"), true, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(
                                endpoint(HELLO, "127.103.1.1", true, EU_1, "eu", "net2", "a"),
                                endpoint(HELLO, "127.103.1.2", true, EU_1, "eu", "net2", "b"),
                                endpoint(HELLO, "127.103.1.3", false, EU_1, "eu", "net2", "c")),
                        List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443))));

        MeshView view = MeshView.of(state, new Viewpoint("west", "net1"), "cluster.local", "cluster.local");

        assertThat(view.service(HOST).orElseThrow().endpoints(5000))
                .extracting(e -> e.address() + ":" + e.port() + " " + e.workload() + " w" + e.weight()
                        + " " + e.viaGateway() + " " + e.identity())
                .containsExactly(
                        "127.103.0.2:15443 a w1 true spiffe://cluster.local/ns/sample/sa/helloworld",
                        "127.103.0.2:15443 b w1 true spiffe://cluster.local/ns/sample/sa/helloworld");
    }

    @ParameterizedTest(name = "exportTo {0} from {1} -> {2}")
    @CsvSource({
            "*, sample, true",
            "*, other, true",
            "sample, sample, true",
            "sample, other, false",
            "., sample, true",
            "., other, false",
            "'other,istio-system', istio-system, true",
            "'other,istio-system', sample, false",
            "~, sample, false",
    })
    void exportToLimitsWhereAHostIsVisible(String exportTo, String namespace, boolean visible) {
        Set<String> values = Set.of(exportTo.split(","));
        FederatedState state = state(new ClusterState("east", "net1",
                List.of(service(HELLO, values, false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(), List.of()));

        MeshView view = MeshView.of(state, new Viewpoint("east", "net1"), "cluster.local", "cluster.local");

        assertThat(view.isVisibleFrom(HOST, namespace)).isEqualTo(visible);
        assertThat(view.visibleFrom(namespace)).hasSize(visible ? 1 : 0);
        assertThat(view.services()).hasSize(1);
    }

    @Test
    void exportToIsTheUnionOverClusters() {
        FederatedState state = state(
                new ClusterState("east", "net1",
                        List.of(service(HELLO, Set.of("."), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(), List.of()),
                new ClusterState("eu", "net2",
                        List.of(service(HELLO, Set.of("other"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                        List.of(), List.of()));

        MeshView view = MeshView.of(state, new Viewpoint("east", "net1"), "cluster.local", "cluster.local");

        assertThat(view.exportTo(HOST)).containsExactlyInAnyOrder(".", "other");
        assertThat(view.isVisibleFrom(HOST, "sample")).isTrue();
        assertThat(view.isVisibleFrom(HOST, "other")).isTrue();
        assertThat(view.isVisibleFrom(HOST, "third")).isFalse();
        assertThat(view.conflicts()).anyMatch(c -> c.contains("exportTo"));
    }

    @ParameterizedTest(name = "seed {0}")
    @CsvSource({"1", "2", "3", "42", "1000"})
    void equalInputsGiveEqualOutputsWhateverTheOrder(long seed) {
        FederatedState original = demo();
        FederatedState shuffled = shuffle(original, new Random(seed));

        for (Viewpoint viewpoint : List.of(new Viewpoint("west", "net1"), new Viewpoint("eu", "net2"))) {
            MeshView a = MeshView.of(original, viewpoint, "cluster.local", "cluster.local");
            MeshView b = MeshView.of(shuffled, viewpoint, "cluster.local", "cluster.local");
            assertThat(b.services()).isEqualTo(a.services());
            assertThat(b).isEqualTo(a);
            assertThat(b.services().toString()).isEqualTo(a.services().toString());
        }
    }

    @Test
    void rejectsMissingDomains() {
        assertThatThrownBy(() -> MeshView.of(demo(), new Viewpoint("w", "n"), "", "cluster.local"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("domainSuffix");
        assertThat(MeshView.spiffeId("cluster.local", "ns1", "sa1")).isEqualTo("spiffe://cluster.local/ns/ns1/sa/sa1");
    }

    @Test
    void emptyStateGivesAnEmptyView() {
        MeshView view = MeshView.of(FederatedState.EMPTY, new Viewpoint("west", "net1"), "cluster.local",
                "cluster.local");
        assertThat(view.services()).isEmpty();
        assertThat(view.service(HOST)).isEmpty();
    }

    @Test
    void onlyServicesExportedSomewhereAreExportedToTheMesh() {
        ServiceKey hidden = new ServiceKey("sample", "hidden");
        ServiceKey local = new ServiceKey("sample", "local");
        ClusterState east = new ClusterState("east", "net1",
                List.of(service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP")),
                        service(hidden, Set.of("~"), false, new ServicePort("http", 80, 80, "HTTP")),
                        service(local, Set.of("."), false, new ServicePort("http", 80, 80, "HTTP"))),
                List.of(), List.of());
        MeshView view = MeshView.of(state(east), new Viewpoint("east", "net1"), "cluster.local", "cluster.local");
        assertThat(view.exportedToMesh()).extracting(ServiceView::hostname)
                .containsExactly(HOST, "local.sample.svc.cluster.local");
        assertThat(view.services()).hasSize(3);
    }

    /** kube-dns in kube-system and the API server in default, defined in east and eu. */
    private static FederatedState withClusterLocalServices() {
        ServiceKey dns = new ServiceKey("kube-system", "kube-dns");
        ServiceKey api = new ServiceKey("default", "kubernetes");
        ServicePort p53 = new ServicePort("dns-tcp", 53, 53, "TCP");
        ServicePort p443 = new ServicePort("https", 443, 6443, "TCP");
        ClusterState east = new ClusterState("east", "net1",
                List.of(service(dns, Set.of("*"), false, p53), service(api, Set.of("*"), false, p443),
                        service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(endpoint(dns, "127.101.1.9", true, US_EAST, "east", "net1", "coredns-a"),
                        endpoint(api, "127.101.0.1", true, US_EAST, "east", "net1", ""),
                        endpoint(HELLO, "127.101.1.1", true, US_EAST, "east", "net1", "helloworld-v1-a")),
                List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));
        ClusterState eu = new ClusterState("eu", "net2",
                List.of(service(dns, Set.of("*"), false, p53), service(api, Set.of("*"), false, p443),
                        service(HELLO, Set.of("*"), false, new ServicePort("http", 5000, 5000, "HTTP"))),
                List.of(endpoint(dns, "127.103.1.9", true, EU_1, "eu", "net2", "coredns-b"),
                        endpoint(api, "127.103.0.1", true, EU_1, "eu", "net2", ""),
                        endpoint(HELLO, "127.103.1.1", true, EU_1, "eu", "net2", "helloworld-v2-a")),
                List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443)));
        ClusterState west = new ClusterState("west", "net1", List.of(), List.of(), List.of());
        return state(east, eu, west);
    }

    @ParameterizedTest(name = "{0} from {1}")
    @CsvSource(delimiter = '|', value = {
        // host                                          | viewer | port | clusters | addresses
        "kube-dns.kube-system.svc.cluster.local          | east   | 53   | east     | 127.101.1.9:53",
        "kube-dns.kube-system.svc.cluster.local          | eu     | 53   | eu       | 127.103.1.9:53",
        "kubernetes.default.svc.cluster.local            | eu     | 443  | eu       | 127.103.0.1:6443",
        "helloworld.sample.svc.cluster.local             | east   | 5000 | east eu  | 127.101.1.1:5000 127.103.0.2:15443",
    })
    void clusterLocalHostsAreServedByTheViewersOwnCluster(String host, String viewer, int port, String clusters,
            String addresses) {
        MeshView view = MeshView.of(withClusterLocalServices(), new Viewpoint(viewer, viewer.equals("eu") ? "net2" : "net1"),
                "cluster.local", "cluster.local");
        ServiceView service = view.service(host).orElseThrow();
        assertThat(service.clusters()).containsExactly(clusters.split(" "));
        assertThat(service.endpoints(port)).extracting(e -> e.address() + ":" + e.port())
                .containsExactly(addresses.split(" "));
    }

    @Test
    void aClusterLocalHostOnlyOtherClustersDefineIsNotAHostForTheViewer() {
        MeshView view = MeshView.of(withClusterLocalServices(), new Viewpoint("west", "net1"),
                "cluster.local", "cluster.local");
        assertThat(view.service("kube-dns.kube-system.svc.cluster.local")).isEmpty();
        assertThat(view.service("kubernetes.default.svc.cluster.local")).isEmpty();
        assertThat(view.service(HOST)).isPresent();
    }

    @Test
    void configuredClusterLocalHostsAddToTheDefaults() {
        ClusterLocalHosts local = ClusterLocalHosts.defaults("cluster.local").plus(List.of("*.sample.svc.cluster.local"));
        MeshView view = MeshView.of(withClusterLocalServices(), new Viewpoint("east", "net1"),
                "cluster.local", "cluster.local", local);
        assertThat(view.service(HOST).orElseThrow().endpoints(5000)).extracting(MeshEndpoint::address)
                .containsExactly("127.101.1.1");
        assertThat(local.matches("kube-dns.kube-system.svc.cluster.local")).isTrue();
        assertThat(local.matches("sample.svc.cluster.local")).isFalse();
        assertThatThrownBy(() -> new ClusterLocalHosts(List.of("foo*.bar")))
                .hasMessageContaining("'foo*.bar'");
    }

    private static FederatedState shuffle(FederatedState state, Random random) {
        List<ClusterState> clusters = new ArrayList<>(state.clusterStates().values());
        Collections.shuffle(clusters, random);
        Map<String, ClusterState> reordered = new LinkedHashMap<>();
        for (ClusterState cluster : clusters) {
            List<MeshService> services = new ArrayList<>(cluster.services());
            List<Endpoint> endpoints = new ArrayList<>(cluster.endpoints());
            List<NetworkGateway> gateways = new ArrayList<>(cluster.gateways());
            Collections.shuffle(services, random);
            Collections.shuffle(endpoints, random);
            Collections.shuffle(gateways, random);
            reordered.put(cluster.cluster(),
                    new ClusterState(cluster.cluster(), cluster.network(), services, endpoints, gateways));
        }
        return new FederatedState(state.appliedIndex(), state.clusters(), reordered, state.trustRootsPem());
    }

    private static FederatedState state(ClusterState... clusters) {
        Map<String, ClusterState> states = new HashMap<>();
        for (ClusterState cluster : clusters) {
            states.put(cluster.cluster(), cluster);
        }
        return new FederatedState(7, Map.of(), states, List.of());
    }

    private static MeshService service(ServiceKey key, Set<String> exportTo, boolean headless, ServicePort... ports) {
        return new MeshService(key, key.hostname("cluster.local"), List.of(ports), Map.of("app", key.name()),
                exportTo, headless);
    }

    private static Endpoint endpoint(
            ServiceKey key, String address, boolean ready, Locality locality, String cluster, String network,
            String pod) {
        return new Endpoint(key, address, Map.of("http", 5000), ready, locality, cluster, network, "helloworld", pod,
                Map.of("app", "helloworld"));
    }

    private static String describe(MeshEndpoint e) {
        return e.address() + ":" + e.port() + " " + (e.viaGateway() ? "gateway" : "direct") + " " + e.cluster()
                + " " + e.locality() + " w" + e.weight() + " " + (e.healthy() ? "healthy" : "unhealthy") + " "
                + e.identity();
    }
}
