package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * DestinationRule {@code trafficPolicy.tls} on a mesh service (the demo's helloworld: v1 in east
 * on west's network, v2 behind eu's east-west gateway) seen from west's curl sidecar: each mode's
 * transport socket, which endpoints stay reachable, the port-level and subset overrides, and a
 * ServiceEntry's {@code subjectAltNames}; golden file {@code golden/destination-rule-tls-west-curl.json}
 * (refresh with {@code -Dgolden.refresh=true}).
 */
class DestinationRuleTlsTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String HOST = MeshFixture.HELLOWORLD;
    private static final String CLUSTER = "outbound|5000||" + HOST;
    /** eu's east-west gateway: the only way to helloworld-v2 from west's network. */
    private static final String EU_GATEWAY = "127.103.0.2:15443";
    private static final String EAST_POD = "127.101.1.1:5000";

    private static ProxyResources translate(String yaml) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    private static String rule(String trafficPolicy) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                """ + trafficPolicy.indent(4);
    }

    private static Cluster cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    private static Optional<UpstreamTlsContext> tls(Cluster c) throws IOException {
        return c.hasTransportSocket()
                ? Optional.of(c.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class))
                : Optional.empty();
    }

    private static List<String> endpoints(ProxyResources r, String cluster) {
        ClusterLoadAssignment cla = r.endpoints().stream().filter(e -> e.getClusterName().equals(cluster))
                .findFirst().orElseThrow();
        return cla.getEndpointsList().stream().flatMap(l -> l.getLbEndpointsList().stream())
                .map(LbEndpoint::getEndpoint)
                .map(e -> e.getAddress().getSocketAddress().getAddress() + ":"
                        + e.getAddress().getSocketAddress().getPortValue())
                .sorted().toList();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            // name # tls # transport socket # SNI # trusted CA # SANs # client cert # eu's gateway kept
            "no tls: the mesh's mTLS, the endpoints' identities # '' # mesh # outbound_.5000_._." + HOST
                    + " # # URI:spiffe://cluster.local/ns/sample/sa/helloworld # # true",
            "ISTIO_MUTUAL with its own SNI # 'tls: {mode: ISTIO_MUTUAL, sni: hello.internal}'"
                    + " # mesh # hello.internal # # URI:spiffe://cluster.local/ns/sample/sa/helloworld # # true",
            "ISTIO_MUTUAL subjectAltNames replace the endpoints' identities # 'tls: {mode: ISTIO_MUTUAL,"
                    + " subjectAltNames: [spiffe://cluster.local/ns/sample/sa/a, spiffe://cluster.local/ns/sample/sa/b]}'"
                    + " # mesh # outbound_.5000_._." + HOST + " # # URI:spiffe://cluster.local/ns/sample/sa/a"
                    + " URI:spiffe://cluster.local/ns/sample/sa/b # # true",
            "DISABLE # 'tls: {mode: DISABLE}' # none # # # # # false",
            "a tls without mode is DISABLE, as Istio # 'tls: {sni: x.example.com}' # none # # # # # false",
            "SIMPLE, system roots # 'tls: {mode: SIMPLE}' # originated # " + HOST
                    + " # /etc/ssl/certs/ca-certificates.crt # # # false",
            "SIMPLE with CA, SANs and SNI # 'tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem,"
                    + " subjectAltNames: [hello.example.com, spiffe://cluster.local/ns/sample/sa/hello], sni: hello.example.com}'"
                    + " # originated # hello.example.com # /etc/certs/ca.pem"
                    + " # DNS:hello.example.com URI:spiffe://cluster.local/ns/sample/sa/hello # # false",
            "SIMPLE, insecureSkipVerify # 'tls: {mode: SIMPLE, insecureSkipVerify: true, caCertificates: /c.pem}'"
                    + " # originated # " + HOST + " # # # # false",
            "MUTUAL # 'tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem,"
                    + " caCertificates: /etc/certs/ca.pem}' # originated # " + HOST
                    + " # /etc/certs/ca.pem # # /etc/certs/cert.pem /etc/certs/key.pem # false",
            "MUTUAL with a credentialName: none on a sidecar, as pilot # 'tls: {mode: MUTUAL, credentialName: client-cert}'"
                    + " # none # # # # # false",
    })
    void eachModeGivesItsTransportSocketAndOnlyMutualTlsCrossesNetworks(String name, String tlsYaml, String socket,
            String sni, String ca, String sans, String client, boolean gatewayKept) throws IOException {
        ProxyResources r = translate(tlsYaml.isEmpty() ? rule("loadBalancer: {simple: ROUND_ROBIN}")
                : rule(tlsYaml));
        Cluster c = cluster(r, CLUSTER);
        Optional<UpstreamTlsContext> ctx = tls(c);
        switch (socket) {
            case "none" -> assertThat(ctx).isEmpty();
            case "mesh" -> {
                var common = ctx.orElseThrow().getCommonTlsContext();
                assertThat(common.getTlsCertificateSdsSecretConfigs(0).getName()).isEqualTo("default");
                assertThat(common.getCombinedValidationContext().getValidationContextSdsSecretConfig().getName())
                        .isEqualTo("ROOTCA");
                assertThat(ClusterTls.meshIdentities(ctx.get())).extracting(id -> "URI:" + id)
                        .isEqualTo(List.of(sans.trim().split(" ")));
            }
            case "originated" -> {
                var common = ctx.orElseThrow().getCommonTlsContext();
                assertThat(common.getTlsCertificateSdsSecretConfigsCount()).isZero();
                assertThat(common.hasValidationContext()).isTrue();
                if (ca == null) {
                    assertThat(common.getValidationContext().getTrustChainVerification().name())
                            .isEqualTo("ACCEPT_UNTRUSTED");
                } else {
                    assertThat(common.getValidationContext().getTrustedCa().getFilename()).isEqualTo(ca);
                }
                assertThat(common.getValidationContext().getMatchTypedSubjectAltNamesList())
                        .extracting(m -> m.getSanType().name() + ":" + m.getMatcher().getExact())
                        .isEqualTo(sans == null ? List.of() : List.of(sans.trim().split(" ")));
                if (client == null) {
                    assertThat(common.getTlsCertificatesCount()).isZero();
                } else {
                    assertThat(common.getTlsCertificates(0).getCertificateChain().getFilename() + " "
                            + common.getTlsCertificates(0).getPrivateKey().getFilename()).isEqualTo(client.trim());
                }
            }
            default -> throw new AssertionError(socket);
        }
        if (sni != null) {
            assertThat(ctx.orElseThrow().getSni()).isEqualTo(sni.trim());
        }
        // East's pod is on west's network: dialled directly in every mode; eu's pods only through
        // the gateway, which passes the mesh's mTLS alone.
        assertThat(endpoints(r, CLUSTER)).contains(EAST_POD);
        if (gatewayKept) {
            assertThat(endpoints(r, CLUSTER)).contains(EU_GATEWAY);
        } else {
            assertThat(endpoints(r, CLUSTER)).doesNotContain(EU_GATEWAY);
        }
    }

    @Test
    void aSubsetAndAPortLevelSettingOverrideTheRulesTls() throws IOException {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    tls: {mode: SIMPLE}
                    portLevelSettings:
                    - port: {number: 5000}
                      tls: {mode: DISABLE}
                  subsets:
                  - name: v1
                    labels: {version: v1}
                    trafficPolicy:
                      tls: {mode: ISTIO_MUTUAL}
                  - name: v2
                    labels: {version: v2}
                """);
        // The port-level DISABLE beats the rule's SIMPLE for port 5000.
        assertThat(tls(cluster(r, CLUSTER))).isEmpty();
        // A subset's own tls beats both.
        assertThat(tls(cluster(r, "outbound|5000|v1|" + HOST)).orElseThrow().getSni())
                .isEqualTo("outbound_.5000_.v1_." + HOST);
        // v2 inherits the port-level DISABLE: its pods are all behind eu's gateway, so none is left.
        assertThat(tls(cluster(r, "outbound|5000|v2|" + HOST))).isEmpty();
        assertThat(endpoints(r, "outbound|5000|v2|" + HOST)).isEmpty();
        assertThat(endpoints(r, "outbound|5000|v1|" + HOST)).contains(EAST_POD);
    }

    @Test
    void aServiceEntrysSubjectAltNamesAreVerifiedWhenTheRuleNamesNone() throws IOException {
        String entry = """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: sample}
                spec:
                  hosts: [api.example.com]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  subjectAltNames: [edge.example.com]
                  ports: [{number: 443, name: tls, protocol: TLS}]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: api, namespace: sample}
                spec:
                  host: api.example.com
                  trafficPolicy:
                """;
        List<SubjectAltNameMatcher> fromEntry = tls(cluster(translate(entry + "    tls: {mode: SIMPLE}"),
                "outbound|443||api.example.com")).orElseThrow().getCommonTlsContext().getValidationContext()
                .getMatchTypedSubjectAltNamesList();
        assertThat(fromEntry).extracting(m -> m.getMatcher().getExact()).containsExactly("edge.example.com");
        List<SubjectAltNameMatcher> fromRule = tls(cluster(translate(entry
                        + "    tls: {mode: SIMPLE, subjectAltNames: [api.example.com]}"),
                "outbound|443||api.example.com")).orElseThrow().getCommonTlsContext().getValidationContext()
                .getMatchTypedSubjectAltNamesList();
        assertThat(fromRule).extracting(m -> m.getMatcher().getExact()).containsExactly("api.example.com");
    }

    @Test
    void matchesGoldenFile() throws IOException {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    tls:
                      mode: MUTUAL
                      clientCertificate: /etc/certs/client.pem
                      privateKey: /etc/certs/client-key.pem
                      caCertificates: /etc/certs/ca.pem
                      subjectAltNames: [helloworld.example.com]
                  subsets:
                  - name: v1
                    labels: {version: v1}
                    trafficPolicy:
                      tls: {mode: DISABLE}
                  - name: v2
                    labels: {version: v2}
                    trafficPolicy:
                      tls: {mode: ISTIO_MUTUAL}
                """);
        StringBuilder actual = new StringBuilder();
        r.clusters().stream().filter(c -> c.getName().endsWith("|" + HOST))
                .forEach(c -> actual.append(ResourcesJson.toJson(c)).append("\n"));
        r.endpoints().stream().filter(e -> e.getClusterName().endsWith("|" + HOST))
                .forEach(e -> actual.append(ResourcesJson.toJson(e)).append("\n"));
        Path golden = GOLDEN_DIR.resolve("destination-rule-tls-west-curl.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual.toString()).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
