package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Presents the newest workload certificate on each new handshake. The supplier is read once per
 * handshake when the TLS stack chooses an alias; the alias names that exact certificate, so a
 * rotation in the middle of a handshake cannot pair one certificate with another key. The chain
 * sent omits a trailing self-signed root (peers have it). If the supplier fails (no certificate
 * yet, or only an expired one), no certificate is offered and the handshake fails on the peer's
 * side. Thread-safe.
 */
public final class RotatingKeyManager extends X509ExtendedKeyManager {

    private static final Logger log = LoggerFactory.getLogger(RotatingKeyManager.class);
    private static final int REMEMBERED = 4;

    private final Supplier<WorkloadCertificate> certificates;
    private final Map<String, WorkloadCertificate> recent = new LinkedHashMap<>() {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, WorkloadCertificate> eldest) {
            return size() > REMEMBERED;
        }
    };

    public RotatingKeyManager(Supplier<WorkloadCertificate> certificates) {
        this.certificates = requireNonNull(certificates, "certificates");
    }

    private String choose(String keyType) {
        WorkloadCertificate current;
        try {
            current = certificates.get();
        } catch (RuntimeException e) {
            log.warn("No workload certificate to present: {}", e.getMessage());
            return null;
        }
        if (current == null || !matches(keyType, current.privateKey())) {
            return null;
        }
        String alias = "isthmus-" + current.leaf().getSerialNumber().toString(16);
        synchronized (recent) {
            recent.put(alias, current);
        }
        return alias;
    }

    private static boolean matches(String keyType, PrivateKey key) {
        if (keyType == null) {
            return false;
        }
        int underscore = keyType.indexOf('_');
        String wanted = underscore < 0 ? keyType : keyType.substring(0, underscore);
        String algorithm = key.getAlgorithm().equals("ECDSA") ? "EC" : key.getAlgorithm();
        return wanted.equals(algorithm);
    }

    private String chooseAny(String[] keyTypes) {
        if (keyTypes == null) {
            return null;
        }
        for (String keyType : keyTypes) {
            String alias = choose(keyType);
            if (alias != null) {
                return alias;
            }
        }
        return null;
    }

    private WorkloadCertificate lookup(String alias) {
        if (alias == null) {
            return null;
        }
        synchronized (recent) {
            return recent.get(alias);
        }
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        return chooseAny(keyType);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return choose(keyType);
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return chooseAny(keyType);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return choose(keyType);
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        String alias = choose(keyType);
        return alias == null ? null : new String[] {alias};
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return getClientAliases(keyType, issuers);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        WorkloadCertificate wc = lookup(alias);
        if (wc == null) {
            return null;
        }
        List<X509Certificate> chain = wc.chain();
        int end = chain.size();
        if (end > 1 && Certificates.isSelfSigned(chain.get(end - 1))) {
            end--;
        }
        return chain.subList(0, end).toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        WorkloadCertificate wc = lookup(alias);
        return wc == null ? null : wc.privateKey();
    }
}
