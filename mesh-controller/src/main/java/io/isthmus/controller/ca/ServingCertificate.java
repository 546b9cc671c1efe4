package io.isthmus.controller.ca;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Supplier;

/**
 * The controller's own serving certificate for port 15012 ({@code spiffe://<td>/ns/istio-system/sa/istiod},
 * DNS {@code istiod.istio-system.svc}), issued from its cluster intermediate and re-issued once
 * half its lifetime has passed or its CA is reloaded. Read per TLS handshake; thread-safe.
 */
public final class ServingCertificate implements Supplier<WorkloadCertificate> {

    public static final String DNS_NAME = "istiod.istio-system.svc";
    public static final Duration DEFAULT_TTL = Duration.ofHours(24);

    private final Supplier<CertificateAuthority> ca;
    private final SpiffeId identity;
    private final Duration ttl;
    private final Clock clock;
    private WorkloadCertificate current;
    private CertificateAuthority issuer;

    public ServingCertificate(CertificateAuthority ca, String trustDomain, Duration ttl, Clock clock) {
        this(constant(requireNonNull(ca, "ca")), trustDomain, ttl, clock);
    }

    /** Re-issued at once when the supplier returns another CA (a reloaded {@code cacerts}). */
    public ServingCertificate(Supplier<CertificateAuthority> ca, String trustDomain, Duration ttl, Clock clock) {
        this.ca = requireNonNull(ca, "ca");
        this.identity = SpiffeId.of(requireNonNull(trustDomain, "trustDomain"), "istio-system", "istiod");
        this.ttl = requireNonNull(ttl, "ttl");
        this.clock = requireNonNull(clock, "clock");
    }

    public SpiffeId identity() {
        return identity;
    }

    @Override
    public synchronized WorkloadCertificate get() {
        Instant now = clock.instant();
        CertificateAuthority authority = ca.get();
        if (current == null || authority != issuer || now.isAfter(renewAt(current))) {
            current = authority.issue(identity, List.of(DNS_NAME), ttl);
            issuer = authority;
        }
        return current;
    }

    private static <T> Supplier<T> constant(T value) {
        return () -> value;
    }

    private static Instant renewAt(WorkloadCertificate certificate) {
        Duration lifetime = Duration.between(certificate.notBefore(), certificate.notAfter());
        return certificate.notBefore().plus(lifetime.dividedBy(2));
    }
}
