package io.isthmus.proxy.identity;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.xds.XdsClient;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.Pem;
import io.isthmus.trust.TrustBundle;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The roots the proxy trusts: the mesh root it was started with ({@code --root-cert}) until the
 * controller's first SDS {@code ROOTCA} secret arrives, then exactly the roots of the latest
 * {@code ROOTCA}. So a root added to the federation's bundle is trusted at once, and a root
 * removed from it stops being trusted (the last phase of a root rotation) without a restart.
 * Thread-safe; read per handshake.
 */
public final class MeshTrust implements Supplier<TrustBundle> {

  private static final Logger log = LoggerFactory.getLogger(MeshTrust.class);
  private final TrustBundle initial;
  private final AtomicReference<TrustBundle> current;

  public MeshTrust(TrustBundle initial) {
    this.initial = requireNonNull(initial, "initial");
    this.current = new AtomicReference<>(initial);
  }

  @Override
  public TrustBundle get() {
    return current.get();
  }

  /** Replaces the roots with the snapshot's {@code ROOTCA} roots; an empty or bad secret is ignored. */
  public void update(XdsSnapshot snapshot) {
    var secret = snapshot.secrets().get(XdsClient.ROOT_CA_SECRET);
    if (secret == null) {
      return;
    }
    List<X509Certificate> roots;
    try {
      roots = Pem.decodeCertificates(XdsResources.trustedCaPem(secret));
    } catch (RuntimeException e) {
      log.warn("ignoring ROOTCA: {}", e.getMessage());
      return;
    }
    if (roots.isEmpty()) {
      log.warn("ignoring ROOTCA without certificates; keeping {} root(s)", current.get().roots().size());
      return;
    }
    TrustBundle next = new TrustBundle(initial.trustDomain(), initial.trustDomainAliases(), roots);
    if (!next.equals(current.getAndSet(next))) {
      log.info("trust bundle now has {} root(s)", next.roots().size());
    }
  }
}
