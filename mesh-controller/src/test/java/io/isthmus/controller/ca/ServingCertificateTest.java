package io.isthmus.controller.ca;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServingCertificateTest {

    /** A clock the test moves by hand. */
    static final class ManualClock extends Clock {
        private Instant now = Instant.parse("2026-11-27T00:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @Test
    void isIstiodsIdentityAndIsRenewedAfterHalfItsLifetime() throws Exception {
        ManualClock clock = new ManualClock();
        CertificateAuthority root = CertificateAuthority.createRoot("test", Duration.ofDays(10), clock);
        CertificateAuthority ca = root.createIntermediate("east", Duration.ofDays(5));
        ServingCertificate serving = new ServingCertificate(ca, "cluster.local", Duration.ofHours(2), clock);

        WorkloadCertificate first = serving.get();
        assertThat(MeshTls.identityOf(first.leaf())).contains(SpiffeId.of("cluster.local", "istio-system", "istiod"));
        assertThat(first.leaf().getSubjectAlternativeNames())
                .anyMatch(san -> List.of(2, "istiod.istio-system.svc").equals(san));

        clock.advance(Duration.ofMinutes(30));
        assertThat(serving.get()).isSameAs(first);

        // NotBefore is backdated 5 min: half of the 2 h 5 min lifetime is past after ~63 min.
        clock.advance(Duration.ofMinutes(40));
        WorkloadCertificate second = serving.get();
        assertThat(second).isNotSameAs(first);
        assertThat(second.notAfter()).isAfter(first.notAfter());
    }

    @Test
    void trustBundleAddsFederatedRootsAndKeepsTheLastGoodOnGarbage() {
        CertificateAuthority ownRoot = CertificateAuthority.createRoot("own", Duration.ofDays(10));
        CertificateAuthority otherRoot = CertificateAuthority.createRoot("other", Duration.ofDays(10));
        String ownPem = Pem.encodeCertificate(ownRoot.root());
        MeshTrustBundle bundle = new MeshTrustBundle("cluster.local", ownPem);
        assertThat(bundle.get().roots()).extracting(X509Certificate::getSubjectX500Principal)
                .containsExactly(ownRoot.root().getSubjectX500Principal());

        bundle.update(List.of(ownPem, Pem.encodeCertificate(otherRoot.root())));
        assertThat(bundle.get().roots()).hasSize(2);

        bundle.update(List.of("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"));
        assertThat(bundle.get().roots()).hasSize(2);
    }
}
