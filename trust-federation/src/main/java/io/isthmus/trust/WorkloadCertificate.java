package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;

/**
 * A workload's private key and its certificate chain, leaf first and root last. Immutable;
 * the identity is the leaf's single SPIFFE URI SAN, checked at construction.
 */
public record WorkloadCertificate(PrivateKey privateKey, List<X509Certificate> chain) {

    public WorkloadCertificate {
        requireNonNull(privateKey, "privateKey");
        requireNonNull(chain, "chain");
        chain = List.copyOf(chain);
        if (chain.isEmpty()) {
            throw new IllegalArgumentException("chain is empty (expected: leaf first, root last)");
        }
        // Fails fast on a leaf that does not carry exactly one SPIFFE ID.
        Certificates.spiffeId(chain.get(0));
    }

    public X509Certificate leaf() {
        return chain.get(0);
    }

    /** The leaf's SPIFFE identity. */
    public SpiffeId identity() {
        return Certificates.spiffeId(chain.get(0));
    }

    public Instant notBefore() {
        return chain.get(0).getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return chain.get(0).getNotAfter().toInstant();
    }

    /** The chain as PEM, leaf first. */
    public String chainPem() {
        return Pem.encodeCertificates(chain);
    }

    @Override
    public String toString() {
        return "WorkloadCertificate[" + identity() + ", serial " + leaf().getSerialNumber().toString(16)
                + ", notAfter " + notAfter() + "]";
    }
}
