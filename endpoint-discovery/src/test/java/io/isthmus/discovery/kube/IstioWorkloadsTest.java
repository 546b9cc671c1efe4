package io.isthmus.discovery.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.kube.IstioWorkloads.ServiceEntryInfo;
import io.isthmus.discovery.kube.IstioWorkloads.WorkloadInfo;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IstioWorkloadsTest {

    static GenericKubernetesResource resource(String kind, String namespace, String name, String specYaml) {
        return resource(kind, namespace, name, "v1", specYaml);
    }

    static GenericKubernetesResource serviceEntry(String namespace, String name, String version, String specYaml) {
        return resource("ServiceEntry", namespace, name, version, specYaml);
    }

    static GenericKubernetesResource resource(String kind, String namespace, String name, String version,
            String specYaml) {
        String yaml = "apiVersion: networking.istio.io/" + version + "\nkind: " + kind + "\nmetadata:\n  name: " + name
                + "\n  namespace: " + namespace + "\nspec:\n" + specYaml.indent(2);
        return Serialization.unmarshal(yaml, GenericKubernetesResource.class);
    }

    static GenericKubernetesResource serviceEntry(String namespace, String name, String specYaml) {
        return resource("ServiceEntry", namespace, name, specYaml);
    }

    @Test
    void readsAMeshInternalStaticEntryWithInlineEndpoints() {
        ServiceEntryInfo entry = IstioWorkloads.serviceEntry(serviceEntry("vm", "billing", """
                hosts: [billing.vm.example]
                location: MESH_INTERNAL
                resolution: STATIC
                exportTo: [".", "sample"]
                ports:
                - {number: 8080, name: http-api, targetPort: 9080}
                - {number: 9000, name: tcp-db, protocol: TCP}
                endpoints:
                - address: 10.9.0.7
                  ports: {http-api: 19080}
                  labels: {app: billing, version: v2}
                  network: vm-net
                  locality: us-east/us-east-1b
                  serviceAccount: billing
                """));

        assertThat(entry.hosts()).containsExactly("billing.vm.example");
        assertThat(entry.ports()).containsExactly(new ServicePort("http-api", 8080, 9080, "HTTP"),
                new ServicePort("tcp-db", 9000, 9000, "TCP"));
        assertThat(entry.exportTo()).isEqualTo(Set.of("vm", "sample"));
        assertThat(entry.selector()).isEmpty();
        assertThat(entry.endpoints()).containsExactly(new WorkloadInfo("", "10.9.0.7", Map.of("http-api", 19080),
                Map.of("app", "billing", "version", "v2"), Optional.of("vm-net"),
                Optional.of(new Locality("us-east", "us-east-1b", "")), "billing"));
    }

    @Test
    void readsASelectorAndAWorkloadEntry() {
        ServiceEntryInfo entry = IstioWorkloads.serviceEntry(serviceEntry("vm", "billing", """
                hosts: [billing.vm.example]
                location: MESH_INTERNAL
                resolution: STATIC
                ports: [{number: 8080, name: http}]
                workloadSelector: {labels: {app: billing}}
                """));
        assertThat(entry.selector()).contains(Map.of("app", "billing"));
        assertThat(entry.exportTo()).containsExactly("*");
        assertThat(entry.selects(Map.of("app", "billing", "version", "v1"))).isTrue();
        assertThat(entry.selects(Map.of("app", "ledger"))).isFalse();

        WorkloadInfo workload = IstioWorkloads.workloadEntry(resource("WorkloadEntry", "vm", "billing-vm-1", """
                address: 10.9.0.8
                labels: {app: billing}
                """));
        assertThat(workload).isEqualTo(new WorkloadInfo("billing-vm-1", "10.9.0.8", Map.of(), Map.of("app", "billing"),
                Optional.empty(), Optional.empty(), "default"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "wildcard host | hosts: ['*.internal']\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}] | spec.hosts: *.internal",
    })
    void refusesWhatIsNotRoutedAsUnsupported(String name, String spec, String message) {
        assertThatThrownBy(() -> IstioWorkloads.serviceEntry(serviceEntry("vm", "x", spec.replace("\\n", "\n"))))
                .isInstanceOf(IstioWorkloads.Unsupported.class)
                .hasMessageContaining(message);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "external by default | hosts: [api.example.com]\\nresolution: STATIC\\nports: [{number: 443, name: https}] | spec.location: MESH_EXTERNAL",
            "dns resolution | hosts: [db.internal]\\nlocation: MESH_INTERNAL\\nresolution: DNS\\nports: [{number: 5432, name: tcp}] | spec.resolution: DNS",
    })
    void leavesWhatTranslationRoutesToTranslation(String name, String spec, String message) {
        assertThatThrownBy(() -> IstioWorkloads.serviceEntry(serviceEntry("vm", "x", spec.replace("\\n", "\n"))))
                .isInstanceOf(IstioWorkloads.NotDiscovered.class)
                .hasMessageContaining(message);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "no hosts | location: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}] | spec.hosts: empty",
            "no ports | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC | spec.ports: empty",
            "port out of range | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 70000, name: http}] | spec.ports[0].number: 70000",
            "port as a string | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: eighty, name: http}] | spec.ports[0].number: eighty",
            "unnamed port | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80}] | spec.ports[0].name: missing",
            "host name endpoint | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}]\\nendpoints: [{address: vm.example}] | spec.endpoints[0].address: vm.example",
            "bad locality | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}]\\nendpoints: [{address: 10.0.0.1, locality: a/b/c/d}] | spec.endpoints[0].locality",
            "label not a string | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}]\\nendpoints: [{address: 10.0.0.1, labels: {app: [x]}}] | spec.endpoints[0].labels.app",
            "both endpoints and selector | hosts: [a.b]\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}]\\nendpoints: [{address: 10.0.0.1}]\\nworkloadSelector: {labels: {app: a}} | both endpoints and workloadSelector",
            "hosts not a list | hosts: a.b\\nlocation: MESH_INTERNAL\\nresolution: STATIC\\nports: [{number: 80, name: http}] | spec.hosts: a.b (expected: a list)",
    })
    void refusesMalformedEntriesNamingTheField(String name, String spec, String message) {
        assertThatThrownBy(() -> IstioWorkloads.serviceEntry(serviceEntry("vm", "x", spec.replace("\\n", "\n"))))
                .isInstanceOf(IllegalArgumentException.class)
                .isNotInstanceOf(IstioWorkloads.Unsupported.class)
                .hasMessageContaining(message);
    }

    @Test
    void refusesAWorkloadEntryWithoutAnAddress() {
        assertThatThrownBy(() -> IstioWorkloads.workloadEntry(resource("WorkloadEntry", "vm", "w", "labels: {app: a}")))
                .hasMessageContaining("spec.address: missing");
    }

    @Test
    void listsNoEndpointsWhenNoneAreGiven() {
        ServiceEntryInfo entry = IstioWorkloads.serviceEntry(serviceEntry("vm", "x", """
                hosts: [a.b, c.d]
                location: MESH_INTERNAL
                resolution: STATIC
                ports: [{number: 80, name: http}]
                """));
        assertThat(entry.hosts()).isEqualTo(List.of("a.b", "c.d"));
        assertThat(entry.endpoints()).isEmpty();
    }
}
