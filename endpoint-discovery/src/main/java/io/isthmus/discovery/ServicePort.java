package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * One port of a service. {@code protocol} is Istio's protocol name ({@code HTTP}, {@code HTTP2},
 * {@code GRPC}, {@code TCP}, {@code TLS}, ...), taken from {@code appProtocol} or the port name
 * prefix ({@code http-web} → HTTP); when neither says, {@code TCP} on Istio's well-known
 * server-first ports (25, 53, 3306, 27017) and {@code UnsupportedProtocol} elsewhere (as in Istio:
 * the sidecar detects HTTP per connection and treats the rest as TCP).
 */
public record ServicePort(String name, int port, int targetPort, String protocol) {

    public ServicePort {
        requireNonNull(name, "name");
        requireNonNull(protocol, "protocol");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
        }
        if (targetPort < 1 || targetPort > 65535) {
            throw new IllegalArgumentException("targetPort: " + targetPort + " (expected: 1-65535)");
        }
    }
}
