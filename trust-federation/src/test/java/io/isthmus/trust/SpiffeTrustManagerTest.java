package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

class SpiffeTrustManagerTest {

    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority EAST = ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final CertificateAuthority OTHER_ROOT = CertificateAuthority.createRoot("Other", Duration.ofDays(30));
    private static final CertificateAuthority OTHER = OTHER_ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final SpiffeId CURL = SpiffeId.of("cluster.local", "sample", "curl");

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicReference<TrustBundle> bundle = new AtomicReference<>(TrustBundle.of("cluster.local", List.of(ROOT.certificate())));
    private final SpiffeTrustManager tm = new SpiffeTrustManager(bundle::get, registry);

    @Test
    void acceptsMeshLeafInBothRolesAndReturnsItsIdentity() throws Exception {
        WorkloadCertificate leaf = EAST.issue(CURL, List.of(), Duration.ofHours(1));
        X509Chain chain = new X509Chain(leaf);
        assertThat(tm.verify(chain.withRoot(), true)).isEqualTo(CURL);
        assertThat(tm.verify(chain.withoutRoot(), false)).isEqualTo(CURL);
        tm.checkClientTrusted(chain.withoutRoot(), "EC");
        tm.checkServerTrusted(chain.withoutRoot(), "EC");
    }

    @Test
    void rejectsAdversarialPeersWithReasonAndCountsThem() throws Exception {
        expectRejected(TestCerts.leafWithUris(EAST, List.of(CURL.uri(), "spiffe://cluster.local/ns/istio-system/sa/istiod")).array(),
                "multiple_uri_sans");
        expectRejected(TestCerts.leafWithUris(EAST, List.of()).array(), "no_spiffe_id");
        expectRejected(TestCerts.leafWithUris(EAST, List.of("spiffe://cluster.local/ns/sample/sa/cu\u0000rl")).array(),
                "invalid_spiffe_id", "malformed_san", "no_spiffe_id");
        expectRejected(TestCerts.leafWithUris(EAST, List.of("https://cluster.local/ns/sample/sa/curl")).array(), "invalid_spiffe_id");
        expectRejected(new X509Chain(EAST.issue(SpiffeId.of("evil.example", "sample", "curl"), List.of(), Duration.ofHours(1))).withRoot(),
                "foreign_trust_domain");
        expectRejected(new X509Chain(OTHER.issue(CURL, List.of(), Duration.ofHours(1))).withRoot(), "untrusted_chain");
        // A leaf that omits its intermediate cannot be chained to the root.
        expectRejected(new java.security.cert.X509Certificate[] {EAST.issue(CURL, List.of(), Duration.ofHours(1)).leaf()},
                "untrusted_chain");
        expectRejected(new java.security.cert.X509Certificate[0], "empty_chain");
        // A peer that presents the root itself is not a workload.
        expectRejected(new java.security.cert.X509Certificate[] {ROOT.certificate()}, "no_spiffe_id");

        assertThat(registry.get(SpiffeTrustManager.FAILURES_METRIC).tag("reason", "untrusted_chain").counter().count())
                .isEqualTo(2.0);
    }

    @Test
    void bundleUpdatesTakeEffectWithoutRebuilding() throws Exception {
        X509Chain other = new X509Chain(OTHER.issue(CURL, List.of(), Duration.ofHours(1)));
        expectRejected(other.withoutRoot(), "untrusted_chain");
        bundle.set(bundle.get().withRoots(List.of(OTHER_ROOT.certificate())));
        assertThat(tm.verify(other.withoutRoot(), true)).isEqualTo(CURL);

        X509Chain foreign = new X509Chain(EAST.issue(SpiffeId.of("legacy.local", "a", "b"), List.of(), Duration.ofHours(1)));
        expectRejected(foreign.withoutRoot(), "foreign_trust_domain");
        bundle.set(new TrustBundle("cluster.local", Set.of("legacy.local"), List.of(ROOT.certificate())));
        assertThat(tm.verify(foreign.withoutRoot(), false).trustDomain()).isEqualTo("legacy.local");
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "cluster.local,        accepted",
            "old.example.com,      accepted",
            "legacy.local,         accepted",
            "stranger.example.com, foreign_trust_domain",
            "example.com,          foreign_trust_domain",
            "old.example.com.evil, foreign_trust_domain",
            "cluster.local2,       foreign_trust_domain",
    })
    void trustDomainAliasesAdmitExactlyTheConfiguredDomains(String peerDomain, String outcome) throws Exception {
        bundle.set(new TrustBundle("cluster.local", TrustBundle.parseAliases("old.example.com, legacy.local"), List.of(ROOT.certificate())));
        SpiffeId peer = SpiffeId.of(peerDomain, "sample", "curl");
        X509Chain chain = new X509Chain(EAST.issue(peer, List.of(), Duration.ofHours(1)));
        if (outcome.equals("accepted")) {
            assertThat(tm.verify(chain.withoutRoot(), false)).isEqualTo(peer);
        } else {
            expectRejected(chain.withoutRoot(), outcome);
            assertThatThrownBy(() -> tm.verify(chain.withoutRoot(), false))
                    .hasMessageContaining(peerDomain).hasMessageContaining("old.example.com").hasMessageContaining("legacy.local");
            assertThat(registry.get(SpiffeTrustManager.FAILURES_METRIC).tag("reason", outcome).counter().count()).isEqualTo(2.0);
        }
    }

    @Test
    void aliasFlagValuesParseOrNameTheBadEntry() {
        assertThat(TrustBundle.parseAliases("")).isEmpty();
        assertThat(TrustBundle.parseAliases(" a.example , ,b.local,")).containsExactly("a.example", "b.local");
        assertThatThrownBy(() -> TrustBundle.parseAliases("good.example,Bad_Domain"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--trust-domain-aliases: 'Bad_Domain'");
        assertThatThrownBy(() -> TrustBundle.parseAliases("spiffe://x.example"))
                .hasMessageContaining("'spiffe://x.example'");
    }

    @Test
    void anExpiredOrNotYetValidLeafIsRefused() throws Exception {
        X509Chain leaf = new X509Chain(EAST.issue(CURL, List.of(), Duration.ofHours(1)));
        java.time.Instant now = java.time.Instant.now();
        for (java.time.Instant at : List.of(now.plus(Duration.ofHours(2)), now.minus(Duration.ofMinutes(10)))) {
            SpiffeTrustManager later = new SpiffeTrustManager(bundle::get, registry,
                    java.time.Clock.fixed(at, java.time.ZoneOffset.UTC));
            assertThatThrownBy(() -> later.verify(leaf.withoutRoot(), true))
                    .as("at %s", at).hasMessageStartingWith("peer rejected (untrusted_chain)");
        }
        // Within its lifetime (NotBefore is backdated 5 minutes for clock skew) it is accepted.
        assertThat(new SpiffeTrustManager(bundle::get, registry, java.time.Clock.fixed(now.minus(Duration.ofMinutes(4)),
                java.time.ZoneOffset.UTC)).verify(leaf.withoutRoot(), true)).isEqualTo(CURL);
    }

    @Test
    void aPeerCheckRunsAfterTheMeshChecksAndItsRefusalsAreCounted() throws Exception {
        SpiffeId istiod = SpiffeId.of("cluster.local", "istio-system", "istiod");
        java.util.List<SpiffeId> seen = new java.util.ArrayList<>();
        SpiffeTrustManager controllersOnly = tm.withPeerCheck((peer, asServer) -> {
            seen.add(peer);
            if (!peer.equals(istiod)) {
                throw new CertificateException(peer + " is not a controller");
            }
        });
        assertThat(controllersOnly.verify(new X509Chain(EAST.issue(istiod, List.of(), Duration.ofHours(1))).withoutRoot(), true))
                .isEqualTo(istiod);
        assertThatThrownBy(() -> controllersOnly.verify(new X509Chain(EAST.issue(CURL, List.of(), Duration.ofHours(1))).withoutRoot(),
                false)).hasMessageStartingWith("peer rejected (peer_not_allowed): " + CURL + " is not a controller");
        // A chain the mesh refuses never reaches the check.
        assertThatThrownBy(() -> controllersOnly.verify(new X509Chain(OTHER.issue(istiod, List.of(), Duration.ofHours(1))).withoutRoot(),
                false)).hasMessageStartingWith("peer rejected (untrusted_chain)");
        assertThat(seen).containsExactly(istiod, CURL);
        assertThat(registry.get(SpiffeTrustManager.FAILURES_METRIC).tag("reason", "peer_not_allowed").counter().count()).isEqualTo(1.0);
    }

    private void expectRejected(java.security.cert.X509Certificate[] chain, String... reasons) {
        assertThatThrownBy(() -> tm.verify(chain, true))
                .isInstanceOf(CertificateException.class)
                .satisfies(e -> assertThat(reasons).anySatisfy(r -> assertThat(e.getMessage()).startsWith("peer rejected (" + r + ")")));
    }

    record X509Chain(WorkloadCertificate cert) {
        java.security.cert.X509Certificate[] withRoot() {
            return cert.chain().toArray(java.security.cert.X509Certificate[]::new);
        }

        java.security.cert.X509Certificate[] withoutRoot() {
            return cert.chain().subList(0, cert.chain().size() - 1).toArray(java.security.cert.X509Certificate[]::new);
        }
    }
}
