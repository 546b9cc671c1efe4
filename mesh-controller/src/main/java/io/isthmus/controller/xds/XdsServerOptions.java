package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import io.grpc.ServerServiceDefinition;
import io.netty.handler.ssl.SslContext;
import java.util.List;

/**
 * Where and how the xDS server listens.
 *
 * @param bindAddress    the IP to bind both ports to
 * @param plaintextPort  ADS without TLS (0 picks a free port)
 * @param securePort     ADS over TLS plus {@code secureServices} (0 picks a free port)
 * @param secureContext  the TLS server context of {@code securePort} (client auth OPTIONAL, built
 *                       with {@code GrpcSslContexts}), or null to serve the plaintext port only
 * @param secureServices more services on the TLS port, e.g. the CA's CSR service
 */
public record XdsServerOptions(
        String bindAddress,
        int plaintextPort,
        int securePort,
        SslContext secureContext,
        List<ServerServiceDefinition> secureServices) {

    public XdsServerOptions {
        requireNonNull(bindAddress, "bindAddress");
        secureServices = List.copyOf(secureServices);
        checkPort("plaintextPort", plaintextPort);
        checkPort("securePort", securePort);
        if (secureContext == null && !secureServices.isEmpty()) {
            throw new IllegalArgumentException("secureServices: " + secureServices.size()
                    + " (expected: none without a secureContext)");
        }
    }

    private static void checkPort(String name, int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(name + ": " + port + " (expected: 0-65535)");
        }
    }
}
