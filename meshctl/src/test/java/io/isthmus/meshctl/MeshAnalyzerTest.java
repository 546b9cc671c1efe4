package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.meshctl.ClusterInventory.ConfigObject;
import io.isthmus.meshctl.ClusterInventory.GatewayDef;
import io.isthmus.meshctl.ClusterInventory.PortDef;
import io.isthmus.meshctl.ClusterInventory.RemoteSecretCheck;
import io.isthmus.meshctl.ClusterInventory.ServiceDef;
import io.isthmus.trust.CertificateAuthority;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The analysis as a pure function over in-memory inventories: a mesh with one of each problem against a
 * golden file (refresh with {@code -Dgolden.refresh=true}), a healthy mesh with no finding, and the rules'
 * edges one by one.
 */
class MeshAnalyzerTest {

    private static final Path GOLDEN = Path.of("src", "test", "resources", "golden", "analyze-broken.txt");
    private static final YAMLMapper YAML = YAMLMapper.builder().build();

    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Mesh", Duration.ofDays(10));
    private static final CertificateAuthority OTHER_ROOT = CertificateAuthority.createRoot("Rogue", Duration.ofDays(10));

    @Test
    void brokenMeshMatchesGoldenOutput() throws Exception {
        Map<String, String> forged = new HashMap<>(OTHER_ROOT.createIntermediate("sa", Duration.ofDays(1)).toCacerts());
        forged.put("root-cert.pem", ROOT.toCacerts().get("root-cert.pem"));
        List<ClusterInventory> mesh = List.of(
                cluster("east", "net1",
                        List.of(svc("helloworld", port("http", 5000)), svc("echo", port("tcp-echo", 9000))),
                        List.of(config("""
                                apiVersion: networking.istio.io/v1
                                kind: VirtualService
                                metadata: {name: split, namespace: sample}
                                spec:
                                  hosts: [helloworld.sample.svc.cluster.local]
                                  http:
                                  - route:
                                    - destination: {host: helloworld.sample.svc.cluster.local, subset: v1}
                                      weight: 70
                                    - destination: {host: helloworld.sample.svc.cluster.local, subset: v2}
                                      weight: 20
                                """), config("""
                                apiVersion: networking.istio.io/v1
                                kind: DestinationRule
                                metadata: {name: helloworld, namespace: sample}
                                spec:
                                  host: helloworld.sample.svc.cluster.local
                                  trafficPolicy:
                                    loadBalancer:
                                      localityLbSetting:
                                        failoverPriority: [topology.istio.io/network]
                                """), reviews("ROUND_ROBIN", "2026-01-01T00:00:00Z")),
                        List.of(gateway("127.0.0.1:15443", null)),
                        Optional.of(ROOT.createIntermediate("east", Duration.ofDays(1)).toCacerts()),
                        List.of(new RemoteSecretCheck("istio-system/istio-remote-secret-eu", "eu",
                                Optional.of("https://127.0.0.3:6443"), Optional.empty(),
                                Optional.of("unreachable (Connection refused)")))),
                cluster("west", "net1", List.of(svc("helloworld", port("http", 5000))),
                        List.of(reviews("LEAST_REQUEST", "2026-02-01T00:00:00Z")), List.of(),
                        Optional.of(ROOT.createIntermediate("west", Duration.ofDays(1)).toCacerts()),
                        List.of(new RemoteSecretCheck("istio-system/istio-remote-secret-ap", "ap", Optional.empty(),
                                Optional.of("its kubeconfig does not parse (mapping values are not allowed here)"),
                                Optional.empty()))),
                cluster("eu", "net2",
                        List.of(svc("helloworld", port("http", 5001)), svc("echo", port("grpc-echo", 9000))),
                        List.of(), List.of(gateway("127.0.0.9:15443", "TCP connect failed (Connection refused)")),
                        Optional.of(OTHER_ROOT.createIntermediate("eu", Duration.ofDays(1)).toCacerts()), List.of()),
                cluster("ap", "net3", List.of(), List.of(), List.of(), Optional.empty(), List.of()),
                cluster("sa", "net3", List.of(), List.of(), List.of(), Optional.of(forged), List.of()),
                ClusterInventory.unreachable("gone", "https://127.0.0.4:6443: unreachable (Connection refused)"));

        String rendered = MeshAnalyzer.analyze(mesh, Optional.empty()).stream().map(Finding::render)
                .collect(Collectors.joining("\n", "", "\n"));

        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(GOLDEN, rendered, StandardCharsets.UTF_8);
        }
        assertThat(rendered).isEqualTo(Files.readString(GOLDEN));
        // Every code of an analyze check appears once at least, every line in the documented format.
        assertThat(rendered.lines()).allMatch(l -> l.matches("(Error|Warning|Info) \\[IST\\d{4}] \\([A-Za-z]+ [^)]+\\) .+"));
        assertThat(rendered).contains("IST0106", "IST0901", "IST0902", "IST0903", "IST0904", "IST0905", "IST0906",
                "IST0907", "IST0908", "IST0910");
    }

    @Test
    void healthyMeshHasNoFinding() {
        List<ClusterInventory> mesh = List.of(
                cluster("east", "net1", List.of(svc("helloworld", port("http", 5000))),
                        List.of(reviews("ROUND_ROBIN", "2026-01-01T00:00:00Z"), config("""
                                apiVersion: networking.istio.io/v1
                                kind: DestinationRule
                                metadata: {name: helloworld, namespace: sample}
                                spec:
                                  host: helloworld.sample.svc.cluster.local
                                  trafficPolicy:
                                    loadBalancer:
                                      localityLbSetting:
                                        failover: [{from: us-east, to: eu-central}]
                                    outlierDetection: {consecutive5xxErrors: 3}
                                """)),
                        List.of(gateway("127.0.0.1:15443", null)),
                        Optional.of(ROOT.createIntermediate("east", Duration.ofDays(1)).toCacerts()), List.of()),
                cluster("eu", "net2", List.of(svc("helloworld", port("http-web", 5000))),
                        List.of(reviews("ROUND_ROBIN", "2026-03-01T00:00:00Z")),
                        List.of(gateway("127.0.0.2:15443", null)),
                        Optional.of(ROOT.createIntermediate("eu", Duration.ofDays(1)).toCacerts()), List.of()));

        assertThat(MeshAnalyzer.analyze(mesh, Optional.empty())).isEmpty();
        assertThat(AnalyzeCommand.exitCode(List.of())).isZero();
    }

    @Test
    void anExplicitMeshRootOverridesTheMajority() {
        List<ClusterInventory> mesh = List.of(
                cluster("a", "n", List.of(), List.of(), List.of(), Optional.of(OTHER_ROOT.createIntermediate("a",
                        Duration.ofDays(1)).toCacerts()), List.of()),
                cluster("b", "n", List.of(), List.of(), List.of(), Optional.of(OTHER_ROOT.createIntermediate("b",
                        Duration.ofDays(1)).toCacerts()), List.of()));

        assertThat(MeshAnalyzer.analyze(mesh, Optional.empty())).isEmpty();
        List<Finding> findings = MeshAnalyzer.analyze(mesh, Optional.of(ROOT.root()));
        assertThat(findings).extracting(Finding::resource).containsExactly("Cluster a", "Cluster b");
        assertThat(findings).allSatisfy(f -> assertThat(f.code()).isEqualTo(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT));
        assertThat(AnalyzeCommand.exitCode(findings)).isEqualTo(1);
    }

    @Test
    void identicalCopiesInTwoPrimariesAndConfigInARemoteAreNotConflicts() {
        ClusterInventory remote = new ClusterInventory("remote", Optional.empty(), Optional.of("n"), false, List.of(),
                List.of(reviews("LEAST_REQUEST", "2026-05-01T00:00:00Z")), List.of(), Optional.empty(), List.of());
        List<ClusterInventory> mesh = List.of(
                cluster("a", "n", List.of(), List.of(reviews("ROUND_ROBIN", "2026-01-01T00:00:00Z")), List.of(),
                        Optional.of(ROOT.createIntermediate("a", Duration.ofDays(1)).toCacerts()), List.of()),
                cluster("b", "n", List.of(), List.of(reviews("ROUND_ROBIN", "2026-02-01T00:00:00Z")), List.of(),
                        Optional.of(ROOT.createIntermediate("b", Duration.ofDays(1)).toCacerts()), List.of()),
                remote);

        assertThat(MeshAnalyzer.analyze(mesh, Optional.empty())).isEmpty();
    }

    @Test
    void failoverIsFineWithOutlierDetectionAtTheTopLevelButNotInASubsetWithout() {
        ConfigObject dr = config("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: hw, namespace: sample}
                spec:
                  host: hw.sample.svc.cluster.local
                  subsets:
                  - name: v1
                    labels: {version: v1}
                    trafficPolicy:
                      loadBalancer:
                        localityLbSetting:
                          failover: [{from: us-east, to: eu-central}]
                """);
        List<Finding> findings = MeshAnalyzer.analyze(List.of(cluster("a", "n", List.of(), List.of(dr), List.of(),
                Optional.of(ROOT.createIntermediate("a", Duration.ofDays(1)).toCacerts()), List.of())), Optional.empty());

        assertThat(findings).singleElement().satisfies(f -> {
            assertThat(f.code()).isEqualTo(AnalysisCode.LOCALITY_FAILOVER_WITHOUT_OUTLIER_DETECTION);
            assertThat(f.render()).startsWith("Warning [IST0902] (DestinationRule sample/hw) in cluster a: "
                    + "spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting");
        });
    }

    @Test
    void anInvalidRateLimitPolicyIsAnErrorNamingTheFieldAndTheFix() {
        ConfigObject rl = config("""
                apiVersion: policy.isthmus.io/v1alpha1
                kind: RateLimitPolicy
                metadata: {name: hw, namespace: sample}
                spec:
                  rules:
                  - limit: {requests: 10, unit: SECOND, burst: 5}
                """);
        List<Finding> findings = MeshAnalyzer.analyze(List.of(cluster("a", "n", List.of(), List.of(rl), List.of(),
                Optional.of(ROOT.createIntermediate("a", Duration.ofDays(1)).toCacerts()), List.of())), Optional.empty());

        assertThat(findings).singleElement().satisfies(f -> {
            assertThat(f.code().level()).isEqualTo(AnalysisCode.Level.ERROR);
            assertThat(f.render()).contains("RateLimitPolicy sample/hw", "spec.rules[0].limit.burst: 5 is below requests 10",
                    "expected: >= requests");
        });
    }

    @ParameterizedTest
    @CsvSource(nullValues = "-", value = {
            "http, -, TCP, HTTP", "http-web, -, TCP, HTTP", "grpc-api, -, TCP, GRPC", "web, http, TCP, HTTP",
            "web, -, TCP, auto", "dns, -, UDP, UDP", "tcp-db, -, -, TCP", "-, kubernetes.io/h2c, TCP, HTTP2"})
    void protocolIsInferredAsIstioDoes(String name, String appProtocol, String protocol, String expected) {
        assertThat(MeshAnalyzer.inferProtocol(name, appProtocol, protocol)).isEqualTo(expected);
    }

    static ClusterInventory cluster(String name, String network, List<ServiceDef> services, List<ConfigObject> configs,
            List<GatewayDef> gateways, Optional<Map<String, String>> cacerts, List<RemoteSecretCheck> remotes) {
        return new ClusterInventory(name, Optional.empty(), Optional.of(network), true, services, configs, gateways,
                cacerts, remotes);
    }

    static ServiceDef svc(String name, PortDef... ports) {
        return new ServiceDef("sample", name, List.of(ports));
    }

    static PortDef port(String name, int port) {
        return new PortDef(name, port, MeshAnalyzer.inferProtocol(name, null, "TCP"));
    }

    static GatewayDef gateway(String address, String unreachable) {
        return new GatewayDef("istio-system", "istio-eastwestgateway", Optional.empty(), Optional.of(address),
                Optional.ofNullable(unreachable));
    }

    static ConfigObject reviews(String lb, String created) {
        ConfigObject o = config("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: reviews, namespace: sample}
                spec:
                  host: reviews.sample.svc.cluster.local
                  trafficPolicy: {loadBalancer: {simple: %s}}
                """.formatted(lb));
        return new ConfigObject(o.kind(), o.namespace(), o.name(), created, o.object());
    }

    @SuppressWarnings("unchecked")
    static ConfigObject config(String yaml) {
        Map<String, Object> object = YAML.readValue(yaml, LinkedHashMap.class);
        Map<String, Object> meta = (Map<String, Object>) object.get("metadata");
        return new ConfigObject((String) object.get("kind"), (String) meta.get("namespace"), (String) meta.get("name"),
                "", object);
    }
}
