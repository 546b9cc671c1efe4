package io.isthmus.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ClusterLocalHostsTest {

    /** Istio's defaults plus {@code local} (clusterLocal: true) and {@code notLocal} (clusterLocal: false). */
    @ParameterizedTest(name = "{0} with local=[{1}] notLocal=[{2}] -> {3}")
    @CsvSource(delimiter = '|', nullValues = "-", value = {
        // host                                       | clusterLocal: true          | clusterLocal: false                 | local?
        "kubernetes.default.svc.cluster.local         | -                           | -                                   | true",
        "kube-dns.kube-system.svc.cluster.local       | -                           | -                                   | true",
        "helloworld.sample.svc.cluster.local          | -                           | -                                   | false",
        "kubernetes.default.svc.cluster.local         | -                           | kubernetes.default.svc.cluster.local | false",
        // one host out of the kube-system default; the rest of kube-system stays local
        "kube-dns.kube-system.svc.cluster.local       | -                           | kube-dns.kube-system.svc.cluster.local | false",
        "metrics.kube-system.svc.cluster.local        | -                           | kube-dns.kube-system.svc.cluster.local | true",
        // the whole default wildcard overridden by the same pattern (a tie: clusterLocal false wins)
        "metrics.kube-system.svc.cluster.local        | -                           | *.kube-system.svc.cluster.local     | false",
        "helloworld.sample.svc.cluster.local          | *.sample.svc.cluster.local  | -                                   | true",
        "sample.svc.cluster.local                     | *.sample.svc.cluster.local  | -                                   | false",
        "helloworld.sample.svc.cluster.local          | helloworld.sample.svc.cluster.local | -                           | true",
        "curl.sample.svc.cluster.local                | helloworld.sample.svc.cluster.local | -                           | false",
        // the more specific pattern wins, whichever list it is in
        "helloworld.sample.svc.cluster.local          | *.sample.svc.cluster.local  | helloworld.sample.svc.cluster.local | false",
        "curl.sample.svc.cluster.local                | *.sample.svc.cluster.local  | helloworld.sample.svc.cluster.local | true",
        "helloworld.sample.svc.cluster.local          | helloworld.sample.svc.cluster.local | *.sample.svc.cluster.local  | true",
        "helloworld.sample.svc.cluster.local          | *                           | *.svc.cluster.local                 | false",
        "api.example.com                              | *                           | *.svc.cluster.local                 | true",
    })
    void theMostSpecificSettingDecides(String host, String local, String notLocal, boolean expected) {
        ClusterLocalHosts hosts = ClusterLocalHosts.defaults("cluster.local")
                .plus(local == null ? List.of() : Arrays.asList(local.split(" ")))
                .except(notLocal == null ? List.of() : Arrays.asList(notLocal.split(" ")));
        assertThat(hosts.matches(host)).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "foo*.bar", "*foo.bar", "a.*.b", "**"})
    void malformedPatternsAreRefusedWithThePattern(String pattern) {
        assertThatThrownBy(() -> new ClusterLocalHosts(List.of(pattern)))
                .hasMessageContaining("'" + pattern + "'")
                .hasMessageContaining("expected");
        assertThatThrownBy(() -> ClusterLocalHosts.defaults("cluster.local").except(List.of(pattern)))
                .hasMessageContaining("'" + pattern + "'");
    }
}
