package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.controller.config.MeshSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * External ServiceEntries (location × resolution) and the DestinationRule {@code tls} modes on
 * west's curl sidecar: tables of cluster type, endpoints and TLS, and a golden file of a typical
 * egress setup ({@code golden/external-*.json}, refresh with {@code -Dgolden.refresh=true}).
 */
class ExternalServicesTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");

    private static ProxyResources translate(String yaml) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    private static String entry(String location, String resolution, String extra) {
        return """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: sample}
                spec:
                  hosts: [api.example.com]
                  location: %s
                  resolution: %s
                  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
                """.formatted(location, resolution) + extra.indent(2);
    }

    private static Optional<Cluster> cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst();
    }

    private static Optional<UpstreamTlsContext> tls(Cluster c) throws IOException {
        return c.hasTransportSocket()
                ? Optional.of(c.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class))
                : Optional.empty();
    }

    private static List<String> addresses(ClusterLoadAssignment cla) {
        return cla.getEndpointsList().stream().flatMap(l -> l.getLbEndpointsList().stream())
                .map(LbEndpoint::getEndpoint)
                .map(e -> e.getAddress().getSocketAddress().getAddress() + ":"
                        + e.getAddress().getSocketAddress().getPortValue())
                .sorted().toList();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource(delimiter = '#', value = {
            // location # resolution # endpoints # type # inline addresses # EDS addresses # tls
            "MESH_EXTERNAL # DNS # '' # STRICT_DNS # api.example.com:8080 # # none",
            "MESH_EXTERNAL # DNS # 'endpoints: [{address: a.example.com}, {address: b.example.com, ports: {http: 9090}}]'"
                    + " # STRICT_DNS # a.example.com:8080 b.example.com:9090 # # none",
            "MESH_EXTERNAL # DNS_ROUND_ROBIN # '' # LOGICAL_DNS # api.example.com:8080 # # none",
            "MESH_EXTERNAL # STATIC # 'endpoints: [{address: 10.1.0.1}, {address: 10.1.0.2, weight: 3}]'"
                    + " # EDS # # 10.1.0.1:8080 10.1.0.2:8080 # none",
            "MESH_EXTERNAL # NONE # '' # ORIGINAL_DST # # # none",
            "MESH_INTERNAL # DNS # '' # STRICT_DNS # api.example.com:8080 # # mesh",
            "MESH_INTERNAL # NONE # '' # ORIGINAL_DST # # # mesh",
    })
    void locationAndResolutionPickTheClusterTypeEndpointsAndTls(String location, String resolution, String endpoints,
            DiscoveryType type, String inline, String eds, String tls) throws IOException {
        ProxyResources r = translate(entry(location, resolution, endpoints));
        Cluster c = cluster(r, "outbound|80||api.example.com").orElseThrow();
        assertThat(c.getType()).isEqualTo(type);
        List<String> expectedInline = inline == null ? List.of() : List.of(inline.trim().split(" "));
        assertThat(addresses(c.getLoadAssignment())).isEqualTo(expectedInline);
        Optional<ClusterLoadAssignment> cla = r.endpoints().stream()
                .filter(e -> e.getClusterName().equals(c.getName())).findFirst();
        if (eds == null) {
            assertThat(cla).isEmpty();
        } else {
            assertThat(addresses(cla.orElseThrow())).isEqualTo(List.of(eds.trim().split(" ")));
        }
        Optional<UpstreamTlsContext> ctx = tls(c);
        switch (tls) {
            case "none" -> assertThat(ctx).isEmpty();
            case "mesh" -> {
                assertThat(ctx.orElseThrow().getSni()).isEqualTo("outbound_.80_._.api.example.com");
                assertThat(ctx.get().getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName())
                        .isEqualTo("default");
            }
            default -> throw new AssertionError(tls);
        }
        if (type == DiscoveryType.STRICT_DNS || type == DiscoveryType.LOGICAL_DNS) {
            assertThat(c.getRespectDnsTtl()).isTrue();
            assertThat(c.getDnsRefreshRate().getSeconds()).isEqualTo(60);
        }
    }

    @Test
    void aMeshInternalEntrysSubjectAltNamesAreWhoMayAnswerUnderTheMeshsMtls() throws IOException {
        ProxyResources r = translate(entry("MESH_INTERNAL", "DNS",
                "subjectAltNames: [spiffe://cluster.local/ns/api/sa/api, spiffe://cluster.local/ns/api/sa/api-canary]"));
        UpstreamTlsContext ctx = tls(cluster(r, "outbound|80||api.example.com").orElseThrow()).orElseThrow();

        assertThat(ClusterTls.meshIdentities(ctx)).containsExactly(
                "spiffe://cluster.local/ns/api/sa/api", "spiffe://cluster.local/ns/api/sa/api-canary");
        assertThat(ctx.getCommonTlsContext().getCombinedValidationContext().getValidationContextSdsSecretConfig()
                .getName()).isEqualTo("ROOTCA");
    }

    @Test
    void anHttpPortGetsAVirtualHostWithTheHostOnly() {
        ProxyResources r = translate(entry("MESH_EXTERNAL", "DNS", ""));
        RouteConfiguration routes = r.routes().stream().filter(rc -> rc.getName().equals("80")).findFirst()
                .orElseThrow();
        VirtualHost vh = routes.getVirtualHostsList().stream()
                .filter(v -> v.getName().equals("api.example.com:80")).findFirst().orElseThrow();
        assertThat(vh.getDomainsList()).containsExactly("api.example.com", "api.example.com:80");
        assertThat(vh.getRoutes(0).getRoute().getCluster()).isEqualTo("outbound|80||api.example.com");
        assertThat(r.listeners()).extracting(Listener::getName).contains("0.0.0.0_80");
    }

    @Test
    void aTlsPortGetsAClusterButNoHttpRoute() {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: sample}
                spec:
                  hosts: [api.example.com]
                  resolution: DNS
                  ports: [{number: 443, name: tls, protocol: TLS}]
                """);
        assertThat(cluster(r, "outbound|443||api.example.com")).isPresent();
        assertThat(r.routes()).extracting(RouteConfiguration::getName).doesNotContain("443");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "SIMPLE with a CA # 'tls: {mode: SIMPLE, caCertificates: /etc/certs/api-ca.pem, subjectAltNames: [api.example.com]}'"
                    + " # api.example.com # /etc/certs/api-ca.pem # api.example.com # false",
            "SIMPLE, system roots, own SNI # 'tls: {mode: SIMPLE, sni: edge.example.com}'"
                    + " # edge.example.com # /etc/ssl/certs/ca-certificates.crt # # false",
            "MUTUAL # 'tls: {mode: MUTUAL, clientCertificate: /etc/certs/client.pem, privateKey: /etc/certs/key.pem,"
                    + " caCertificates: /etc/certs/ca.pem}' # api.example.com # /etc/certs/ca.pem # # true",
    })
    void destinationRuleTlsOriginatesTls(String name, String tls, String sni, String ca, String san, boolean client)
            throws IOException {
        ProxyResources r = translate(entry("MESH_EXTERNAL", "DNS", "") + """
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: api, namespace: sample}
                spec:
                  host: api.example.com
                  trafficPolicy:
                """ + tls.indent(4));
        UpstreamTlsContext ctx = tls(cluster(r, "outbound|80||api.example.com").orElseThrow()).orElseThrow();
        assertThat(ctx.getSni()).isEqualTo(sni);
        var common = ctx.getCommonTlsContext();
        assertThat(common.getValidationContext().getTrustedCa().getFilename()).isEqualTo(ca);
        assertThat(common.getValidationContext().getMatchTypedSubjectAltNamesList())
                .extracting(m -> m.getMatcher().getExact())
                .isEqualTo(san == null ? List.of() : List.of(san));
        assertThat(common.getTlsCertificatesCount()).isEqualTo(client ? 1 : 0);
        if (client) {
            assertThat(common.getTlsCertificates(0).getCertificateChain().getFilename())
                    .isEqualTo("/etc/certs/client.pem");
            assertThat(common.getTlsCertificates(0).getPrivateKey().getFilename()).isEqualTo("/etc/certs/key.pem");
        }
        assertThat(common.getTlsCertificateSdsSecretConfigsCount()).isZero();
    }

    @Test
    void aPortLevelAndASubsetTlsOverrideTheRuleOnes() throws IOException {
        ProxyResources r = translate(entry("MESH_EXTERNAL", "DNS",
                "endpoints: [{address: a.example.com, labels: {v: a}}, {address: b.example.com, labels: {v: b}}]") + """
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: api, namespace: sample}
                spec:
                  host: api.example.com
                  trafficPolicy:
                    tls: {mode: SIMPLE}
                  subsets:
                  - name: plain
                    labels: {v: b}
                    trafficPolicy:
                      portLevelSettings: [{port: {number: 80}, tls: {mode: DISABLE}}]
                """);
        assertThat(tls(cluster(r, "outbound|80||api.example.com").orElseThrow())).isPresent();
        Cluster plain = cluster(r, "outbound|80|plain|api.example.com").orElseThrow();
        assertThat(tls(plain)).isEmpty();
        assertThat(addresses(plain.getLoadAssignment())).containsExactly("b.example.com:8080");
    }

    @Test
    void aKubernetesServiceKeepsItsHostAndExportToHidesAnEntry() {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: shadow, namespace: sample}
                spec:
                  hosts: [helloworld.sample.svc.cluster.local]
                  resolution: DNS
                  ports: [{number: 5000, name: http, protocol: HTTP}]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: private, namespace: other}
                spec:
                  hosts: [private.example.com]
                  exportTo: [.]
                  resolution: DNS
                  ports: [{number: 80, name: http, protocol: HTTP}]
                """);
        assertThat(cluster(r, "outbound|5000||helloworld.sample.svc.cluster.local").orElseThrow().getType())
                .isEqualTo(DiscoveryType.EDS);
        assertThat(cluster(r, "outbound|80||private.example.com")).isEmpty();
    }

    @Test
    void aSidecarEgressScopesExternalHostsToo() {
        ProxyResources r = translate(entry("MESH_EXTERNAL", "DNS", "") + """
                ---
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: sample}
                spec:
                  egress: [{hosts: ['./helloworld.sample.svc.cluster.local']}]
                """);
        assertThat(cluster(r, "outbound|80||api.example.com")).isEmpty();
    }

    @ParameterizedTest(name = "mesh {0}, sidecar {1} → {2}")
    @CsvSource({
            "ALLOW_ANY, , PassthroughCluster",
            "REGISTRY_ONLY, , BlackHoleCluster",
            "REGISTRY_ONLY, ALLOW_ANY, PassthroughCluster",
            "ALLOW_ANY, REGISTRY_ONLY, BlackHoleCluster",
    })
    void outboundTrafficPolicyComesFromTheSidecarElseTheMeshConfig(String mesh, String sidecar, String chain) {
        String yaml = sidecar == null ? "" : """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: sample}
                spec:
                  outboundTrafficPolicy: {mode: %s}
                """.formatted(sidecar);
        MeshPolicies policies = new MeshPolicies(PolicyFixture.config(yaml), MeshFixture.state(), MeshFixture.DOMAIN,
                Map.of(), mesh);
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), policies);
        Listener outbound = r.listeners().stream().filter(l -> l.getName().equals(ResourceNames.VIRTUAL_OUTBOUND))
                .findFirst().orElseThrow();
        assertThat(outbound.getDefaultFilterChain().getName()).isEqualTo(chain);
        assertThat(cluster(r, SidecarTranslator.PASSTHROUGH_CLUSTER).isPresent())
                .isEqualTo(chain.equals("PassthroughCluster"));
    }

    @Test
    void meshConfigReadsOutboundTrafficPolicy() throws Exception {
        assertThat(MeshSettings.parse("").outboundTrafficMode()).isEqualTo("ALLOW_ANY");
        assertThat(MeshSettings.parse("outboundTrafficPolicy: {mode: REGISTRY_ONLY}").outboundTrafficMode())
                .isEqualTo("REGISTRY_ONLY");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(
                () -> MeshSettings.parse("outboundTrafficPolicy: {mode: DENY}")))
                .hasMessageContaining("outboundTrafficPolicy.mode: 'DENY' (expected: ALLOW_ANY or REGISTRY_ONLY)");
    }

    @Test
    void egressWithTlsOriginationMatchesGoldenFile() throws IOException {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: httpbin, namespace: sample}
                spec:
                  hosts: [httpbin.example.com]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: httpbin, namespace: sample}
                spec:
                  host: httpbin.example.com
                  trafficPolicy:
                    tls: {mode: SIMPLE, caCertificates: /etc/certs/httpbin-ca.pem}
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: wildcard, namespace: sample}
                spec:
                  hosts: ['*.wikipedia.org']
                  resolution: NONE
                  ports: [{number: 443, name: tls, protocol: TLS}]
                """);
        StringBuilder actual = new StringBuilder();
        r.clusters().stream().filter(c -> !c.getName().contains(".svc.cluster.local"))
                .forEach(c -> actual.append(ResourcesJson.toJson(c)).append("\n"));
        r.routes().stream().filter(rc -> rc.getName().equals("80"))
                .forEach(rc -> actual.append(ResourcesJson.toJson(rc)).append("\n"));
        Path golden = GOLDEN_DIR.resolve("external-httpbin-tls-origination.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual.toString()).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
