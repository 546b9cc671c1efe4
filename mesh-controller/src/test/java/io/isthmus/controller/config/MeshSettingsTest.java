package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.discovery.ClusterLocalHosts;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MeshSettingsTest {

    private static final String MESH = """
            # Istio's MeshConfig: fields Isthmus does not read are left alone.
            accessLogFile: /dev/stdout
            defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}}
            serviceSettings:
            - settings: {clusterLocal: true}
              hosts: ["*.sample.svc.cluster.local", "db.data.svc.cluster.local"]
            - settings: {clusterLocal: false}
              hosts: [helloworld.sample.svc.cluster.local, kubernetes.default.svc.cluster.local]
            """;

    @ParameterizedTest(name = "{0} -> cluster-local {1}")
    @CsvSource({
        "curl.sample.svc.cluster.local, true",
        "db.data.svc.cluster.local, true",
        "cache.data.svc.cluster.local, false",
        "helloworld.sample.svc.cluster.local, false",
        "kubernetes.default.svc.cluster.local, false",
        "kube-dns.kube-system.svc.cluster.local, true",
    })
    void serviceSettingsGoOnTopOfIstiosDefaults(String host, boolean local) throws ConfigException {
        ClusterLocalHosts hosts = MeshSettings.parse(MESH).viewOptions("cluster.local", "td").clusterLocal();
        assertThat(hosts.matches(host)).isEqualTo(local);
    }

    @Test
    void anEmptyOrAbsentMeshConfigIsIstiosDefault() throws ConfigException {
        assertThat(MeshSettings.parse("")).isEqualTo(MeshSettings.DEFAULT);
        assertThat(MeshSettings.parse("accessLogFile: /dev/stdout\n")).isEqualTo(MeshSettings.DEFAULT);
        assertThat(MeshSettings.DEFAULT.viewOptions("cluster.local", "td").mcsClusterLocal()).isFalse();
        assertThat(MeshSettings.DEFAULT.withMcsClusterLocal(true).viewOptions("cluster.local", "td").mcsClusterLocal())
                .isTrue();
    }

    @Test
    void aServiceSettingWithoutSettingsIsNotClusterLocal() throws ConfigException {
        MeshSettings settings = MeshSettings.parse("serviceSettings: [{hosts: [a.b.svc.cluster.local]}]");
        assertThat(settings.serviceSettings())
                .containsExactly(new MeshSettings.ServiceSetting(List.of("a.b.svc.cluster.local"), false));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "serviceSettings: {hosts: [a]}                                        | serviceSettings: ",
        "serviceSettings: [{settings: {clusterLocal: yes-please}, hosts: [a]}] | serviceSettings[0].settings.clusterLocal: 'yes-please' (expected: true or false)",
        "serviceSettings: [{settings: {clusterLocal: true}}]                  | serviceSettings[0].hosts: missing",
        "serviceSettings: [{settings: {clusterLocal: true}, hosts: []}]       | serviceSettings[0].hosts: '[]'",
        "serviceSettings: [{settings: {clusterLocal: true}, hosts: ['a*.b']}] | serviceSettings[0].hosts[0]: cluster-local host: 'a*.b'",
        "serviceSettings: [3]                                                 | serviceSettings[0]: '3'",
        "[1, 2]                                                               | mesh config: '[1, 2]' (expected: a map",
        "'serviceSettings: [unclosed'                                         | mesh config: not YAML",
    })
    void malformedSettingsNameTheField(String yaml, String message) {
        assertThatThrownBy(() -> MeshSettings.parse(yaml)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }
}
