package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.net.InetAddress;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * How a {@link CertificateRotator} reaches the CA and what it asks for.
 *
 * @param caAddress {@code host:port} of the CA (the controller's 15012)
 * @param caTrustRoots roots that verify the CA's serving certificate
 * @param caAuthority the DNS name the CA's certificate must carry, e.g. {@code istiod.istio-system.svc}
 * @param tokenFile service-account token, re-read on every request (kubelet rotates it)
 * @param expectedIdentity the identity the issued leaf must carry
 * @param ttl requested certificate lifetime; renewal starts at half of it
 * @param clock the time source for expiry and renewal decisions
 * @param initialBackoff first retry delay after a failure, doubled up to {@code maxBackoff}
 * @param maxBackoff longest retry delay
 * @param requestTimeout deadline of one CreateCertificate call
 * @param localAddress the address outgoing connections bind to (the pod's IP), or empty for any
 * @param trustRootsSource read per CA handshake and per response check, so a root rotation pushed to
 *     the workload (SDS {@code ROOTCA}) applies without a restart; {@code caTrustRoots} serve while
 *     it returns an empty list
 */
public record CertificateRotatorOptions(String caAddress, List<X509Certificate> caTrustRoots, String caAuthority,
        Path tokenFile, SpiffeId expectedIdentity, Duration ttl, Clock clock, Duration initialBackoff,
        Duration maxBackoff, Duration requestTimeout, Optional<InetAddress> localAddress,
        Supplier<List<X509Certificate>> trustRootsSource, String clusterId) {

    public static final String DEFAULT_CA_AUTHORITY = "istiod.istio-system.svc";

    public CertificateRotatorOptions {
        requireNonNull(caAddress, "caAddress");
        requireNonNull(caTrustRoots, "caTrustRoots");
        requireNonNull(caAuthority, "caAuthority");
        requireNonNull(tokenFile, "tokenFile");
        requireNonNull(expectedIdentity, "expectedIdentity");
        requireNonNull(ttl, "ttl");
        requireNonNull(clock, "clock");
        requireNonNull(initialBackoff, "initialBackoff");
        requireNonNull(maxBackoff, "maxBackoff");
        requireNonNull(requestTimeout, "requestTimeout");
        requireNonNull(localAddress, "localAddress");
        requireNonNull(trustRootsSource, "trustRootsSource");
        requireNonNull(clusterId, "clusterId");
        caTrustRoots = List.copyOf(caTrustRoots);
        if (caTrustRoots.isEmpty()) {
            throw new IllegalArgumentException("caTrustRoots is empty (expected: the mesh root, e.g. from root-cert.pem)");
        }
        int colon = caAddress.lastIndexOf(':');
        if (colon <= 0 || colon == caAddress.length() - 1) {
            throw new IllegalArgumentException("caAddress: " + caAddress + " (expected: host:port, e.g. 127.101.0.1:15012)");
        }
        try {
            int port = Integer.parseInt(caAddress.substring(colon + 1));
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("caAddress: " + caAddress + " has an invalid port (expected: 1-65535)");
        }
        if (ttl.compareTo(CertificateAuthority.MIN_TTL) < 0) {
            throw new IllegalArgumentException("ttl: " + ttl + " (expected: >= " + CertificateAuthority.MIN_TTL + ")");
        }
        positive(initialBackoff, "initialBackoff");
        positive(maxBackoff, "maxBackoff");
        positive(requestTimeout, "requestTimeout");
        if (maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalArgumentException("maxBackoff: " + maxBackoff + " (expected: >= initialBackoff " + initialBackoff + ")");
        }
    }

    /** Sends no {@code ClusterID}: the CA checks the token with its own cluster's issuer. */
    public CertificateRotatorOptions(String caAddress, List<X509Certificate> caTrustRoots, String caAuthority,
            Path tokenFile, SpiffeId expectedIdentity, Duration ttl, Clock clock, Duration initialBackoff,
            Duration maxBackoff, Duration requestTimeout, Optional<InetAddress> localAddress,
            Supplier<List<X509Certificate>> trustRootsSource) {
        this(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock, initialBackoff, maxBackoff,
                requestTimeout, localAddress, trustRootsSource, "");
    }

    /** Without a local address: outgoing connections bind to any address. */
    public CertificateRotatorOptions(String caAddress, List<X509Certificate> caTrustRoots, String caAuthority,
            Path tokenFile, SpiffeId expectedIdentity, Duration ttl, Clock clock, Duration initialBackoff,
            Duration maxBackoff, Duration requestTimeout) {
        this(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock, initialBackoff, maxBackoff,
                requestTimeout, Optional.empty(), List::of);
    }

    /** Options with the system clock, backoff 200 ms to 30 s, and a 10 s request timeout. */
    public static CertificateRotatorOptions of(String caAddress, List<X509Certificate> caTrustRoots, String caAuthority,
            Path tokenFile, SpiffeId expectedIdentity, Duration ttl) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl,
                Clock.systemUTC(), Duration.ofMillis(200), Duration.ofSeconds(30), Duration.ofSeconds(10));
    }

    public CertificateRotatorOptions withBackoff(Duration initial, Duration max) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock,
                initial, max, requestTimeout, localAddress, trustRootsSource, clusterId);
    }

    public CertificateRotatorOptions withClock(Clock newClock) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, newClock,
                initialBackoff, maxBackoff, requestTimeout, localAddress, trustRootsSource, clusterId);
    }

    /** Binds outgoing connections to {@code address}, so the CA sees the workload's own IP. */
    public CertificateRotatorOptions withLocalAddress(InetAddress address) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock,
                initialBackoff, maxBackoff, requestTimeout, Optional.of(address), trustRootsSource, clusterId);
    }

    /** Reads the roots that verify the CA and issued chains from {@code source} (e.g. the proxy's live trust bundle). */
    public CertificateRotatorOptions withTrustRoots(Supplier<List<X509Certificate>> source) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock,
                initialBackoff, maxBackoff, requestTimeout, localAddress, requireNonNull(source, "source"), clusterId);
    }

    /**
     * Sends {@code ClusterID: <clusterId>} with every request, as Istio's agents do: a CA serving
     * remote clusters (primary-remote) checks the caller's token with that cluster's issuer.
     */
    public CertificateRotatorOptions withClusterId(String id) {
        return new CertificateRotatorOptions(caAddress, caTrustRoots, caAuthority, tokenFile, expectedIdentity, ttl, clock,
                initialBackoff, maxBackoff, requestTimeout, localAddress, trustRootsSource, requireNonNull(id, "id"));
    }

    /** The roots to use now: the source's, or {@code caTrustRoots} while it has none. */
    List<X509Certificate> currentTrustRoots() {
        List<X509Certificate> live = trustRootsSource.get();
        return live == null || live.isEmpty() ? caTrustRoots : live;
    }

    String host() {
        String host = caAddress.substring(0, caAddress.lastIndexOf(':'));
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    int port() {
        return Integer.parseInt(caAddress.substring(caAddress.lastIndexOf(':') + 1));
    }

    private static void positive(Duration d, String name) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
        }
    }
}
