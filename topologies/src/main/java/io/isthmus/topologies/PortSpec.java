package io.isthmus.topologies;

/**
 * A service port. The name follows Istio's protocol selection by prefix ({@code http},
 * {@code http2}, {@code grpc}, {@code tcp}...). {@code targetPort} is where the app listens on
 * the pod's localhost and where the sidecar binds its inbound listener on the pod IP.
 */
public record PortSpec(String name, int port, int targetPort) {

    public PortSpec {
        Names.requireDnsLabel("name", name);
        requirePort("port", port);
        requirePort("targetPort", targetPort);
    }

    private static void requirePort(String field, int value) {
        if (value < 1 || value > 65535) {
            throw new IllegalArgumentException(field + ": " + value + " (expected: 1..65535)");
        }
        if (value == 15000 || value == 15001 || value == 15006 || value == 15020 || value == 15021) {
            throw new IllegalArgumentException(field + ": " + value
                    + " (expected: not one of the sidecar's own ports 15000, 15001, 15006, 15020, 15021)");
        }
    }
}
