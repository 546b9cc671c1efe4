package io.isthmus.topologies.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.PortSpec;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A pod's life as the launcher writes it into an embedded API server: a cluster without cacerts (it
 * joins later), one more pod started not ready, marked ready, deleted; each change visible in the Pod's
 * conditions and the service's EndpointSlice, the other pods' endpoints untouched.
 */
class KubeObjectsTest {

    private static final ClusterSpec EAST = new ClusterSpec("east", "net1", "us-east", "us-east-1a", "");
    private static EmbeddedApiServer server;
    private static KubernetesClient client;
    private static Topology topology;

    @BeforeAll
    static void start() {
        server = EmbeddedApiServer.start("east", "127.0.0.1", 0);
        client = server.newClient();
        topology = new Topology("kube-objects", 91, "cluster.local", List.of(EAST), List.of(helloworld("helloworld-a")));
        KubeObjects.write(client, topology, EAST, Map.of(), "https://kubernetes.default.svc/east", "{\"keys\":[]}");
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aClusterWrittenWithoutCacertsHasItsIssuerButNoCa() {
        assertThat(client.secrets().inNamespace("istio-system").withName("cacerts").get()).isNull();
        assertThat(client.configMaps().inNamespace("istio-system").withName("isthmus-sa-issuer").get()).isNotNull();
        assertThat(readiness()).containsExactly(Map.entry(topology.podIp(topology.workload("helloworld-a")), true));
    }

    @Test
    void aPodStartsNotReadyBecomesReadyAndIsDeleted() {
        Topology grown = topology.withWorkload(helloworld("helloworld-b"));
        WorkloadSpec b = grown.workload("helloworld-b");
        String aIp = grown.podIp(grown.workload("helloworld-a"));
        String bIp = grown.podIp(b);
        assertThat(bIp).as("the new pod's IP follows the cluster's others").endsWith(".1.2");

        KubeObjects.writeWorkload(client, grown, EAST, b, false);
        assertThat(podReady(grown, b)).isEqualTo("False");
        assertThat(readiness()).containsExactly(Map.entry(aIp, true), Map.entry(bIp, false));

        KubeObjects.setReady(client, grown, EAST, b, true);
        assertThat(podReady(grown, b)).isEqualTo("True");
        assertThat(readiness()).containsExactly(Map.entry(aIp, true), Map.entry(bIp, true));

        KubeObjects.deletePod(client, grown, EAST, b);
        assertThat(client.pods().inNamespace("sample").withName(grown.podName(b)).get()).isNull();
        assertThat(readiness()).containsExactly(Map.entry(aIp, true));
        assertThatThrownBy(() -> KubeObjects.setReady(client, grown, EAST, b, true))
                .hasMessageContaining("'helloworld-b' has no Pod sample/" + grown.podName(b));
    }

    private static String podReady(Topology t, WorkloadSpec w) {
        Pod pod = client.pods().inNamespace("sample").withName(t.podName(w)).get();
        return pod.getStatus().getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst()
                .orElseThrow().getStatus();
    }

    /** Pod IP → ready, from the helloworld EndpointSlice. */
    private static Map<String, Boolean> readiness() {
        EndpointSlice slice = client.resources(EndpointSlice.class).inNamespace("sample").withName("helloworld-east").get();
        Map<String, Boolean> ready = new TreeMap<>();
        for (Endpoint e : slice.getEndpoints()) {
            ready.put(e.getAddresses().get(0), e.getConditions().getReady());
        }
        return ready;
    }

    private static WorkloadSpec helloworld(String name) {
        return new WorkloadSpec(name, "east", "sample", Optional.of("helloworld"), "helloworld",
                Map.of("app", "helloworld", "version", "v1"), List.of(new PortSpec("http", 5000, 5000)),
                WorkloadSpec.Role.SERVER);
    }
}
