package io.isthmus.topologies;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class TopologyTest {

    private static final String VALID = """
            name: t
            addressBase: 120
            clusters:
              - {name: a, network: n1, region: r1, zone: z1}
              - {name: b, network: n2, region: r2, zone: z2, subzone: s2}
            workloads:
              - {name: srv, cluster: b, namespace: ns, service: svc, ports: [{name: http, port: 8080}]}
              - {name: cli, cluster: a, namespace: ns, role: client}
            """;

    @Test
    void demoTopologyHasTheThreeClustersAndWorkloadsOfTheContract() {
        Topology demo = Topology.load(Path.of("demo.yaml"));

        assertThat(demo.name()).isEqualTo("demo");
        assertThat(demo.addressBase()).isEqualTo(101);
        assertThat(demo.trustDomain()).isEqualTo("cluster.local");
        assertThat(demo.clusters()).containsExactly(
                new ClusterSpec("east", "net1", "us-east", "us-east-1a", ""),
                new ClusterSpec("west", "net1", "us-west", "us-west-1a", ""),
                new ClusterSpec("eu", "net2", "eu-central", "eu-central-1a", ""));
        WorkloadSpec v2 = demo.workload("helloworld-v2");
        assertThat(v2.cluster()).isEqualTo("eu");
        assertThat(v2.service()).contains("helloworld");
        assertThat(v2.version()).isEqualTo("v2");
        assertThat(v2.httpPort()).contains(new PortSpec("http", 5000, 5000));
        assertThat(v2.identity(demo.trustDomain())).isEqualTo("spiffe://cluster.local/ns/sample/sa/helloworld");
        WorkloadSpec curl = demo.workload("curl");
        assertThat(curl.role()).isEqualTo(WorkloadSpec.Role.CLIENT);
        assertThat(curl.service()).isEmpty();

        assertThat(demo.controllerAddress("east")).isEqualTo("127.101.0.1");
        assertThat(demo.gatewayAddress("eu")).isEqualTo("127.103.0.2");
        assertThat(demo.podIp(v2)).isEqualTo("127.103.1.1");
        assertThat(demo.podLocalhost(curl)).isEqualTo("127.102.2.1");
        assertThat(demo.podName(v2)).startsWith("helloworld-v2-").isEqualTo(demo.podName(v2));
        assertThat(demo.clusterOfAddress("127.103.0.2")).map(ClusterSpec::name).contains("eu");
        assertThat(demo.clusterOfAddress("127.104.0.2")).isEmpty();
        assertThat(demo.withAddressBase(111).podIp(demo.workload("helloworld-v1"))).isEqualTo("127.111.1.1");
    }

    @Test
    void aClusterOrWorkloadAddedAtRuntimeKeepsEveryAddressHandedOutAndTakesTheNextOnes() {
        Topology t = Topology.parse(VALID);
        ClusterSpec c = new ClusterSpec("c", "n1", "r3", "z3", "");
        WorkloadSpec curl = new WorkloadSpec("curl-c", "c", "ns", java.util.Optional.empty(), "curl",
                java.util.Map.of("app", "curl", "version", "v1"), java.util.List.of(), WorkloadSpec.Role.CLIENT);

        Topology grown = t.withCluster(c, java.util.List.of(curl));
        assertThat(grown.controllerAddress("c")).isEqualTo("127.122.0.1");
        assertThat(grown.podIp(curl)).isEqualTo("127.122.1.1");
        assertThat(grown.podIp(grown.workload("srv"))).isEqualTo(t.podIp(t.workload("srv")));
        WorkloadSpec srv2 = new WorkloadSpec("srv2", "b", "ns", java.util.Optional.of("svc"), "svc",
                java.util.Map.of("app", "svc", "version", "v2"), t.workload("srv").ports(), WorkloadSpec.Role.SERVER);
        assertThat(grown.withWorkload(srv2).podIp(srv2)).isEqualTo("127.121.1.2");

        assertThatThrownBy(() -> t.withCluster(new ClusterSpec("a", "n1", "r1", "z1", ""), java.util.List.of()))
                .hasMessageContaining("clusters[2].name: 'a' is used twice");
        assertThatThrownBy(() -> t.withCluster(c, java.util.List.of(t.workload("srv"))))
                .hasMessageContaining("'srv' is in cluster 'b' (expected: 'c', the cluster being added)");
        assertThatThrownBy(() -> t.withWorkload(t.workload("srv"))).hasMessageContaining("'srv' is used twice");
    }

    @Test
    void netnsTopologiesUseTenDotAddressesAndTheirApiServersLiveInTheLaunchersNamespace() {
        Topology t = Topology.load(Path.of("multi-primary-multi-network.yaml"));

        assertThat(t.networkMode()).isEqualTo(NetworkMode.NETNS);
        assertThat(t.controllerAddress("east")).isEqualTo("10.151.0.1");
        assertThat(t.apiServerAddress("east")).isEqualTo("10.151.254.1");
        assertThat(t.gatewayAddress("eu")).isEqualTo("10.153.0.2");
        assertThat(t.podIp(t.workload("helloworld-v2"))).isEqualTo("10.153.1.1");
        assertThat(t.podLocalhost(t.workload("curl"))).isEqualTo("10.152.2.1");
        assertThat(t.clusterOfAddress("10.153.0.2")).map(ClusterSpec::name).contains("eu");
        assertThat(t.clusterOfAddress("127.153.0.2")).isEmpty();

        Topology loopback = t.withNetworkMode(NetworkMode.LOOPBACK);
        assertThat(loopback.gatewayAddress("eu")).isEqualTo("127.153.0.2");
        assertThat(loopback.apiServerAddress("eu")).isEqualTo(loopback.controllerAddress("eu"));
        assertThat(Topology.parse(VALID).networkMode()).isEqualTo(NetworkMode.LOOPBACK);
        assertThat(Topology.load(Path.of("multi-primary.yaml")).networks()).containsOnlyKeys("net1");
    }

    @Test
    void aRemoteClusterIsServedByItsPrimarysControllerThroughItsGatewayAcrossNetworks() {
        Topology t = Topology.load(Path.of("primary-remote.yaml"));

        assertThat(t.cluster("eu").isRemote()).isTrue();
        assertThat(t.cluster("east").isRemote()).isFalse();
        assertThat(t.primaries()).extracting(ClusterSpec::name).containsExactly("east");
        assertThat(t.remotesOf("east")).extracting(ClusterSpec::name).containsExactly("eu");
        assertThat(t.controllerCluster("eu").name()).isEqualTo("east");
        assertThat(t.controllerEndpointFor("east")).isEqualTo("10.171.0.1");
        // eu is on another network: its proxies reach east's controller through east's gateway.
        assertThat(t.controllerEndpointFor("eu")).isEqualTo("10.171.0.2");

        Topology sameNetwork = Topology.parse(VALID.replace("{name: b, network: n2", "{name: b, network: n1, primary: a"));
        assertThat(sameNetwork.controllerEndpointFor("b")).isEqualTo(sameNetwork.controllerAddress("a"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            primary: x  | clusters[1].primary: 'x' is not a cluster of this topology (expected: one of [a, b])
            primary: b  | primary: 'b' is the cluster itself (expected: another cluster
            """)
    void aRemotesPrimaryMustBeAnotherClusterOfTheTopology(String field, String message) {
        assertThatThrownBy(() -> Topology.parse(VALID.replace("subzone: s2", "subzone: s2, " + field)))
                .isInstanceOf(TopologyException.class).hasMessageContaining(message);
    }

    @Test
    void aRemotesPrimaryCannotItselfBeARemote() {
        String chain = VALID.replace("{name: a, network: n1, region: r1, zone: z1}",
                "{name: a, network: n1, region: r1, zone: z1}\n  - {name: c, network: n1, region: r1, zone: z1, primary: b}")
                .replace("subzone: s2", "subzone: s2, primary: a");
        assertThatThrownBy(() -> Topology.parse(chain)).isInstanceOf(TopologyException.class)
                .hasMessageContaining("'b' is itself a remote of 'a' (expected: a primary cluster");
    }

    @Test
    void anUnknownNetworkModeIsRejectedWithTheChoices() {
        assertThatThrownBy(() -> Topology.parse(VALID.replace("addressBase: 120", "addressBase: 120\nnetwork: vlan")))
                .isInstanceOf(TopologyException.class)
                .hasMessage("network: 'vlan' (expected: loopback or netns)");
    }

    @Test
    void defaultsFillTheOptionalFields() {
        Topology t = Topology.parse(VALID);

        WorkloadSpec srv = t.workload("srv");
        assertThat(srv.serviceAccount()).isEqualTo("svc");
        assertThat(srv.labels()).containsEntry("app", "svc").containsEntry("version", "v1");
        assertThat(srv.role()).isEqualTo(WorkloadSpec.Role.SERVER);
        assertThat(srv.ports()).containsExactly(new PortSpec("http", 8080, 8080));
        assertThat(t.cluster("b").locality()).isEqualTo("r2/z2/s2");
        assertThat(t.cluster("a").locality()).isEqualTo("r1/z1/");
        assertThat(t.trustDomain()).isEqualTo("cluster.local");
        assertThat(t.trustDomainAliases()).isEmpty();
        assertThat(t.certTtl()).isEmpty();
    }

    @Test
    void trustDomainAliasesAreReadKeptAndValidated() {
        Topology t = Topology.parse(VALID.replace("addressBase: 120",
                "addressBase: 120\ntrustDomainAliases: [old.example.com, legacy.local]"));

        assertThat(t.trustDomainAliases()).containsExactly("old.example.com", "legacy.local");
        assertThat(t.withAddressBase(130).withCertTtl(java.time.Duration.ofSeconds(6)).trustDomainAliases())
                .isEqualTo(t.trustDomainAliases());
        assertThatThrownBy(() -> Topology.parse(VALID.replace("addressBase: 120",
                "addressBase: 120\ntrustDomainAliases: [ok.example, Not_A_Domain]")))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("trustDomainAliases[1]: 'Not_A_Domain' (expected: a domain");
        assertThatThrownBy(() -> Topology.parse(VALID.replace("addressBase: 120",
                "addressBase: 120\ntrustDomainAliases: old.example.com")))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("trustDomainAliases: \"old.example.com\" (expected: a list of strings)");
    }

    @ParameterizedTest(name = "certTtl: {0}")
    @CsvSource({"6s, PT6S", "30m, PT30M", "24h, PT24H", "2d, PT48H"})
    void certTtlTakesTheProxiesDurationSyntax(String text, String expected) {
        Topology t = Topology.parse(VALID.replace("addressBase: 120", "addressBase: 120\ncertTtl: " + text));

        assertThat(t.certTtl()).contains(java.time.Duration.parse(expected));
        assertThat(t.withAddressBase(130).certTtl()).isEqualTo(t.certTtl());
    }

    @ParameterizedTest(name = "certTtl: {0}")
    @CsvSource(delimiter = '|', textBlock = """
            6 s  | certTtl: '6 s' (expected: a number and a unit s, m, h or d
            0s   | certTtl: '0s' (expected: a number and a unit
            31d  | certTtl: PT744H (expected: whole seconds from 1s to 30d
            """)
    void invalidCertTtlNamesTheFieldAndTheFix(String text, String message) {
        assertThatThrownBy(() -> Topology.parse(VALID.replace("addressBase: 120", "addressBase: 120\ncertTtl: " + text)))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining(message);
    }

    @Test
    void withCertTtlKeepsEverythingElse() {
        Topology t = Topology.parse(VALID);

        Topology shortLived = t.withCertTtl(java.time.Duration.ofSeconds(6));

        assertThat(shortLived.certTtl()).contains(java.time.Duration.ofSeconds(6));
        assertThat(shortLived.workloads()).isEqualTo(t.workloads());
        assertThatThrownBy(() -> t.withCertTtl(java.time.Duration.ofMillis(500)))
                .isInstanceOf(TopologyException.class).hasMessageContaining("certTtl: PT0.5S (expected: whole seconds");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            unknown cluster   | 'cluster: b'         | 'cluster: c'          | workloads[0].cluster: 'c' is not a cluster
            duplicate cluster | 'name: b, network'   | 'name: a, network'    | clusters[1].name: 'a' is used twice
            duplicate workload| 'name: cli'          | 'name: srv'           | workloads[1].name: 'srv' is used twice
            bad network       | 'network: n2'        | 'network: Net_2'      | clusters[1].network: 'Net_2' (expected: a DNS label
            base too low      | 'addressBase: 120'   | 'addressBase: 0'      | addressBase: 0 (expected: 1..253
            base too high     | 'addressBase: 120'   | 'addressBase: 254'    | addressBase: 254 (expected: 1..253
            base not a number | 'addressBase: 120'   | 'addressBase: abc'    | addressBase: "abc" (expected: a whole number)
            missing zone      | ', zone: z1'         | ''                    | clusters[0].zone: missing
            unknown field     | 'role: client'       | 'rol: client'         | workloads[1].rol: unknown field
            bad role          | 'role: client'       | 'role: sidecar'       | workloads[1].role: 'sidecar' (expected: server or client)
            bad port          | 'port: 8080'         | 'port: 70000'         | workloads[0].ports[0].port: 70000 (expected: 1..65535)
            reserved port     | 'port: 8080'         | 'port: 15001'         | workloads[0].ports[0].port: 15001
            server no service | 'service: svc, '     | ''                    | workloads[0].role: server needs a service
            bad locality      | 'region: r1'         | 'region: r/1'         | clusters[0].region: 'r/1'
            """)
    void invalidTopologiesNameTheFieldAndTheFix(String caseName, String replace, String with, String message) {
        String yaml = VALID.replaceFirst(java.util.regex.Pattern.quote(replace), java.util.regex.Matcher.quoteReplacement(with));
        assertThat(yaml).as("test case must change the YAML").isNotEqualTo(VALID);

        assertThatThrownBy(() -> Topology.parse(yaml))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining(message);
    }

    @Test
    void notYamlOrEmptyIsReported() {
        assertThatThrownBy(() -> Topology.parse("")).isInstanceOf(TopologyException.class).hasMessageContaining("empty");
        assertThatThrownBy(() -> Topology.parse("name: [unclosed")).isInstanceOf(TopologyException.class)
                .hasMessageContaining("not valid YAML");
        assertThatThrownBy(() -> Topology.load(Path.of("no-such.yaml"))).isInstanceOf(TopologyException.class)
                .hasMessageContaining("no-such.yaml: no such file");
    }
}
