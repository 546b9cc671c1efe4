package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** VirtualService {@code tcp} and {@code tls} routes: what Istio's validation rejects is rejected, naming the field. */
class L4RouteValidationTest {

    private static ConfigResource vs(String routes) {
        String yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db}\nspec:\n"
                + "  hosts: [db.example.com, '*.shop.example.com']\n" + routes.indent(2);
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of("tls:\n- match: [{port: 443}]\n  route: [{destination: {host: db.example.com}}]",
                        "VirtualService sample/db: spec.tls[0].match[0].sniHosts: missing (expected: the server names"),
                Arguments.of("tls:\n- route: [{destination: {host: db.example.com}}]",
                        "spec.tls[0].match: missing (expected: at least one match with sniHosts)"),
                Arguments.of("tls:\n- match: [{sniHosts: [other.example.com]}]\n"
                                + "  route: [{destination: {host: db.example.com}}]",
                        "spec.tls[0].match[0].sniHosts[0]: 'other.example.com' is not one of the VirtualService's hosts"),
                Arguments.of("tcp:\n- route: [{destination: {host: db, subset: a}, weight: 80},"
                                + " {destination: {host: db, subset: b}, weight: 30}]",
                        "spec.tcp[0].route: weights sum to 110 (expected: 100"),
                Arguments.of("tcp:\n- route: [{destination: {host: db}, weight: 101}]",
                        "spec.tcp[0].route[0].weight: 101 (expected: 0-100)"),
                Arguments.of("tcp:\n- match: [{port: 5432}]",
                        "spec.tcp[0].route: missing (expected: at least one destination"),
                Arguments.of("tcp:\n- match: [{destinationSubnets: [10.0.0.0/33]}]\n"
                                + "  route: [{destination: {host: db}}]",
                        "spec.tcp[0].match[0].destinationSubnets[0]: '10.0.0.0/33' (expected: an IP address or CIDR"),
                Arguments.of("tcp:\n- match: [{port: 70000}]\n  route: [{destination: {host: db}}]",
                        "spec.tcp[0].match[0].port: 70000 (expected: 1-65535)"),
                Arguments.of("tcp:\n- route: [{destination: {port: {number: 5432}}}]",
                        "spec.tcp[0].route[0].destination.host: missing"),
                // TCP and TLS destinations have no header operations in Istio's schema.
                Arguments.of("tcp:\n- route: [{destination: {host: db}, headers: {request: {set: {a: b}}}}]",
                        "spec.tcp[0].route[0]: unknown field 'headers'"),
                Arguments.of("tls:\n- match: [{sniHosts: [db.example.com], sniHost: x}]\n"
                                + "  route: [{destination: {host: db}}]",
                        "spec.tls[0].match[0]: unknown field 'sniHost'"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalid")
    void rejectedNamingTheField(String routes, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(vs(routes)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void istiosExamplesAreAccepted() throws ConfigException {
        // Istio's documentation: a weighted TCP route, one by destination subnet and source, a TLS route by SNI
        // (a name under the VirtualService's wildcard host too).
        var parsed = ConfigParser.parse(vs("""
                tcp:
                - match: [{port: 27017, destinationSubnets: [10.1.0.0/16, 10.2.0.7], sourceLabels: {app: reviews},
                           gateways: [mesh], sourceNamespace: sample, sourceSubnet: 10.9.0.0/16}]
                  route: [{destination: {host: db.example.com, port: {number: 5555}}}]
                - route: [{destination: {host: db, subset: v1}, weight: 80},
                          {destination: {host: db, subset: v2}, weight: 20}]
                tls:
                - match: [{sniHosts: [db.example.com, cart.shop.example.com], port: 443,
                           destinationSubnets: [10.3.0.0/24], sourceLabels: {app: web}, gateways: [mesh],
                           sourceNamespace: sample}]
                  route: [{destination: {host: db.example.com}}]
                """));
        VirtualServiceSpec spec = (VirtualServiceSpec) parsed.spec();
        assertThat(spec.tcp()).hasSize(2);
        assertThat(spec.tcp().get(0).match().get(0).destinationSubnets()).containsExactly("10.1.0.0/16", "10.2.0.7");
        assertThat(spec.tcp().get(1).route()).extracting(VirtualServiceSpec.L4RouteDestination::weight)
                .containsExactly(80, 20);
        assertThat(spec.tls().get(0).match().get(0).sniHosts())
                .containsExactly("db.example.com", "cart.shop.example.com");
    }
}
