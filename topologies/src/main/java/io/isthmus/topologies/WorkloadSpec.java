package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One workload (one pod with its sidecar) of a topology. A {@link Role#SERVER} runs the echo app
 * behind a Service; a {@link Role#CLIENT} runs only a sidecar, and the launcher sends requests as
 * its app. {@code service} is empty for a client without a Service. Labels always hold {@code app}
 * and {@code version} (defaulted by the parser from the service or name, and {@code v1}).
 */
public record WorkloadSpec(
        String name,
        String cluster,
        String namespace,
        Optional<String> service,
        String serviceAccount,
        Map<String, String> labels,
        List<PortSpec> ports,
        Role role) {

    /** What the launcher runs for a workload. */
    public enum Role {
        /** The echo app with a sidecar in front of it. */
        SERVER,
        /** A sidecar only; requests are sent as its app by the launcher. */
        CLIENT
    }

    public WorkloadSpec {
        Names.requireDnsLabel("name", name);
        Names.requireDnsLabel("cluster", cluster);
        Names.requireDnsLabel("namespace", namespace);
        requireNonNull(service, "service");
        service.ifPresent(s -> Names.requireDnsLabel("service", s));
        Names.requireDnsLabel("serviceAccount", serviceAccount);
        labels = Map.copyOf(requireNonNull(labels, "labels"));
        ports = List.copyOf(requireNonNull(ports, "ports"));
        requireNonNull(role, "role");
        if (!labels.containsKey("app") || !labels.containsKey("version")) {
            throw new IllegalArgumentException("labels: " + labels + " (expected: both 'app' and 'version')");
        }
        if (role == Role.SERVER && (service.isEmpty() || ports.isEmpty())) {
            throw new IllegalArgumentException(
                    "role: server needs a service and at least one port (add 'service:' and 'ports:')");
        }
        if (service.isPresent() && ports.isEmpty()) {
            throw new IllegalArgumentException("ports: empty (expected: at least one port for service '"
                    + service.get() + "')");
        }
    }

    /** The value of the {@code app} label. */
    public String app() {
        return labels.get("app");
    }

    /** The value of the {@code version} label. */
    public String version() {
        return labels.get("version");
    }

    /** The SPIFFE identity of this workload in the given trust domain. */
    public String identity(String trustDomain) {
        return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    /** The port the echo app serves HTTP on: the first port named {@code http*} or {@code grpc*}. */
    public Optional<PortSpec> httpPort() {
        return ports.stream().filter(p -> p.name().startsWith("http") || p.name().startsWith("grpc")).findFirst();
    }

    /** The port the echo app serves raw TCP echo on: the first port named {@code tcp*}. */
    public Optional<PortSpec> tcpPort() {
        return ports.stream().filter(p -> p.name().startsWith("tcp")).findFirst();
    }
}
