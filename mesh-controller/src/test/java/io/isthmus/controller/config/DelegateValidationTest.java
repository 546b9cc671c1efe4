package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** VirtualService delegation: Istio's rules for root routes and delegates, broken ones rejected naming the field. */
class DelegateValidationTest {

    private static ConfigResource vs(String spec) {
        String yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: api}\nspec:\n"
                + spec.indent(2);
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of("hosts: [helloworld]\nhttp:\n- delegate: {namespace: team}",
                        "VirtualService sample/api: spec.http[0].delegate.name: missing"),
                Arguments.of("hosts: [helloworld]\nhttp:\n- delegate: {name: api-v2}\n"
                                + "  route: [{destination: {host: helloworld}}]",
                        "spec.http[0]: has both delegate and route"),
                Arguments.of("hosts: [helloworld]\nhttp:\n- delegate: {name: api-v2, version: 2}",
                        "spec.http[0].delegate: unknown field 'version'"),
                Arguments.of("http:\n- delegate: {name: deeper}",
                        "spec.http[0].delegate: set in a delegate VirtualService (expected: one level"),
                Arguments.of("gateways: [mesh]\nhttp:\n- route: [{destination: {host: helloworld}}]",
                        "spec.gateways: set on a delegate VirtualService"),
                Arguments.of("http:\n- route: [{destination: {host: helloworld}}]\n"
                                + "tcp:\n- route: [{destination: {host: helloworld}}]",
                        "spec.tcp: set on a delegate VirtualService"),
                Arguments.of("exportTo: ['.']",
                        "spec.hosts: missing (expected: at least one host"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalid")
    void rejectedNamingTheField(String spec, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(vs(spec)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void aRootAndItsDelegateAreAccepted() {
        assertThatCode(() -> ConfigParser.parse(vs("hosts: [helloworld]\nhttp:\n"
                + "- match: [{uri: {prefix: /api}}]\n  delegate: {name: api-v2, namespace: team}\n"
                + "- route: [{destination: {host: helloworld}}]"))).doesNotThrowAnyException();
        assertThatCode(() -> ConfigParser.parse(vs("exportTo: [sample]\nhttp:\n"
                + "- match: [{uri: {prefix: /api/v2}}]\n  route: [{destination: {host: helloworld, subset: v2}}]")))
                .doesNotThrowAnyException();
    }
}
