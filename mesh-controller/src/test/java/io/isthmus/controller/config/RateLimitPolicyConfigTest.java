package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** RateLimitPolicy (policy.isthmus.io/v1alpha1): what is accepted, what is rejected, and how. */
class RateLimitPolicyConfigTest {

    private static ConfigResource one(String yaml) {
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    static String rl(String spec) {
        return "apiVersion: policy.isthmus.io/v1alpha1\nkind: RateLimitPolicy\nmetadata: {name: r}\nspec:\n"
                + spec.indent(2);
    }

    static Stream<Arguments> valid() {
        return Stream.of(
                Arguments.of(rl("rules: [{limit: {requests: 10, unit: SECOND}}]")),
                Arguments.of(rl("selector: {matchLabels: {app: helloworld}}\nscope: INBOUND\nresponseHeaders: false\n"
                        + "dryRun: true\nrules:\n- name: writes\n  match: {methods: [POST, PUT], paths: [\"/hello*\"],"
                        + " hosts: [\"helloworld*\"], ports: [\"5000\"]}\n  limit: {requests: 5, fillInterval: 500ms,"
                        + " burst: 20}\n- limit: {requests: 100, unit: MINUTE}")),
                Arguments.of(rl("rules: [{limit: {requests: 1, unit: HOUR, burst: 1}}]")),
                Arguments.of(rl("rules: [{perHeader: {name: x-user-id}, limit: {requests: 5, unit: MINUTE}}]")),
                Arguments.of(rl("rules: [{match: {paths: [\"/api/*\"]}, perHeader: {name: x-api-key, maxValues: 50},"
                        + " limit: {requests: 5, unit: MINUTE}}]")));
    }

    @ParameterizedTest
    @MethodSource("valid")
    void accepts(String yaml) throws ConfigException {
        assertThat(ConfigParser.parse(one(yaml)).spec()).isInstanceOf(RateLimitPolicySpec.class);
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of(rl("{}"), "spec.rules: missing (expected: at least one rule"),
                Arguments.of(rl("rules: [{name: a}]"), "spec.rules[0].limit: missing"),
                Arguments.of(rl("rules: [{limit: {requests: 0, unit: SECOND}}]"),
                        "spec.rules[0].limit.requests: 0 (expected: 1-4294967295)"),
                Arguments.of(rl("rules: [{limit: {unit: SECOND}}]"), "spec.rules[0].limit.requests: null"),
                Arguments.of(rl("rules: [{limit: {requests: 10, unit: SECOND, burst: 5}}]"),
                        "spec.rules[0].limit.burst: 5 is below requests 10"),
                Arguments.of(rl("rules: [{limit: {requests: 10, unit: DAY}}]"),
                        "spec.rules[0].limit.unit: 'DAY' (expected: SECOND, MINUTE or HOUR)"),
                Arguments.of(rl("rules: [{limit: {requests: 10}}]"), "spec.rules[0].limit.unit: missing"),
                Arguments.of(rl("rules: [{limit: {requests: 10, unit: SECOND, fillInterval: 1s}}]"),
                        "spec.rules[0].limit: has both unit and fillInterval"),
                Arguments.of(rl("rules: [{limit: {requests: 10, fillInterval: 10ms}}]"),
                        "spec.rules[0].limit.fillInterval: '10ms' (expected: at least 50ms"),
                Arguments.of(rl("rules: [{limit: {requests: 10, fillInterval: soon}}]"),
                        "spec.rules[0].limit.fillInterval: 'soon' is not a duration"),
                Arguments.of(rl("rules: [{name: a, limit: {requests: 1, unit: SECOND}}, {name: a, limit: {requests: 1,"
                        + " unit: SECOND}}]"), "spec.rules[1].name: 'a' is used by an earlier rule"),
                Arguments.of(rl("rules: [{match: {}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].match: empty"),
                Arguments.of(rl("rules: [{match: {methods: [get]}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].match.methods[0]: 'get' (expected: an HTTP method in upper case"),
                Arguments.of(rl("rules: [{match: {paths: [\"a/b\"]}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].match.paths[0]: 'a/b' (expected: a path starting with /"),
                Arguments.of(rl("rules: [{match: {ports: [\"70000\"]}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].match.ports[0]: '70000' (expected: a port number 1-65535)"),
                Arguments.of(rl("rules: [{match: {notPaths: [\"/a\"]}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].match: unknown field 'notPaths'"),
                Arguments.of(rl("scope: OUTBOUND\nrules: [{limit: {requests: 1, unit: SECOND}}]"),
                        "spec.scope: OUTBOUND (not enforced yet"),
                Arguments.of(rl("scope: SIDEWAYS\nrules: [{limit: {requests: 1, unit: SECOND}}]"), "spec.scope"),
                Arguments.of(rl("selector: {matchLabels: {\"\": x}}\nrules: [{limit: {requests: 1, unit: SECOND}}]"),
                        "spec.selector.matchLabels"),
                Arguments.of(rl("rules: [{limit: {requests: 1, unit: SECOND}}]\nburst: 3"),
                        "spec: unknown field 'burst'"),
                Arguments.of(rl("rules: [{perHeader: {}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].perHeader.name: missing (expected: a request header name"),
                Arguments.of(rl("rules: [{perHeader: {name: X-User}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].perHeader.name: 'X-User' (expected: a lower-case HTTP header name"),
                Arguments.of(rl("rules: [{perHeader: {name: \":authority\"}, limit: {requests: 1, unit: SECOND}}]"),
                        "pseudo-headers like :authority are not allowed"),
                Arguments.of(rl("rules: [{perHeader: {name: x-user, maxValues: 0}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].perHeader.maxValues: 0 (expected: 1-100000"),
                Arguments.of(rl("rules: [{perHeader: {name: x-user, values: 3}, limit: {requests: 1, unit: SECOND}}]"),
                        "spec.rules[0].perHeader: unknown field 'values'"));
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void rejectsNamingKindObjectFieldAndFix(String yaml, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(one(yaml)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("RateLimitPolicy sample/r")
                .hasMessageContaining(message);
    }

    @Test
    void limitDefaultsBurstToRequestsAndReadsUnits() throws ConfigException {
        var spec = (RateLimitPolicySpec) ConfigParser.parse(one(rl("rules:\n- limit: {requests: 7, unit: MINUTE}\n"
                + "- limit: {requests: 3, fillInterval: 250ms, burst: 9}"))).spec();
        assertThat(spec.scope()).isEqualTo(RateLimitPolicySpec.Scope.INBOUND);
        assertThat(spec.responseHeaders()).isTrue();
        assertThat(spec.dryRun()).isFalse();
        assertThat(spec.rules().get(0).limit().size()).isEqualTo(7);
        assertThat(spec.rules().get(0).limit().interval()).isEqualTo(Duration.ofMinutes(1));
        assertThat(spec.rules().get(1).limit().size()).isEqualTo(9);
        assertThat(spec.rules().get(1).limit().interval()).isEqualTo(Duration.ofMillis(250));
    }

    @Test
    void isAKindOfItsOwnGroup() {
        assertThat(ConfigKind.of("RateLimitPolicy")).contains(ConfigKind.RATE_LIMIT_POLICY);
        assertThat(ConfigKind.RATE_LIMIT_POLICY.group()).isEqualTo("policy.isthmus.io");
        assertThat(ConfigKind.RATE_LIMIT_POLICY.versions()).containsExactly("v1alpha1");
        assertThat(ConfigKind.RATE_LIMIT_POLICY.plural()).isEqualTo("ratelimitpolicies");
    }
}
