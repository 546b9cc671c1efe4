package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** What a proxyless gRPC client gets for locality load balancing, in the shapes grpc-xds accepts. */
class GrpcTranslatorTest {

    private static final String CLUSTER = "outbound|5000||" + MeshFixture.HELLOWORLD;
    /** Outlier detection enables Istio's locality priorities; us-west fails over to eu-west first. */
    private static final String FAILOVER_TO_EU = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: helloworld}
            spec:
              host: helloworld
              trafficPolicy:
                outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s}
                loadBalancer:
                  localityLbSetting:
                    enabled: true
                    failover:
                    - {from: us-west, to: eu-west}
            """;

    @Test
    void prioritiesLeftAfterDroppingGatewayLocalitiesHaveNoGap() {
        // A sidecar in west ranks eu-west (the failover region, behind eu's gateway) 0 and us-east 1.
        ClusterLoadAssignment sidecar = assignment(translate(ProxyType.SIDECAR));
        assertThat(sidecar.getEndpointsList()).extracting(l -> l.getLocality().getRegion() + "=" + l.getPriority())
                .containsExactlyInAnyOrder("eu-west=0", "us-east=1");

        // The proxyless client cannot cross the gateway: eu goes, and us-east moves up to 0, since
        // grpc-xds NACKs an assignment whose priorities are sparse (no 0, or a gap).
        ClusterLoadAssignment grpc = assignment(translate(ProxyType.GRPC));
        assertThat(grpc.getEndpointsList()).extracting(l -> l.getLocality().getRegion() + "=" + l.getPriority()
                + " w" + l.getLoadBalancingWeight().getValue()).containsExactly("us-east=0 w2");
    }

    @Test
    void maglevBecomesRingHashAndTheListenerKeepsTheHashPolicy() throws Exception {
        String maglev = """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    loadBalancer:
                      consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}
                """;
        assertThat(cluster(translate(ProxyType.SIDECAR, maglev)).getLbPolicy()).isEqualTo(Cluster.LbPolicy.MAGLEV);
        ProxyResources grpc = translate(ProxyType.GRPC, maglev);
        // grpc-xds knows ROUND_ROBIN, RING_HASH and LEAST_REQUEST only; anything else is a NACK.
        assertThat(cluster(grpc).getLbPolicy()).isEqualTo(Cluster.LbPolicy.RING_HASH);
        assertThat(cluster(grpc).hasMaglevLbConfig()).isFalse();
        Listener listener = grpc.listeners().stream()
                .filter(l -> l.getName().equals(MeshFixture.HELLOWORLD + ":5000")).findFirst().orElseThrow();
        HttpConnectionManager hcm = listener.getApiListener().getApiListener().unpack(HttpConnectionManager.class);
        assertThat(hcm.getRouteConfig().getVirtualHosts(0).getRoutes(0).getRoute().getHashPolicy(0)
                .getHeader().getHeaderName()).isEqualTo("x-user");
    }

    @Test
    @SuppressWarnings("deprecation")
    void aStrictDestinationGetsMtlsFromTheBootstrapsCertificateProviderCheckedAgainstItsIdentities()
            throws Exception {
        // No PeerAuthentication: Isthmus' default is STRICT, so the mesh's mTLS.
        Cluster cluster = cluster(translate(ProxyType.GRPC, FAILOVER_TO_EU));
        assertThat(cluster.getTransportSocket().getName()).isEqualTo("envoy.transport_sockets.tls");
        UpstreamTlsContext tls = cluster.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
        CommonTlsContext common = tls.getCommonTlsContext();
        // As Istio's grpcgen and its gRPC bootstrap name them; no SDS (grpc-xds NACKs it).
        assertThat(common.getTlsCertificateProviderInstance().getInstanceName()).isEqualTo("default");
        assertThat(common.getTlsCertificateProviderInstance().getCertificateName()).isEqualTo("default");
        assertThat(common.getValidationContext().getCaCertificateProviderInstance().getInstanceName())
                .isEqualTo("default");
        assertThat(common.getValidationContext().getCaCertificateProviderInstance().getCertificateName())
                .isEqualTo("ROOTCA");
        assertThat(common.getTlsCertificateSdsSecretConfigsList()).isEmpty();
        assertThat(common.hasValidationContextSdsSecretConfig()).isFalse();
        // The endpoints left (east's helloworld pods) run as helloworld.
        assertThat(common.getValidationContext().getMatchSubjectAltNamesList()).extracting(m -> m.getExact())
                .containsExactly("spiffe://cluster.local/ns/sample/sa/helloworld");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "mesh DISABLE | istio-system | '' | DISABLE | '' | false",
            "namespace DISABLE | sample | '' | DISABLE | '' | false",
            "namespace PERMISSIVE | sample | '' | PERMISSIVE | '' | true",
            "workload DISABLE | sample | 'selector: {matchLabels: {app: helloworld}}' | DISABLE | '' | false",
            "another workload's DISABLE | sample | 'selector: {matchLabels: {app: curl}}' | DISABLE | '' | true",
            "target port DISABLE | sample | 'selector: {matchLabels: {app: helloworld}}' | STRICT"
                    + " | 'portLevelMtls: {5000: {mode: DISABLE}}' | false",
            "another port DISABLE | sample | 'selector: {matchLabels: {app: helloworld}}' | STRICT"
                    + " | 'portLevelMtls: {9080: {mode: DISABLE}}' | true",
    })
    void theDestinationsPeerAuthenticationDecidesBetweenMtlsAndPlaintext(String name, String namespace,
            String selector, String mode, String portLevel, boolean mtls) {
        String peerAuthentication = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: pa, namespace: %s}
                spec:
                  %s
                  mtls: {mode: %s}
                  %s
                """.formatted(namespace, selector, mode, portLevel);
        String yaml = FAILOVER_TO_EU + "---\n" + peerAuthentication;
        assertThat(cluster(translate(ProxyType.GRPC, yaml)).hasTransportSocket()).as(name).isEqualTo(mtls);
        // The sidecar in the same place always dials the mesh's mTLS (its peers adapt by sniffing).
        assertThat(cluster(translate(ProxyType.SIDECAR, yaml)).hasTransportSocket()).isTrue();
    }

    private static Cluster cluster(ProxyResources resources) {
        return resources.clusters().stream().filter(c -> c.getName().equals(CLUSTER)).findFirst().orElseThrow();
    }

    private static ProxyResources translate(ProxyType type) {
        return translate(type, FAILOVER_TO_EU);
    }

    private static ProxyResources translate(ProxyType type, String yaml) {
        ProxyNode curl = MeshFixture.westCurlSidecar();
        return PolicyFixture.translate(new ProxyNode(curl.id(), type, curl.ip(), curl.podName(),
                curl.namespace(), curl.serviceAccount(), curl.cluster(), curl.network(), curl.locality(),
                curl.labels()), yaml);
    }

    private static ClusterLoadAssignment assignment(ProxyResources resources) {
        return resources.endpoints().stream().filter(c -> c.getClusterName().equals(CLUSTER)).findFirst()
                .orElseThrow(() -> new AssertionError("no EDS " + CLUSTER));
    }
}
