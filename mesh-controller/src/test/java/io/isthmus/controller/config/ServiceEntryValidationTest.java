package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Istio's ServiceEntry rules (pilot's {@code ValidateServiceEntry}) and the DestinationRule
 * {@code tls} rules of TLS origination: a table of specs → the error naming the field, and specs
 * that are accepted. The same validator serves {@code meshctl analyze} and the 15017 webhook.
 */
class ServiceEntryValidationTest {

    private static ConfigResource se(String spec) {
        return Yaml.resources("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: e}\nspec:\n"
                + spec.indent(2), "sample", "2026-11-27T00:00:00Z").get(0);
    }

    private static final String PORT = "ports: [{number: 80, name: http, protocol: HTTP}]\n";

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "NONE with endpoints # hosts: [a.example.com]\\nresolution: NONE\\nendpoints: [{address: 10.0.0.1}]"
                    + " # spec.endpoints: given with resolution NONE",
            "STATIC without endpoints # hosts: [a.example.com]\\nresolution: STATIC"
                    + " # spec.endpoints: missing with resolution STATIC",
            "STATIC with a host name # hosts: [a.example.com]\\nresolution: STATIC\\nendpoints: [{address: b.example.com}]"
                    + " # spec.endpoints[0].address: 'b.example.com' (expected: an IP address with resolution STATIC",
            "DNS with a wildcard host and no endpoints # hosts: ['*.example.com']\\nresolution: DNS"
                    + " # spec.hosts[0]: '*.example.com' is a wildcard, which resolution DNS cannot look up",
            "DNS_ROUND_ROBIN with two endpoints # hosts: [a.example.com]\\nresolution: DNS_ROUND_ROBIN\\n"
                    + "endpoints: [{address: b.example.com}, {address: c.example.com}]"
                    + " # spec.endpoints: 2 endpoints with resolution DNS_ROUND_ROBIN",
            "a bare * host # hosts: ['*']\\nresolution: NONE # spec.hosts[0]: '*'",
            "a malformed host # hosts: ['a..example.com']\\nresolution: DNS # spec.hosts[0]: 'a..example.com'",
            "an unknown resolution # hosts: [a.example.com]\\nresolution: DYNAMIC # spec.resolution: 'DYNAMIC'",
            "an unknown location # hosts: [a.example.com]\\nlocation: OUTSIDE # spec.location: 'OUTSIDE'",
            "a bad address # hosts: [a.example.com]\\naddresses: [10.0.0.300] # spec.addresses[0]: '10.0.0.300'",
            "endpoints and a selector # hosts: [a.example.com]\\nresolution: STATIC\\nendpoints: [{address: 10.0.0.1}]\\n"
                    + "workloadSelector: {labels: {app: a}} # spec: both endpoints and workloadSelector",
            "an endpoint port naming no port # hosts: [a.example.com]\\nresolution: DNS\\n"
                    + "endpoints: [{address: b.example.com, ports: {grpc: 9000}}]"
                    + " # spec.endpoints[0].ports.grpc: names no port of the entry",
            "a duplicate port # hosts: [a.example.com]\\nresolution: DNS\\n"
                    + "ports: [{number: 80, name: http, protocol: HTTP}, {number: 80, name: web, protocol: HTTP}]"
                    + " # spec.ports[1].number: 80 is listed twice",
            "an unknown protocol # hosts: [a.example.com]\\nresolution: DNS\\nports: [{number: 80, name: x, protocol: FTP}]"
                    + " # spec.ports[0].protocol: 'FTP'",
    })
    void rejected(String name, String spec, String message) {
        String body = spec.replace("\\n", "\n") + (spec.contains("ports: [{number") ? "" : "\n" + PORT);
        assertThatThrownBy(() -> ConfigParser.parse(se(body)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message.trim());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "DNS without endpoints # hosts: [api.example.com]\\nlocation: MESH_EXTERNAL\\nresolution: DNS",
            "DNS with host-name endpoints # hosts: ['*.example.com']\\nresolution: DNS\\n"
                    + "endpoints: [{address: a.example.com, weight: 2, locality: us-east/a, labels: {v: a}}]",
            "NONE with a wildcard # hosts: ['*.wikipedia.org']\\nresolution: NONE",
            "STATIC with IPs # hosts: [db.example.com]\\nresolution: STATIC\\nendpoints: [{address: 10.0.0.1, ports: {http: 8080}}]",
            "STATIC with a selector # hosts: [vm.example.com]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\n"
                    + "workloadSelector: {labels: {app: vm}}",
    })
    void accepted(String name, String spec) throws ConfigException {
        assertThat(ConfigParser.parse(se(spec.replace("\\n", "\n") + "\n" + PORT)).spec())
                .isInstanceOf(ServiceEntrySpec.class);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "MUTUAL without files # {mode: MUTUAL} # spec.trafficPolicy.tls.clientCertificate: missing with mode MUTUAL",
            "MUTUAL without a key # '{mode: MUTUAL, clientCertificate: /c.pem}' # spec.trafficPolicy.tls.privateKey: missing",
            "an unknown mode # '{mode: STRICT}' # spec.trafficPolicy.tls.mode: 'STRICT' (expected one of",
            "a credential and files # '{mode: SIMPLE, credentialName: c, caCertificates: /ca.pem}'"
                    + " # spec.trafficPolicy.tls.credentialName: given with clientCertificate",
    })
    void destinationRuleTlsOrigination(String name, String tls, String message) {
        ConfigResource dr = Yaml.resources("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                + "metadata: {name: d}\nspec:\n  host: api.example.com\n  trafficPolicy:\n    tls: " + tls + "\n",
                "sample", "2026-11-27T00:00:00Z").get(0);
        assertThatThrownBy(() -> ConfigParser.parse(dr)).hasMessageContaining(message.trim());
    }
}
