package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.MeshFixture.HELLOWORLD;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Tables of "this proxy, this service → these endpoints and resources". */
class XdsTranslatorTest {

    private static final String HELLOWORLD_CLUSTER = "outbound|5000||" + HELLOWORLD;
    private static final String HELLOWORLD_SNI = "outbound_.5000_._." + HELLOWORLD;

    static Stream<Arguments> endpointTable() {
        return Stream.of(
                // A net1 sidecar dials east pods directly and eu only as eu's gateway, weighted by
                // eu's two ready pods.
                Arguments.of("west sidecar", MeshFixture.westCurlSidecar(), HELLOWORLD_CLUSTER,
                        List.of("127.101.1.1:5000 w1 HEALTHY direct east",
                                "127.101.1.2:5000 w1 UNHEALTHY direct east",
                                "127.103.0.2:15443 w2 HEALTHY gateway eu")),
                // A net2 sidecar dials eu pods directly and east (net1) only via a net1 gateway,
                // counting only east's ready pod.
                Arguments.of("eu sidecar", MeshFixture.euHelloworldSidecar(), HELLOWORLD_CLUSTER,
                        List.of("127.101.0.2:15443 w1 HEALTHY gateway east",
                                "127.103.1.1:5000 w1 HEALTHY direct eu",
                                "127.103.1.2:5000 w1 HEALTHY direct eu")),
                // The eu gateway holds only its own network's pods.
                Arguments.of("eu gateway", MeshFixture.euGateway(), HELLOWORLD_SNI,
                        List.of("127.103.1.1:5000 w1 HEALTHY direct eu",
                                "127.103.1.2:5000 w1 HEALTHY direct eu")),
                // The east gateway holds every net1 pod, never a gateway address.
                Arguments.of("east gateway",
                        MeshFixture.gateway("east", "net1", "127.101.0.2", MeshFixture.EAST_LOCALITY),
                        HELLOWORLD_SNI,
                        List.of("127.101.1.1:5000 w1 HEALTHY direct east",
                                "127.101.1.2:5000 w1 UNHEALTHY direct east")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("endpointTable")
    void endpointsAsEachProxyMustDialThem(String label, ProxyNode node, String clusterName, List<String> expected) {
        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), node);

        assertThat(describe(assignment(resources, clusterName))).containsExactlyInAnyOrderElementsOf(expected);
    }

    @Test
    void localityWeightIsTheSumOfItsEndpointWeights() {
        ClusterLoadAssignment cla = assignment(
                MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar()), HELLOWORLD_CLUSTER);

        assertThat(cla.getEndpointsList()).hasSize(2).allSatisfy(lle -> {
            int sum = lle.getLbEndpointsList().stream().mapToInt(e -> e.getLoadBalancingWeight().getValue()).sum();
            assertThat(lle.getLoadBalancingWeight().getValue()).isEqualTo(sum);
            assertThat(lle.getPriority()).isZero();
        });
        LocalityLbEndpoints eu = cla.getEndpointsList().stream()
                .filter(l -> l.getLocality().getRegion().equals("eu-west")).findFirst().orElseThrow();
        assertThat(eu.getLoadBalancingWeight().getValue()).isEqualTo(2);
        assertThat(eu.getLocality().getZone()).isEqualTo("eu-west-1a");
    }

    @Test
    void gatewayEndpointsNeverIncludeAnotherNetworksPods() {
        // Scale eu to many pods: the west sidecar's EDS must still hold exactly one eu entry.
        ClusterState eu = MeshFixture.eu();
        List<io.isthmus.discovery.Endpoint> many = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            io.isthmus.discovery.Endpoint template = eu.endpoints().get(0);
            many.add(new io.isthmus.discovery.Endpoint(template.service(), "127.103.1." + i, template.ports(), true,
                    template.locality(), "eu", "net2", "helloworld", "helloworld-v2-eu-" + i, template.labels()));
        }
        FederatedState state = MeshFixture.state(MeshFixture.east(), MeshFixture.west(),
                new ClusterState("eu", "net2", eu.services(), many, eu.gateways()));

        List<String> west = describe(assignment(MeshFixture.translate(state, MeshFixture.westCurlSidecar()),
                HELLOWORLD_CLUSTER));
        List<String> gateway = describe(assignment(MeshFixture.translate(state, MeshFixture.euGateway()),
                HELLOWORLD_SNI));

        assertThat(west).filteredOn(s -> s.contains(" eu")).containsExactly("127.103.0.2:15443 w5 HEALTHY gateway eu");
        assertThat(gateway).hasSize(5).allMatch(s -> s.startsWith("127.103.1.") && s.endsWith("direct eu"));
    }

    @Test
    void aServiceEntryHostInAnotherNetworkIsRoutedByItsFullNameThroughThatNetworksGateway() {
        // What discovery makes of a MESH_INTERNAL ServiceEntry in eu selecting two VMs' WorkloadEntries.
        io.isthmus.discovery.ServiceKey key = new io.isthmus.discovery.ServiceKey("vm", "billing.vm.example");
        ClusterState eu = MeshFixture.eu();
        List<io.isthmus.discovery.Endpoint> endpoints = new ArrayList<>(eu.endpoints());
        for (int i = 1; i <= 2; i++) {
            endpoints.add(new io.isthmus.discovery.Endpoint(key, "10.9.0." + i, Map.of("http", 9080), true,
                    MeshFixture.EU_LOCALITY, "eu", "net2", "billing", "billing-vm-" + i, Map.of("app", "billing")));
        }
        List<io.isthmus.discovery.MeshService> services = new ArrayList<>(eu.services());
        services.add(new io.isthmus.discovery.MeshService(key, "billing.vm.example",
                List.of(new io.isthmus.discovery.ServicePort("http", 8080, 9080, "HTTP")), Map.of(),
                java.util.Set.of("*"), false));
        FederatedState state = MeshFixture.state(MeshFixture.east(), MeshFixture.west(),
                new ClusterState("eu", "net2", services, endpoints, eu.gateways()));

        ProxyResources west = MeshFixture.translate(state, MeshFixture.westCurlSidecar());
        assertThat(describe(assignment(west, "outbound|8080||billing.vm.example")))
                .containsExactly("127.103.0.2:15443 w2 HEALTHY gateway eu");
        VirtualHost host = west.routes().stream().filter(r -> r.getName().equals("8080")).findFirst().orElseThrow()
                .getVirtualHosts(0);
        assertThat(host.getDomainsList()).containsExactlyInAnyOrder("billing.vm.example", "billing.vm.example:8080",
                "240.240.79.26", "240.240.79.26:8080");

        ProxyResources gateway = MeshFixture.translate(state, MeshFixture.euGateway());
        assertThat(describe(assignment(gateway, "outbound_.8080_._.billing.vm.example")))
                .containsExactlyInAnyOrder("10.9.0.1:9080 w1 HEALTHY direct eu", "10.9.0.2:9080 w1 HEALTHY direct eu");
    }

    @Test
    void aProxylessGrpcClientGetsOneApiListenerPerAuthorityMtlsFromItsCertificateProviderAndNoGatewayEndpoints()
            throws InvalidProtocolBufferException {
        ProxyNode sidecar = MeshFixture.westCurlSidecar();
        ProxyNode grpc = new ProxyNode(sidecar.id(), ProxyType.GRPC, sidecar.ip(), sidecar.podName(),
                sidecar.namespace(), sidecar.serviceAccount(), sidecar.cluster(), sidecar.network(),
                sidecar.locality(), sidecar.labels());

        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), grpc);

        // The api_listeners it may dial, then the inbound listeners of its own port 8080, should it
        // serve with XdsServerBuilder (GrpcServerListenersTest).
        assertThat(names(resources.listeners())).containsExactly("curl.sample.svc.cluster.local:80",
                HELLOWORLD + ":5000", "xds.istio.io/grpc/lds/inbound/0.0.0.0:8080",
                "xds.istio.io/grpc/lds/inbound/127.102.1.1:8080", "xds.istio.io/grpc/lds/inbound/[::]:8080");
        var hcm = listener(resources, HELLOWORLD + ":5000").getApiListener().getApiListener()
                .unpack(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3
                        .HttpConnectionManager.class);
        assertThat(hcm.getRouteConfig().getVirtualHosts(0).getDomainsList())
                .containsExactly(HELLOWORLD + ":5000", HELLOWORLD);
        assertThat(hcm.getRouteConfig().getVirtualHosts(0).getRoutes(0).getRoute().getCluster())
                .isEqualTo(HELLOWORLD_CLUSTER);
        assertThat(hcm.getHttpFiltersList()).extracting(f -> f.getName()).containsExactly("envoy.filters.http.router");
        // The mesh's mTLS in gRPC's form: certificates from the bootstrap's provider, not SDS.
        var tls = cluster(resources, HELLOWORLD_CLUSTER).getTransportSocket().getTypedConfig()
                .unpack(UpstreamTlsContext.class).getCommonTlsContext();
        assertThat(tls.getTlsCertificateProviderInstance().getInstanceName()).isEqualTo("default");
        assertThat(tls.getTlsCertificateSdsSecretConfigsList()).isEmpty();
        assertThat(resources.routes()).isEmpty();
        assertThat(resources.secrets()).isEmpty();
        // eu's pods sit behind eu's gateway, which only an mTLS peer with SNI can cross.
        assertThat(describe(assignment(resources, HELLOWORLD_CLUSTER))).containsExactlyInAnyOrder(
                "127.101.1.1:5000 w1 HEALTHY direct east", "127.101.1.2:5000 w1 UNHEALTHY direct east");
    }

    @Test
    void sidecarOutboundClusterIsEdsOverAdsWithMeshTls() throws InvalidProtocolBufferException {
        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar());
        Cluster cluster = cluster(resources, HELLOWORLD_CLUSTER);

        assertThat(cluster.getType()).isEqualTo(Cluster.DiscoveryType.EDS);
        assertThat(cluster.getEdsClusterConfig().getServiceName()).isEqualTo(HELLOWORLD_CLUSTER);
        assertThat(cluster.getEdsClusterConfig().getEdsConfig().hasAds()).isTrue();
        UpstreamTlsContext tls = cluster.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
        assertThat(tls.getSni()).isEqualTo(HELLOWORLD_SNI);
        assertThat(tls.getCommonTlsContext().getAlpnProtocolsList()).containsExactly("http/1.1");
        assertThat(tls.getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName()).isEqualTo("default");
        // Roots from SDS, and the server must be one of the service accounts of helloworld's
        // endpoints in every cluster (eu's too, reached through its gateway), as pilot sends it.
        var validation = tls.getCommonTlsContext().getCombinedValidationContext();
        assertThat(validation.getValidationContextSdsSecretConfig().getName()).isEqualTo("ROOTCA");
        assertThat(ClusterTls.meshIdentities(tls)).containsExactly("spiffe://cluster.local/ns/sample/sa/helloworld");
    }

    @Test
    void sidecarServesItsOwnWorkloadsTargetPortsOnly() throws InvalidProtocolBufferException {
        ProxyResources curl = MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar());
        ProxyResources hello = MeshFixture.translate(MeshFixture.state(), MeshFixture.euHelloworldSidecar());

        // curl's service port 80 targets 8080: the inbound side is keyed by where traffic arrives.
        assertThat(names(curl.clusters())).contains("inbound|8080||").doesNotContain("inbound|5000||");
        assertThat(names(hello.clusters())).contains("inbound|5000||").doesNotContain("inbound|8080||");
        Cluster inbound = cluster(hello, "inbound|5000||");
        assertThat(inbound.getType()).isEqualTo(Cluster.DiscoveryType.STATIC);
        assertThat(inbound.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress()
                .getSocketAddress().getAddress()).isEqualTo("127.0.0.1");

        Listener virtualInbound = listener(hello, "virtualInbound");
        assertThat(virtualInbound.getAddress().getSocketAddress().getPortValue()).isEqualTo(15006);
        assertThat(virtualInbound.getFilterChainsList()).hasSize(1);
        FilterChain chain = virtualInbound.getFilterChains(0);
        assertThat(chain.getFilterChainMatch().getDestinationPort().getValue()).isEqualTo(5000);
        DownstreamTlsContext tls = chain.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class);
        assertThat(tls.getRequireClientCertificate().getValue()).isTrue();
    }

    @Test
    void sidecarWithoutAnEndpointInItsClusterHasNoInboundPorts() {
        ProxyNode stranger = new ProxyNode("sidecar~127.102.1.9~other.sample~sample.svc.cluster.local",
                ProxyType.SIDECAR, "127.102.1.9", "other", "sample", "other", "west", "net1",
                MeshFixture.WEST_LOCALITY, Map.of());

        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), stranger);

        assertThat(names(resources.clusters())).noneMatch(n -> n.startsWith("inbound|"));
        assertThat(listener(resources, "virtualInbound").getFilterChainsList()).isEmpty();
    }

    @Test
    void aClusterSetHostIsServedByTheExportingClustersUnderItsOwnNamesAndSni() {
        // eu alone exports helloworld (a ServiceExport); east still runs it without exporting it.
        ClusterState eu = MeshFixture.eu();
        ClusterState euExporting = new ClusterState("eu", "net2",
                eu.services().stream().map(s -> s.withClusterSetExport(true)).toList(), eu.endpoints(), eu.gateways());
        FederatedState state = MeshFixture.state(MeshFixture.east(), MeshFixture.west(), euExporting);
        String clusterSet = "helloworld.sample.svc.clusterset.local";

        ProxyResources west = MeshFixture.translate(state, MeshFixture.westCurlSidecar());
        Cluster cluster = west.clusters().stream().filter(c -> c.getName().equals("outbound|5000||" + clusterSet))
                .findFirst().orElseThrow();
        assertThat(cluster.getEdsClusterConfig().getServiceName()).isEqualTo("outbound|5000||" + clusterSet);
        assertThat(sni(cluster)).isEqualTo("outbound_.5000_._." + clusterSet);
        assertThat(describe(assignment(west, "outbound|5000||" + clusterSet)))
                .containsExactly("127.103.0.2:15443 w2 HEALTHY gateway eu");
        // The cluster.local host keeps every cluster's endpoints.
        assertThat(describe(assignment(west, HELLOWORLD_CLUSTER))).hasSize(3);
        RouteConfiguration route = west.routes().stream().filter(r -> r.getName().equals("5000"))
                .findFirst().orElseThrow();
        assertThat(route.getVirtualHostsList()).extracting(VirtualHost::getName)
                .containsExactly(HELLOWORLD + ":5000", clusterSet + ":5000");
        assertThat(route.getVirtualHosts(1).getDomainsList()).containsExactlyInAnyOrder(clusterSet, clusterSet + ":5000",
                "240.240.201.47", "240.240.201.47:5000");
        assertThat(route.getVirtualHosts(1).getRoutes(0).getRoute().getCluster())
                .isEqualTo("outbound|5000||" + clusterSet);
        // No domain twice in one route configuration (Envoy would reject it).
        List<String> domains = route.getVirtualHostsList().stream().flatMap(v -> v.getDomainsList().stream()).toList();
        assertThat(domains).doesNotHaveDuplicates();

        // eu's gateway relays the clusterset SNI to eu's pods; east's gateway has no clusterset host at all.
        ProxyResources euGateway = MeshFixture.translate(state, MeshFixture.euGateway());
        assertThat(describe(assignment(euGateway, "outbound_.5000_._." + clusterSet)))
                .containsExactly("127.103.1.1:5000 w1 HEALTHY direct eu", "127.103.1.2:5000 w1 HEALTHY direct eu");
        ProxyResources eastGateway = MeshFixture.translate(state,
                MeshFixture.gateway("east", "net1", "127.101.0.2", MeshFixture.EAST_LOCALITY));
        assertThat(names(eastGateway.clusters())).contains(HELLOWORLD_SNI)
                .noneMatch(name -> name.endsWith(clusterSet));
    }

    private static String sni(Cluster cluster) {
        try {
            return cluster.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class).getSni();
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void routeConfigPerPortWithEveryShortName() {
        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar());

        assertThat(names(resources.routes())).containsExactly("5000", "80"); // by name, as every list
        assertThat(names(resources.listeners())).containsExactly("0.0.0.0_5000", "0.0.0.0_80", "virtualInbound",
                "virtualOutbound");
        RouteConfiguration route = resources.routes().stream().filter(r -> r.getName().equals("5000"))
                .findFirst().orElseThrow();
        VirtualHost host = route.getVirtualHosts(0);
        assertThat(host.getName()).isEqualTo(HELLOWORLD + ":5000");
        assertThat(host.getDomainsList()).containsExactlyInAnyOrder(HELLOWORLD, HELLOWORLD + ":5000",
                "helloworld", "helloworld:5000", "helloworld.sample", "helloworld.sample:5000",
                "helloworld.sample.svc", "helloworld.sample.svc:5000",
                // Its VIP (auto-allocated: the fixture's API servers assign no ClusterIP), as Istio.
                "240.240.195.1", "240.240.195.1:5000");
        assertThat(host.getRoutes(0).getMatch().getPrefix()).isEqualTo("/");
        assertThat(host.getRoutes(0).getRoute().getCluster()).isEqualTo(HELLOWORLD_CLUSTER);
    }

    @Test
    void rootCaHoldsEveryTrustRoot() {
        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar());

        assertThat(resources.secrets()).hasSize(1);
        String bundle = resources.secrets().get(0).getValidationContext().getTrustedCa().getInlineString();
        assertThat(resources.secrets().get(0).getName()).isEqualTo("ROOTCA");
        assertThat(bundle).contains("Rk9SLVRFU1RTLXJvb3QtYQ==", "Rk9SLVRFU1RTLXJvb3QtYg==");
        assertThat(bundle.split("-----BEGIN CERTIFICATE-----", -1)).hasSize(3);
    }

    @Test
    void withoutTrustRootsThereIsNoRootCaRatherThanAnEmptyOne() {
        ProxyNode node = MeshFixture.westCurlSidecar();

        ProxyResources resources = XdsTranslator.translate(MeshFixture.viewOf(MeshFixture.state(), node), node,
                List.of());

        assertThat(resources.secrets()).isEmpty();
        assertThat(resources.clusters()).isNotEmpty();
    }

    @Test
    void gatewayListensOn15443WithOneChainPerSni() throws InvalidProtocolBufferException {
        ProxyResources resources = MeshFixture.translate(MeshFixture.state(), MeshFixture.euGateway());

        assertThat(names(resources.clusters())).containsExactly(HELLOWORLD_SNI);
        assertThat(resources.clusters().get(0).hasTransportSocket()).isFalse();
        assertThat(resources.routes()).isEmpty();
        assertThat(names(resources.secrets())).containsExactly("ROOTCA");
        Listener listener = listener(resources, "0.0.0.0_15443");
        assertThat(listener.getAddress().getSocketAddress().getPortValue()).isEqualTo(15443);
        assertThat(listener.getFilterChainsList()).hasSize(1);
        FilterChain chain = listener.getFilterChains(0);
        assertThat(chain.getFilterChainMatch().getServerNamesList()).containsExactly(HELLOWORLD_SNI);
        assertThat(chain.getFilters(0).getTypedConfig().unpack(TcpProxy.class).getCluster()).isEqualTo(HELLOWORLD_SNI);
    }

    @Test
    void translationIsDeterministicWhateverTheInputOrder() {
        FederatedState state = MeshFixture.state();
        ClusterState east = MeshFixture.east();
        List<io.isthmus.discovery.Endpoint> reversed = new ArrayList<>(east.endpoints());
        Collections.reverse(reversed);
        FederatedState shuffled = MeshFixture.state(
                new ClusterState("east", "net1", east.services(), reversed, east.gateways()),
                MeshFixture.west(), MeshFixture.eu());
        List<String> reversedRoots = new ArrayList<>(MeshFixture.ROOTS);
        Collections.reverse(reversedRoots);

        ProxyNode node = MeshFixture.westCurlSidecar();
        ProxyResources first = MeshFixture.translate(state, node);
        ProxyResources second = XdsTranslator.translate(MeshFixture.viewOf(shuffled, node), node, reversedRoots);

        assertThat(second).isEqualTo(first);
        assertThat(ResourcesJson.toJson(second)).isEqualTo(ResourcesJson.toJson(first));
    }

    @Test
    void endpointMetadataRecordsProvenance() {
        ClusterLoadAssignment cla = assignment(
                MeshFixture.translate(MeshFixture.state(), MeshFixture.westCurlSidecar()), HELLOWORLD_CLUSTER);

        LbEndpoint direct = lbEndpoints(cla).stream()
                .filter(e -> e.getEndpoint().getAddress().getSocketAddress().getAddress().equals("127.101.1.1"))
                .findFirst().orElseThrow();
        var istio = direct.getMetadata().getFilterMetadataOrThrow("istio").getFieldsMap();
        assertThat(istio.get("cluster").getStringValue()).isEqualTo("east");
        assertThat(istio.get("network").getStringValue()).isEqualTo("net1");
        assertThat(istio.get("workload").getStringValue()).isEqualTo("helloworld-v1-east-1");
        assertThat(istio.get("via_gateway").getBoolValue()).isFalse();
    }

    private static List<String> describe(ClusterLoadAssignment cla) {
        List<String> out = new ArrayList<>();
        for (LbEndpoint e : lbEndpoints(cla)) {
            var address = e.getEndpoint().getAddress().getSocketAddress();
            var istio = e.getMetadata().getFilterMetadataOrThrow("istio").getFieldsMap();
            out.add(address.getAddress() + ":" + address.getPortValue()
                    + " w" + e.getLoadBalancingWeight().getValue()
                    + " " + (e.getHealthStatus() == HealthStatus.HEALTHY ? "HEALTHY" : "UNHEALTHY")
                    + " " + (istio.get("via_gateway").getBoolValue() ? "gateway" : "direct")
                    + " " + istio.get("cluster").getStringValue());
        }
        return out;
    }

    private static List<LbEndpoint> lbEndpoints(ClusterLoadAssignment cla) {
        return cla.getEndpointsList().stream().flatMap(l -> l.getLbEndpointsList().stream()).toList();
    }

    private static ClusterLoadAssignment assignment(ProxyResources resources, String name) {
        return resources.endpoints().stream().filter(c -> c.getClusterName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no EDS " + name + " in " + names(resources.endpoints())));
    }

    private static Cluster cluster(ProxyResources resources, String name) {
        return resources.clusters().stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no CDS " + name + " in " + names(resources.clusters())));
    }

    private static Listener listener(ProxyResources resources, String name) {
        return resources.listeners().stream().filter(l -> l.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no LDS " + name + " in " + names(resources.listeners())));
    }

    private static List<String> names(List<? extends com.google.protobuf.Message> messages) {
        return messages.stream().map(io.envoyproxy.controlplane.cache.Resources::getResourceName).toList();
    }
}
