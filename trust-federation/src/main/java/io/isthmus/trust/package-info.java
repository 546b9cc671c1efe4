/**
 * Mesh identity and trust: SPIFFE identities, the certificate authority (root and per-cluster
 * intermediates in Istio's {@code cacerts} format), Istio's CSR API and the client that rotates
 * workload certificates with it, service-account tokens, and TLS contexts that verify peers by
 * SPIFFE ID against a rotating {@link io.isthmus.trust.TrustBundle}.
 *
 * <p>Everything here is immutable or thread-safe as its Javadoc says; suppliers passed to the
 * TLS managers are read on every handshake, so rotation never needs a restart.
 */
package io.isthmus.trust;
