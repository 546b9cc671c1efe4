package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * An east-west gateway: how clusters on other networks reach the endpoints of {@code network}.
 * Found from the Service labelled {@code topology.istio.io/network}.
 */
public record NetworkGateway(String network, String cluster, String address, int port) {

    public static final int DEFAULT_PORT = 15443;

    public NetworkGateway {
        requireNonNull(network, "network");
        requireNonNull(cluster, "cluster");
        requireNonNull(address, "address");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("gateway port: " + port + " (expected: 1-65535)");
        }
    }
}
