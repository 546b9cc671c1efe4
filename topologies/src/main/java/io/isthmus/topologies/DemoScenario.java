package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * Who calls whom in a topology's demo: the first {@link WorkloadSpec.Role#CLIENT} workload calls
 * the first service that has server workloads, on that service's first port. For the demo
 * topology: curl in west calls {@code helloworld.sample.svc.cluster.local:5000}.
 */
public record DemoScenario(WorkloadSpec client, String service, String namespace, PortSpec port,
        List<WorkloadSpec> servers) {

    public DemoScenario {
        requireNonNull(client, "client");
        requireNonNull(service, "service");
        requireNonNull(namespace, "namespace");
        requireNonNull(port, "port");
        servers = List.copyOf(requireNonNull(servers, "servers"));
    }

    public static DemoScenario of(Topology topology) {
        WorkloadSpec client = topology.workloads().stream().filter(w -> w.role() == WorkloadSpec.Role.CLIENT)
                .findFirst().orElseThrow(() -> new TopologyException("workloads: no workload with 'role: client'"
                        + " (expected: one, to send the demo requests from)"));
        WorkloadSpec firstServer = topology.workloads().stream().filter(w -> w.role() == WorkloadSpec.Role.SERVER)
                .findFirst().orElseThrow(() -> new TopologyException("workloads: no workload with 'role: server'"
                        + " (expected: at least one, to answer the demo requests)"));
        String service = firstServer.service().orElseThrow();
        List<WorkloadSpec> servers = topology.workloads().stream()
                .filter(w -> w.role() == WorkloadSpec.Role.SERVER && w.service().equals(firstServer.service())
                        && w.namespace().equals(firstServer.namespace()))
                .toList();
        return new DemoScenario(client, service, firstServer.namespace(), firstServer.ports().get(0), servers);
    }

    /** {@code <service>.<namespace>.svc.cluster.local}. */
    public String host() {
        return service + '.' + namespace + ".svc.cluster.local";
    }

    /** The Host header the client sends: {@code host:port}. */
    public String authority() {
        return host() + ':' + port.port();
    }

    /** The outbound cluster name the client's sidecar holds for the service. */
    public String outboundCluster() {
        return "outbound|" + port.port() + "||" + host();
    }
}
