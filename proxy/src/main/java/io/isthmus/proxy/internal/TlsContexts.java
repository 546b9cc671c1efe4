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
 * @param inboundServer requires and verifies a client certificate, ALPN {@code h2} and
 *     {@code http/1.1} (the inbound listener picks its pipeline by the negotiated protocol)
 * @param peerIdentity the verified SPIFFE URI of a handshake's peer
 * @param ownIdentity this workload's SPIFFE URI, empty until a certificate is issued
 * @param upstreamClientH2 as {@code upstreamClient}, ALPN {@code h2}: for pooled, multiplexed
 *     HTTP/2 connections between sidecars
 */
public record TlsContexts(
    SslContext upstreamClient,
    SslContext inboundServer,
    Function<SSLSession, Optional<String>> peerIdentity,
    Supplier<Optional<String>> ownIdentity,
    SslContext upstreamClientH2) {

  public TlsContexts {
    requireNonNull(upstreamClient, "upstreamClient");
    requireNonNull(inboundServer, "inboundServer");
    requireNonNull(peerIdentity, "peerIdentity");
    requireNonNull(ownIdentity, "ownIdentity");
    requireNonNull(upstreamClientH2, "upstreamClientH2");
  }

  /** Contexts without a separate HTTP/2 client (HTTP/1.1-only upstreams, tests). */
  public TlsContexts(SslContext upstreamClient, SslContext inboundServer,
      Function<SSLSession, Optional<String>> peerIdentity,
      Supplier<Optional<String>> ownIdentity) {
    this(upstreamClient, inboundServer, peerIdentity, ownIdentity, upstreamClient);
  }
}
