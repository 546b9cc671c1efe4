package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLSession;

/**
 * The mesh TLS the data plane uses, built from the workload certificate and the trust
 * bundle (both may rotate behind these contexts).
 *
 * @param upstreamClient presents the workload certificate, verifies the server's SPIFFE
 *     identity, ALPN {@code http/1.1}
 * @param inboundServer requires and verifies a client certificate, ALPN {@code http/1.1}
 * @param peerIdentity the verified SPIFFE URI of a handshake's peer
 * @param ownIdentity this workload's SPIFFE URI, empty until a certificate is issued
 */
public record TlsContexts(
    SslContext upstreamClient,
    SslContext inboundServer,
    Function<SSLSession, Optional<String>> peerIdentity,
    Supplier<Optional<String>> ownIdentity) {

  public TlsContexts {
    requireNonNull(upstreamClient, "upstreamClient");
    requireNonNull(inboundServer, "inboundServer");
    requireNonNull(peerIdentity, "peerIdentity");
    requireNonNull(ownIdentity, "ownIdentity");
  }
}
