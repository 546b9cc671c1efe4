package io.isthmus.discovery.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.NetworkGateway;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class KubeConventionsTest {

    @ParameterizedTest(name = "port={0} name={1} appProtocol={2} protocol={3} -> {4}")
    @CsvSource(nullValues = "null", value = {
            "80, http, null, TCP, HTTP",
            "80, http-foo, null, TCP, HTTP",
            "80, HTTP-Web, null, TCP, HTTP",
            "80, http2, null, TCP, HTTP2",
            "80, http2-api, null, TCP, HTTP2",
            "80, grpc, null, TCP, GRPC",
            "80, grpc-web, null, TCP, GRPC-Web",
            "80, tcp-db, null, TCP, TCP",
            "80, tls, null, TCP, TLS",
            "80, tls-passthrough, null, TCP, TLS",
            "80, https, null, TCP, HTTPS",
            "80, mongo-main, null, TCP, Mongo",
            "80, redis, null, TCP, Redis",
            "80, mysql-primary, null, TCP, MySQL",
            // Nothing declares the protocol: Istio's auto-detection.
            "80, httpx, null, TCP, UnsupportedProtocol",
            "80, web, null, TCP, UnsupportedProtocol",
            "80, '', null, TCP, UnsupportedProtocol",
            "80, null, null, TCP, UnsupportedProtocol",
            // ... except on the well-known ports of server-first protocols, where it is TCP.
            "3306, db, null, TCP, TCP",
            "27017, null, null, TCP, TCP",
            "25, smtp, null, TCP, TCP",
            "53, dns-tcp, null, TCP, TCP",
            "3306, http-db, null, TCP, HTTP",
            "80, web, http, TCP, HTTP",
            "80, tcp-foo, grpc, TCP, GRPC",
            "80, web, kubernetes.io/h2c, TCP, HTTP2",
            "80, web, kubernetes.io/ws, TCP, HTTP",
            "80, web, kubernetes.io/wss, TCP, HTTPS",
            "80, http-foo, unknown-proto, TCP, HTTP",
            "53, dns, null, UDP, UDP",
    })
    void protocolFromAppProtocolElseNamePrefix(int port, String name, String appProtocol, String protocol,
            String expected) {
        assertThat(KubeConventions.protocolOf(port, name, appProtocol, protocol)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "exportTo annotation ''{0}'' -> {1}")
    @CsvSource(nullValues = "null", value = {
            "null, *",
            "'', *",
            "'  ', *",
            "*, *",
            "., .",
            "'sample', sample",
            "'sample, other', other|sample",
            "'sample,,other,', other|sample",
            "' , ', *",
    })
    void exportToParsesACommaList(String annotation, String expected) {
        assertThat(KubeConventions.exportTo(annotation)).isEqualTo(Set.of(expected.split("\\|")));
    }

    @ParameterizedTest(name = "pod labels {0} -> {1}")
    @CsvSource(nullValues = "null", value = {
            // label -> override (region/zone/subzone), or 'none'
            "'topology.istio.io/locality=us-east.us-east-1a.rack1', us-east/us-east-1a/rack1",
            "'topology.istio.io/locality=us-east.us-east-1a', us-east/us-east-1a/",
            "'topology.istio.io/locality=us-east', us-east//",
            "'istio-locality=eu-west.eu-west-1b', eu-west/eu-west-1b/",
            "'topology.istio.io/locality=a.b;istio-locality=c.d', a/b/",
            "'app=x', none",
            "'topology.istio.io/locality=', none",
    })
    void podLocalityOverride(String labels, String expected) {
        Optional<Locality> override = KubeConventions.localityOverride(parseLabels(labels));
        if (expected.equals("none")) {
            assertThat(override).isEmpty();
        } else {
            assertThat(override).hasValue(Locality.parse(expected));
        }
    }

    @ParameterizedTest(name = "garbage locality label ''{0}'' is rejected")
    @CsvSource({
            "a.b.c.d",
            ".zone-only",
            "us east.z",
            "us-east.z!",
            "-bad.zone",
    })
    void garbageLocalityLabelsAreRejected(String value) {
        assertThatThrownBy(() -> KubeConventions.localityOverride(Map.of("topology.istio.io/locality", value)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(value);
    }

    @ParameterizedTest(name = "node labels {0} -> {1}")
    @CsvSource({
            "'topology.kubernetes.io/region=us-east;topology.kubernetes.io/zone=us-east-1a', us-east/us-east-1a/",
            "'topology.kubernetes.io/region=us-east;topology.kubernetes.io/zone=us-east-1a;topology.istio.io/subzone=r1', us-east/us-east-1a/r1",
            "'topology.kubernetes.io/region=us-east', us-east//",
            "'kubernetes.io/hostname=n1', //",
    })
    void nodeLocalityFromTopologyLabels(String labels, String expected) {
        assertThat(KubeConventions.nodeLocality(parseLabels(labels))).isEqualTo(Locality.parse(expected));
    }

    @ParameterizedTest(name = "override={0} node={1} sliceZone={2} -> {3}")
    @CsvSource(nullValues = "null", value = {
            "a/b/c, x/y/, z9, a/b/c",
            "null, x/y/, z9, x/y/",
            "null, null, z9, /z9/",
            "null, //, z9, /z9/",
            "null, null, null, //",
            "null, null, 'bad zone', //",
    })
    void endpointLocalityPrecedence(String override, String node, String sliceZone, String expected) {
        Optional<Locality> podOverride = override == null ? Optional.empty() : Optional.of(Locality.parse(override));
        Locality nodeLocality = node == null ? null : Locality.parse(node);
        assertThat(KubeConventions.endpointLocality(podOverride, nodeLocality, sliceZone))
                .isEqualTo(Locality.parse(expected));
    }

    @ParameterizedTest(name = "pod={0} namespace={1} -> {2}")
    @CsvSource(nullValues = "null", value = {
            "net-pod, net-ns, net-pod",
            "null, net-ns, net-ns",
            "null, null, net-default",
            "'', '', net-default",
    })
    void networkFromPodElseNamespaceElseDefault(String podNetwork, String namespaceNetwork, String expected) {
        Map<String, String> labels = podNetwork == null ? Map.of() : Map.of("topology.istio.io/network", podNetwork);
        assertThat(KubeConventions.networkOf(labels, namespaceNetwork, "net-default")).isEqualTo(expected);
    }

    @ParameterizedTest(name = "externalIP={0} lbIp={1} lbHost={2} annotation={3} portName={4} port={5} -> {6}")
    @CsvSource(nullValues = "null", value = {
            "127.101.0.2, null, null, null, tls, 15443, 127.101.0.2:15443",
            "127.101.0.2, 10.0.0.9, null, null, tls, 16443, 127.101.0.2:16443",
            "null, 10.0.0.9, null, null, tls, 15443, 10.0.0.9:15443",
            "null, null, gw.example.com, null, tls, 15443, gw.example.com:15443",
            "null, 10.0.0.9, null, 17443, tls, 15443, 10.0.0.9:17443",
            "null, 10.0.0.9, null, null, other, 15443, 10.0.0.9:15443",
            "'not an ip', 10.0.0.9, null, null, tls, 15443, 10.0.0.9:15443",
            "fd00::2, null, null, null, tls, 15443, fd00::2:15443",
    })
    void gatewayAddressAndPort(String externalIp, String lbIp, String lbHost, String annotation, String portName,
            int port, String expected) {
        Service service = gatewayService(externalIp, lbIp, lbHost, annotation, portName, port);

        NetworkGateway gateway = KubeConventions.gatewayOf(service, "east");

        assertThat(gateway.address() + ":" + gateway.port()).isEqualTo(expected);
        assertThat(gateway.network()).isEqualTo("net1");
        assertThat(gateway.cluster()).isEqualTo("east");
    }

    @ParameterizedTest(name = "externalIP={0} lbIp={1} annotation={2} portName={3} port={4} -> error ''{5}''")
    @CsvSource(nullValues = "null", value = {
            "null, null, null, tls, 15443, gateway address",
            "'bogus', null, null, tls, 15443, gateway address",
            "127.0.0.2, null, null, other, 80, gateway port",
            "127.0.0.2, null, notaport, tls, 15443, gatewayPort",
            "127.0.0.2, null, 70000, tls, 15443, gatewayPort",
    })
    void gatewayWithoutAddressOrPortIsRejected(String externalIp, String lbIp, String annotation, String portName,
            int port, String message) {
        Service service = gatewayService(externalIp, lbIp, null, annotation, portName, port);

        assertThatThrownBy(() -> KubeConventions.gatewayOf(service, "east"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "127.0.0.1, true",
            "10.244.1.17, true",
            "255.255.255.255, true",
            "256.1.1.1, false",
            "1.2.3, false",
            "01.2.3.4, false",
            "fd00::1, true",
            "::1, true",
            "example.com, false",
            "'', false",
            "not-an-ip, false",
            "1:2:3:4:5:6:7:8:9, false",
    })
    void ipLiterals(String value, boolean expected) {
        assertThat(KubeConventions.isIpAddress(value)).isEqualTo(expected);
    }

    static Service gatewayService(String externalIp, String lbIp, String lbHost, String annotation, String portName,
            int port) {
        ServiceBuilder builder = new ServiceBuilder()
                .withNewMetadata().withNamespace("istio-system").withName("istio-eastwestgateway")
                .addToLabels("topology.istio.io/network", "net1")
                .endMetadata()
                .withNewSpec().addNewPort().withName(portName).withPort(port).endPort().endSpec();
        if (annotation != null) {
            builder.editMetadata().addToAnnotations("networking.istio.io/gatewayPort", annotation).endMetadata();
        }
        if (externalIp != null) {
            builder.editSpec().addToExternalIPs(externalIp).endSpec();
        }
        if (lbIp != null || lbHost != null) {
            builder.withNewStatus().withNewLoadBalancer().addNewIngress().withIp(lbIp).withHostname(lbHost)
                    .endIngress().endLoadBalancer().endStatus();
        }
        return builder.build();
    }

    static Map<String, String> parseLabels(String spec) {
        Map<String, String> labels = new HashMap<>();
        for (String pair : spec.split(";")) {
            int eq = pair.indexOf('=');
            labels.put(pair.substring(0, eq), pair.substring(eq + 1));
        }
        return labels;
    }
}
