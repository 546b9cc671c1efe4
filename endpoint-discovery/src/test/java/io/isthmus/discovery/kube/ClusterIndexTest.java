package io.isthmus.discovery.kube;

import static io.isthmus.discovery.kube.KubeFixtures.ep;
import static io.isthmus.discovery.kube.KubeFixtures.gateway;
import static io.isthmus.discovery.kube.KubeFixtures.namespace;
import static io.isthmus.discovery.kube.KubeFixtures.node;
import static io.isthmus.discovery.kube.KubeFixtures.pod;
import static io.isthmus.discovery.kube.KubeFixtures.service;
import static io.isthmus.discovery.kube.KubeFixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.kube.ClusterEvent.EndpointSliceDeleted;
import io.isthmus.discovery.kube.ClusterEvent.EndpointSliceUpserted;
import io.isthmus.discovery.kube.ClusterEvent.InformersSynced;
import io.isthmus.discovery.kube.ClusterEvent.IstioObjectDeleted;
import io.isthmus.discovery.kube.ClusterEvent.IstioObjectUpserted;
import io.isthmus.discovery.kube.ClusterEvent.NamespaceUpserted;
import io.isthmus.discovery.kube.ClusterEvent.NodeUpserted;
import io.isthmus.discovery.kube.ClusterEvent.PodDeleted;
import io.isthmus.discovery.kube.ClusterEvent.PodUpserted;
import io.isthmus.discovery.kube.ClusterEvent.ServiceDeleted;
import io.isthmus.discovery.kube.ClusterEvent.ServiceUpserted;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The queue thread's logic, driven synchronously: enqueue events, build, compare. */
class ClusterIndexTest {

    private static final ServiceKey HELLO = new ServiceKey("sample", "helloworld");

    private final List<String> rejections = new ArrayList<>();
    private final ClusterIndex index = new ClusterIndex("east", "net-default", "cluster.local",
            (kind, object, reason, detail) -> rejections.add(kind + " " + object + " " + reason));

    static List<ClusterEvent> demoEvents() {
        return List.of(
                new NamespaceUpserted(namespace("sample", "net1")),
                new NamespaceUpserted(namespace("istio-system", "net1")),
                new NodeUpserted(node("east-node-1", "us-east", "us-east-1a")),
                new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)),
                new ServiceUpserted(gateway("net1", "127.101.0.2")),
                new PodUpserted(pod("sample", "helloworld-v1-a", "helloworld", "helloworld", "east-node-1",
                        "127.101.1.1", Map.of())),
                new EndpointSliceUpserted(slice("sample", "helloworld-east", "helloworld", "http", 5000,
                        "east-node-1", ep("127.101.1.1", true, "helloworld-v1-a"))));
    }

    @Test
    void buildsServicesEndpointsAndGatewaysFromTheLaunchersObjects() {
        demoEvents().forEach(index::apply);

        ClusterState state = index.build();

        assertThat(state.cluster()).isEqualTo("east");
        assertThat(state.network()).isEqualTo("net-default");
        assertThat(state.services()).containsExactly(new MeshService(HELLO, "helloworld.sample.svc.cluster.local",
                List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of("app", "helloworld"), Set.of("*"),
                false));
        assertThat(state.endpoints()).containsExactly(new Endpoint(HELLO, "127.101.1.1", Map.of("http", 5000), true,
                new Locality("us-east", "us-east-1a", ""), "east", "net1", "helloworld", "helloworld-v1-a",
                Map.of("app", "helloworld", "version", "v1")));
        assertThat(state.gateways()).containsExactly(new NetworkGateway("net1", "east", "127.101.0.2", 15443));
        assertThat(rejections).isEmpty();
    }

    @Test
    void skipsKubeSystemAndTheKubernetesService() {
        index.apply(new ServiceUpserted(service("kube-system", "kube-dns", "dns-tcp", 53, 53)));
        index.apply(new ServiceUpserted(service("default", "kubernetes", "https", 443, 6443)));
        index.apply(new ServiceUpserted(service("default", "web", "http", 80, 8080)));

        assertThat(index.build().services()).extracting(MeshService::key)
                .containsExactly(new ServiceKey("default", "web"));
    }

    @ParameterizedTest(name = "pod label {0}, namespace label {1} -> {2}")
    @CsvSource(nullValues = "null", value = {
            "net-pod, net-ns, net-pod",
            "null, net-ns, net-ns",
            "null, null, net-default",
    })
    void endpointNetworkFromPodThenNamespaceThenDefault(String podNetwork, String namespaceNetwork, String expected) {
        index.apply(new NamespaceUpserted(namespace("sample", namespaceNetwork)));
        index.apply(new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new PodUpserted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1",
                podNetwork == null ? Map.of() : Map.of("topology.istio.io/network", podNetwork))));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.1", true, "p1"))));

        assertThat(index.build().endpoints()).singleElement().extracting(Endpoint::network).isEqualTo(expected);
    }

    @ParameterizedTest(name = "pod locality label {0}, node {1}/{2} -> {3}")
    @CsvSource(nullValues = "null", value = {
            "null, us-east, us-east-1a, us-east/us-east-1a/",
            "eu-west.eu-west-1b.rack7, us-east, us-east-1a, eu-west/eu-west-1b/rack7",
            "'garbage!.x', us-east, us-east-1a, us-east/us-east-1a/",
    })
    void endpointLocalityFromPodOverrideElseNode(String podLocality, String region, String zone, String expected) {
        index.apply(new NodeUpserted(node("n1", region, zone)));
        index.apply(new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new PodUpserted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1",
                podLocality == null ? Map.of() : Map.of("topology.istio.io/locality", podLocality))));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.1", true, "p1"))));

        assertThat(index.build().endpoints()).singleElement().extracting(Endpoint::locality)
                .isEqualTo(Locality.parse(expected));
        assertThat(rejections).hasSize(podLocality != null && podLocality.contains("!") ? 1 : 0);
    }

    @Test
    void anEndpointWaitsForItsPod() {
        index.apply(new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.1", true, "p1"))));
        assertThat(index.build().endpoints()).isEmpty();

        index.apply(new PodUpserted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1", Map.of())));
        assertThat(index.build().endpoints()).extracting(Endpoint::serviceAccount).containsExactly("sa1");

        index.apply(new PodDeleted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1", Map.of())));
        assertThat(index.build().endpoints()).isEmpty();
    }

    @Test
    void notReadyEndpointsAreKeptAsNotReady() {
        index.apply(new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new PodUpserted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1", Map.of())));
        index.apply(new PodUpserted(pod("sample", "p2", "helloworld", "sa1", "n1", "10.0.0.2", Map.of())));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.2", false, "p2"), ep("10.0.0.1", true, "p1"))));

        assertThat(index.build().endpoints()).extracting(e -> e.address() + " " + e.ready())
                .containsExactly("10.0.0.1 true", "10.0.0.2 false");
    }

    @Test
    void aPodInTwoSlicesIsOneEndpointWithAllPorts() {
        index.apply(new ServiceUpserted(new ServiceBuilder(service("sample", "helloworld", "http", 5000, 5000))
                .editSpec().addNewPort().withName("grpc").withPort(9000).withNewTargetPort(9000).endPort().endSpec()
                .build()));
        index.apply(new PodUpserted(pod("sample", "p1", "helloworld", "sa1", "n1", "10.0.0.1", Map.of())));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.1", true, "p1"))));
        index.apply(new EndpointSliceUpserted(slice("sample", "s2", "helloworld", "grpc", 9000, "n1",
                ep("10.0.0.1", true, "p1"))));

        ClusterState state = index.build();
        assertThat(state.endpoints()).singleElement().extracting(Endpoint::ports)
                .isEqualTo(Map.of("http", 5000, "grpc", 9000));
        assertThat(state.services().get(0).ports()).extracting(ServicePort::protocol).containsExactly("HTTP", "GRPC");
    }

    @Test
    void malformedServiceIsSkippedAndCountedWhileTheRestFlows() {
        demoEvents().forEach(index::apply);
        Service noPorts = new ServiceBuilder().withNewMetadata().withNamespace("sample").withName("broken")
                .withResourceVersion("11").endMetadata().withNewSpec().endSpec().build();

        index.apply(new ServiceUpserted(noPorts));
        index.apply(new ServiceUpserted(noPorts));

        assertThat(index.build().services()).extracting(MeshService::key).containsExactly(HELLO);
        assertThat(rejections).containsExactly("Service sample/broken no-ports");
    }

    @Test
    void aBadUpdateKeepsTheLastGoodVersion() {
        demoEvents().forEach(index::apply);
        ClusterState good = index.build();
        Service broken = new ServiceBuilder(service("sample", "helloworld", "http", 5000, 5000))
                .editMetadata().withResourceVersion("12").endMetadata()
                .editSpec().withPorts(List.of()).endSpec().build();

        index.apply(new ServiceUpserted(broken));

        assertThat(index.build()).isEqualTo(good);
        assertThat(rejections).containsExactly("Service sample/helloworld no-ports");
    }

    @Test
    void sliceWithAnUnparsableAddressKeepsItsGoodEndpoints() {
        demoEvents().forEach(index::apply);
        index.apply(new PodUpserted(pod("sample", "p2", "helloworld", "helloworld", "east-node-1", "127.101.1.2",
                Map.of())));
        EndpointSlice mixed = new EndpointSliceBuilder(slice("sample", "helloworld-extra", "helloworld", "http", 5000,
                "east-node-1", ep("not-an-ip", true, null), ep("127.101.1.2", true, "p2")))
                .editMetadata().withResourceVersion("5").endMetadata().build();

        index.apply(new EndpointSliceUpserted(mixed));
        // A resync of the same version is not counted again.
        index.apply(new EndpointSliceUpserted(mixed));

        assertThat(index.build().endpoints()).extracting(Endpoint::address)
                .containsExactly("127.101.1.1", "127.101.1.2");
        assertThat(rejections).containsExactly("EndpointSlice sample/helloworld-extra invalid-address");
    }

    @Test
    void deletesRemoveServicesAndSlices() {
        demoEvents().forEach(index::apply);

        index.apply(new EndpointSliceDeleted(slice("sample", "helloworld-east", "helloworld", "http", 5000, "n")));
        assertThat(index.build().endpoints()).isEmpty();

        index.apply(new ServiceDeleted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new ServiceDeleted(gateway("net1", "127.101.0.2")));
        ClusterState state = index.build();
        assertThat(state.services()).isEmpty();
        assertThat(state.gateways()).isEmpty();
    }

    @Test
    void syncReconcilesWithTheInformerCaches() {
        demoEvents().forEach(index::apply);
        Pod lateAdd = pod("sample", "p2", "helloworld", "helloworld", "east-node-1", "127.101.1.2", Map.of());
        EndpointSlice slice = slice("sample", "helloworld-east", "helloworld", "http", 5000, "east-node-1",
                ep("127.101.1.1", true, "helloworld-v1-a"), ep("127.101.1.2", true, "p2"));

        // The caches no longer hold the gateway, and hold a pod whose add event has not arrived yet.
        index.apply(new InformersSynced(
                List.of(service("sample", "helloworld", "http", 5000, 5000)),
                List.of(slice),
                List.of(pod("sample", "helloworld-v1-a", "helloworld", "helloworld", "east-node-1", "127.101.1.1",
                        Map.of()), lateAdd),
                List.of(node("east-node-1", "us-east", "us-east-1a")),
                List.of(namespace("sample", "net1")), List.of(), List.of()));

        ClusterState state = index.build();
        assertThat(state.gateways()).isEmpty();
        assertThat(state.endpoints()).extracting(Endpoint::address).containsExactly("127.101.1.1", "127.101.1.2");
    }

    @ParameterizedTest(name = "seed {0}")
    @CsvSource({"1", "7", "99"})
    void sameObjectsInAnyOrderGiveAnEqualState(long seed) {
        demoEvents().forEach(index::apply);
        ClusterState expected = index.build();

        List<ClusterEvent> shuffled = new ArrayList<>(demoEvents());
        Collections.shuffle(shuffled, new Random(seed));
        ClusterIndex other = new ClusterIndex("east", "net-default", "cluster.local", (k, o, r, d) -> { });
        shuffled.forEach(other::apply);

        assertThat(other.build()).isEqualTo(expected);
    }

    @Test
    void exportToAndHeadlessComeFromTheService() {
        Service service = new ServiceBuilder(service("sample", "db", "tcp-db", 5432, 5432))
                .editMetadata().addToAnnotations("networking.istio.io/exportTo", "sample, ops").endMetadata()
                .editSpec().withClusterIP("None").endSpec().build();

        index.apply(new ServiceUpserted(service));

        MeshService db = index.build().services().get(0);
        assertThat(db.exportTo()).containsExactlyInAnyOrder("sample", "ops");
        assertThat(db.headless()).isTrue();
        assertThat(db.addresses()).isEmpty();
        assertThat(db.ports()).containsExactly(new ServicePort("tcp-db", 5432, 5432, "TCP"));
    }

    @Test
    void clusterIpsAreTheServicesAddresses() {
        index.apply(new ServiceUpserted(new ServiceBuilder(service("sample", "web", "http", 80, 8080))
                .editSpec().withClusterIP("10.96.0.7").withClusterIPs("10.96.0.7", "fd00::7").endSpec().build()));
        index.apply(new ServiceUpserted(new ServiceBuilder(service("sample", "old", "http", 80, 8080))
                .editSpec().withClusterIP("10.96.0.8").endSpec().build()));

        assertThat(index.build().services()).extracting(MeshService::addresses)
                .containsExactly(List.of("10.96.0.8"), List.of("10.96.0.7", "fd00::7"));
    }

    @Test
    void namedTargetPortFallsBackToThePort() {
        Service service = new ServiceBuilder(service("sample", "web", "http", 80, 8080))
                .editSpec().editFirstPort().withNewTargetPort("web").endPort().endSpec().build();
        index.apply(new ServiceUpserted(service));

        assertThat(index.build().services().get(0).ports()).containsExactly(new ServicePort("http", 80, 80, "HTTP"));
    }

    @Test
    void podWithoutServiceAccountUsesDefault() {
        Pod pod = new PodBuilder(pod("sample", "p1", "helloworld", "x", "n1", "10.0.0.1", Map.of()))
                .editSpec().withServiceAccountName(null).endSpec().build();
        index.apply(new ServiceUpserted(service("sample", "helloworld", "http", 5000, 5000)));
        index.apply(new PodUpserted(pod));
        index.apply(new EndpointSliceUpserted(slice("sample", "s1", "helloworld", "http", 5000, "n1",
                ep("10.0.0.1", true, "p1"))));

        assertThat(index.build().endpoints()).singleElement().extracting(Endpoint::serviceAccount)
                .isEqualTo("default");
    }

    // --- ServiceEntry and WorkloadEntry ---

    private static final String BILLING_ENTRY = """
            hosts: [billing.vm.example]
            location: MESH_INTERNAL
            resolution: STATIC
            ports: [{number: 8080, name: http, targetPort: 9080}]
            workloadSelector: {labels: {app: billing}}
            """;

    @Test
    void aServiceEntryHostIsAServiceOfThisClusterServedByTheWorkloadsItSelects() {
        demoEvents().forEach(index::apply);
        index.apply(new NamespaceUpserted(namespace("vm", "vm-net")));
        index.apply(new IstioObjectUpserted("ServiceEntry", IstioWorkloadsTest.serviceEntry("vm", "billing",
                BILLING_ENTRY)));
        index.apply(new IstioObjectUpserted("WorkloadEntry", IstioWorkloadsTest.resource("WorkloadEntry", "vm",
                "billing-vm-1", "address: 10.9.0.8\nlabels: {app: billing, version: v1}\nlocality: us-east/us-east-1c"
                        + "\nserviceAccount: billing\nports: {http: 19080}")));
        index.apply(new IstioObjectUpserted("WorkloadEntry", IstioWorkloadsTest.resource("WorkloadEntry", "vm",
                "ledger-vm-1", "address: 10.9.0.9\nlabels: {app: ledger}")));
        index.apply(new IstioObjectUpserted("WorkloadEntry", IstioWorkloadsTest.resource("WorkloadEntry", "other",
                "billing-elsewhere", "address: 10.9.0.10\nlabels: {app: billing}")));
        Pod billingPod = new PodBuilder(pod("vm", "billing-pod", "billing", "billing", "east-node-1", "127.101.1.9",
                Map.of())).editStatus().addNewCondition().withType("Ready").withStatus("True").endCondition()
                .endStatus().build();
        index.apply(new PodUpserted(billingPod));

        ClusterState state = index.build();

        ServiceKey billing = new ServiceKey("vm", "billing.vm.example");
        assertThat(state.services()).contains(new MeshService(billing, "billing.vm.example",
                List.of(new ServicePort("http", 8080, 9080, "HTTP")), Map.of(), Set.of("*"), false));
        assertThat(state.endpoints()).filteredOn(e -> e.service().equals(billing)).containsExactly(
                new Endpoint(billing, "10.9.0.8", Map.of("http", 19080), true, new Locality("us-east", "us-east-1c", ""),
                        "east", "vm-net", "billing", "billing-vm-1", Map.of("app", "billing", "version", "v1")),
                new Endpoint(billing, "127.101.1.9", Map.of("http", 9080), true,
                        new Locality("us-east", "us-east-1a", ""), "east", "vm-net", "billing", "billing-pod",
                        Map.of("app", "billing", "version", "v1")));
        assertThat(rejections).isEmpty();

        // Deleting the WorkloadEntry removes its endpoint; deleting the entry removes the host.
        index.apply(new IstioObjectDeleted("WorkloadEntry", IstioWorkloadsTest.resource("WorkloadEntry", "vm",
                "billing-vm-1", "address: 10.9.0.8")));
        assertThat(index.build().endpoints()).filteredOn(e -> e.service().equals(billing))
                .extracting(Endpoint::address).containsExactly("127.101.1.9");
        index.apply(new IstioObjectDeleted("ServiceEntry", IstioWorkloadsTest.serviceEntry("vm", "billing",
                BILLING_ENTRY)));
        assertThat(index.build().services()).extracting(MeshService::key).doesNotContain(billing);
        assertThat(index.build().endpoints()).noneMatch(e -> e.service().equals(billing));
    }

    @Test
    void aMalformedServiceEntryUpdateKeepsTheLastGoodOneAndOneTranslationRoutesIsDropped() {
        index.apply(new IstioObjectUpserted("ServiceEntry", IstioWorkloadsTest.serviceEntry("vm", "db", """
                hosts: [db.vm.example]
                location: MESH_INTERNAL
                resolution: STATIC
                ports: [{number: 5432, name: tcp}]
                endpoints: [{address: 10.9.0.20}]
                """)));
        index.apply(new IstioObjectUpserted("ServiceEntry", IstioWorkloadsTest.serviceEntry("vm", "db", """
                hosts: [db.vm.example]
                location: MESH_INTERNAL
                resolution: STATIC
                ports: [{number: 99999, name: tcp}]
                """)));
        assertThat(index.build().endpoints()).extracting(Endpoint::address, Endpoint::ports)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("10.9.0.20", Map.of("tcp", 5432)));
        assertThat(rejections).containsExactly("ServiceEntry vm/db invalid");

        index.apply(new IstioObjectUpserted("ServiceEntry", IstioWorkloadsTest.serviceEntry("vm", "db", """
                hosts: [db.vm.example]
                resolution: DNS
                ports: [{number: 5432, name: tcp}]
                """)));
        // A DNS entry is routed by the controller's translation: not a mesh service here, not rejected.
        assertThat(index.build().services()).isEmpty();
        assertThat(rejections).containsExactly("ServiceEntry vm/db invalid");
    }

    @Test
    void aHostAServiceAlreadyDefinesStaysThatService() {
        demoEvents().forEach(index::apply);
        index.apply(new IstioObjectUpserted("ServiceEntry", IstioWorkloadsTest.serviceEntry("sample", "shadow", """
                hosts: [helloworld.sample.svc.cluster.local]
                location: MESH_INTERNAL
                resolution: STATIC
                ports: [{number: 5000, name: http}]
                endpoints: [{address: 10.9.0.30}]
                """)));
        ClusterState state = index.build();
        assertThat(state.services()).extracting(MeshService::key).containsExactly(HELLO);
        assertThat(state.endpoints()).extracting(Endpoint::address).containsExactly("127.101.1.1");
    }
}
