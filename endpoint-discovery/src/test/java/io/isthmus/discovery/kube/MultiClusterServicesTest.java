package io.isthmus.discovery.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.isthmus.discovery.ServiceKey;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MultiClusterServicesTest {

    static GenericKubernetesResource mcs(String kind, String namespace, String name, String specYaml) {
        String yaml = "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + name
                + "\n  namespace: " + namespace + "\n" + (specYaml == null ? "" : "spec:\n" + specYaml.indent(2));
        return Serialization.unmarshal(yaml, GenericKubernetesResource.class);
    }

    @Test
    void aServiceExportExportsTheServiceOfTheSameNamespaceAndName() {
        assertThat(MultiClusterServices.serviceExport(mcs("ServiceExport", "sample", "helloworld", null)))
                .isEqualTo(new ServiceKey("sample", "helloworld"));
    }

    @Test
    void readsAServiceImport() {
        var info = MultiClusterServices.serviceImport(mcs("ServiceImport", "sample", "helloworld", """
                type: ClusterSetIP
                ips: [10.42.0.7]
                ports: [{name: http, port: 5000, protocol: TCP}]
                """));
        assertThat(info).isEqualTo(new MultiClusterServices.ServiceImportInfo(new ServiceKey("sample", "helloworld"),
                "ClusterSetIP", List.of("10.42.0.7"), List.of(5000)));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "type: LoadBalancer                         | spec.type: LoadBalancer (expected: ClusterSetIP or Headless)",
        "type: Headless\\nports: [{port: 0}]         | spec.ports[0].port: 0 (expected: 1-65535)",
        "type: Headless\\nports: [{port: http}]      | spec.ports[0].port: http (expected: 1-65535)",
        "type: ClusterSetIP\\nips: 10.0.0.1          | spec.ips: 10.0.0.1 (expected: a list)",
        "type: ClusterSetIP\\nips: ['']              | spec.ips:  (expected: an IP address)",
    })
    void malformedServiceImportsNameTheField(String spec, String message) {
        assertThatThrownBy(() -> MultiClusterServices.serviceImport(
                mcs("ServiceImport", "sample", "helloworld", spec.replace("\\n", "\n"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(message);
    }

    @Test
    void aServiceImportWithoutSpecIsRefused() {
        assertThatThrownBy(() -> MultiClusterServices.serviceImport(mcs("ServiceImport", "sample", "x", null)))
                .hasMessageStartingWith("spec: null");
    }
}
