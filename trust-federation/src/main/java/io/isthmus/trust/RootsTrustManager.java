package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Supplier;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The JDK's PKIX trust manager (so host-name checks configured on the engine still apply) over
 * roots read per handshake: a CA client keeps verifying the CA across a root rotation without
 * being rebuilt. The JDK manager is rebuilt only when the roots change. Thread-safe.
 */
final class RootsTrustManager extends X509ExtendedTrustManager {

    private record Built(List<X509Certificate> roots, X509ExtendedTrustManager delegate) {}

    private final Supplier<List<X509Certificate>> roots;
    private volatile Built built;

    RootsTrustManager(Supplier<List<X509Certificate>> roots) {
        this.roots = requireNonNull(roots, "roots");
    }

    private X509ExtendedTrustManager delegate() throws CertificateException {
        List<X509Certificate> current = roots.get();
        if (current == null || current.isEmpty()) {
            throw new CertificateException("no trust roots loaded (expected: the mesh root)");
        }
        Built b = built;
        if (b != null && b.roots().equals(current)) {
            return b.delegate();
        }
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < current.size(); i++) {
                store.setCertificateEntry("root-" + i, current.get(i));
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            for (TrustManager tm : factory.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x) {
                    built = new Built(List.copyOf(current), x);
                    return x;
                }
            }
            throw new CertificateException("the JDK offers no X509ExtendedTrustManager");
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new CertificateException("cannot build a trust manager for " + current.size() + " roots: " + e.getMessage(), e);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate().checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate().checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate().checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate().checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate().checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate().checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        List<X509Certificate> current = roots.get();
        return current == null ? new X509Certificate[0] : current.toArray(X509Certificate[]::new);
    }
}
