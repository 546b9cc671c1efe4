package io.isthmus.controller.federation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.controller.ca.MeshTrustBundle;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.Test;

/** The federation's trust manager: the mesh's verification, the live bundle, and controllers only. */
class PeerTlsTest {

    private static final SpiffeId CONTROLLER = SpiffeId.of("cluster.local", "istio-system", "istiod");
    private static final CertificateAuthority OLD_ROOT = CertificateAuthority.createRoot("old", Duration.ofDays(2));
    private static final CertificateAuthority NEW_ROOT = CertificateAuthority.createRoot("new", Duration.ofDays(2));

    @Test
    void followsTheMeshTrustBundleThroughARootRotationAndAdmitsOnlyControllers() throws Exception {
        MeshTrustBundle bundle = new MeshTrustBundle("cluster.local", Pem.encodeCertificate(OLD_ROOT.certificate()));
        WorkloadCertificate own = OLD_ROOT.createIntermediate("east", Duration.ofDays(1)).issue(CONTROLLER, List.of(),
                Duration.ofHours(1));
        X509ExtendedTrustManager trust = PeerTls.of(() -> own, bundle, Set.of(CONTROLLER)).trustManager();
        X509Certificate[] underOld = chain(OLD_ROOT, CONTROLLER);
        X509Certificate[] underNew = chain(NEW_ROOT, CONTROLLER);

        trust.checkClientTrusted(underOld, "EC");
        assertThatThrownBy(() -> trust.checkServerTrusted(underNew, "EC"))
                .isInstanceOf(CertificateException.class).hasMessageContaining("untrusted_chain");

        // add: the federation publishes the new root; remove: only the new root is left.
        bundle.update(List.of(Pem.encodeCertificate(NEW_ROOT.certificate())));
        trust.checkServerTrusted(underNew, "EC");
        bundle.updateOwnRoots(List.of(Pem.encodeCertificate(NEW_ROOT.certificate())));
        assertThatThrownBy(() -> trust.checkClientTrusted(underOld, "EC")).hasMessageContaining("untrusted_chain");

        X509Certificate[] sidecar = chain(NEW_ROOT, SpiffeId.of("cluster.local", "sample", "curl"));
        assertThatThrownBy(() -> trust.checkClientTrusted(sidecar, "EC"))
                .hasMessageContaining("peer_not_allowed").hasMessageContaining("is not a controller");
    }

    private static X509Certificate[] chain(CertificateAuthority root, SpiffeId identity) {
        List<X509Certificate> chain = root.createIntermediate("west", Duration.ofDays(1))
                .issue(identity, List.of(), Duration.ofHours(1)).chain();
        return chain.subList(0, chain.size() - 1).toArray(X509Certificate[]::new);
    }
}
