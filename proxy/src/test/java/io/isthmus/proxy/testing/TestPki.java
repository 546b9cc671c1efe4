package io.isthmus.proxy.testing;

import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.time.Duration;
import java.util.List;

/** A mesh root with one intermediate per cluster, issuing workload leaves, for tests. */
public final class TestPki {

  public final CertificateAuthority root = CertificateAuthority.createRoot("isthmus-test",
      Duration.ofDays(2));

  public CertificateAuthority intermediate(String cluster) {
    return root.createIntermediate(cluster, Duration.ofDays(1));
  }

  public WorkloadCertificate leaf(CertificateAuthority intermediate, String ns, String sa) {
    return intermediate.issue(SpiffeId.of("cluster.local", ns, sa), List.of(),
        Duration.ofHours(1));
  }

  public String rootPem() {
    return Pem.encodeCertificate(root.certificate());
  }
}
