package io.isthmus.trust;

import java.security.GeneralSecurityException;
import java.security.InvalidAlgorithmParameterException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** X.509 helpers shared inside this package: SAN extraction and PKIX validation. */
final class Certificates {

    private static final int SAN_URI = 6;

    private Certificates() {
    }

    /**
     * The URI SANs of {@code certificate}.
     *
     * @throws IllegalArgumentException if the SAN extension cannot be parsed
     */
    static List<String> uriSans(X509Certificate certificate) {
        Collection<List<?>> sans;
        try {
            sans = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new IllegalArgumentException("certificate SAN extension is malformed: " + e.getMessage(), e);
        }
        if (sans == null) {
            return List.of();
        }
        List<String> uris = new ArrayList<>();
        for (List<?> san : sans) {
            if (san.size() >= 2 && san.get(0) instanceof Integer type && type == SAN_URI) {
                uris.add(String.valueOf(san.get(1)));
            }
        }
        return uris;
    }

    /**
     * The single SPIFFE ID of a leaf.
     *
     * @throws IllegalArgumentException if there is not exactly one URI SAN or it is not a valid SPIFFE ID
     */
    static SpiffeId spiffeId(X509Certificate leaf) {
        List<String> uris = uriSans(leaf);
        if (uris.size() != 1) {
            throw new IllegalArgumentException("certificate " + leaf.getSubjectX500Principal() + " serial "
                    + leaf.getSerialNumber().toString(16) + " has " + uris.size() + " URI SANs (expected: exactly 1 SPIFFE ID)");
        }
        return SpiffeId.parse(uris.get(0));
    }

    static boolean isSelfSigned(X509Certificate c) {
        if (!c.getSubjectX500Principal().equals(c.getIssuerX500Principal())) {
            return false;
        }
        try {
            c.verify(c.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /**
     * Validates {@code chain} (leaf first; any certificate equal to an anchor is dropped) against
     * {@code roots} with the JDK's PKIX validator at time {@code at}, without revocation checks.
     */
    static void verifyChain(List<X509Certificate> chain, Collection<X509Certificate> roots, Instant at)
            throws CertificateException {
        if (chain.isEmpty()) {
            throw new CertificateException("empty certificate chain");
        }
        if (roots.isEmpty()) {
            throw new CertificateException("no trust roots");
        }
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate root : roots) {
            anchors.add(new TrustAnchor(root, null));
        }
        List<X509Certificate> path = new ArrayList<>();
        for (X509Certificate c : chain) {
            if (!roots.contains(c)) {
                path.add(c);
            }
        }
        if (path.isEmpty()) {
            throw new CertificateException("the peer presented only a trust root, not a leaf");
        }
        try {
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            params.setDate(Date.from(at));
            CertPathValidator.getInstance("PKIX")
                    .validate(CertificateFactory.getInstance("X.509").generateCertPath(path), params);
        } catch (CertPathValidatorException e) {
            throw new CertificateException("chain does not verify against the trust roots: " + e.getMessage(), e);
        } catch (InvalidAlgorithmParameterException e) {
            throw new CertificateException("invalid trust roots: " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new CertificateException("PKIX validation failed: " + e.getMessage(), e);
        }
    }

    /** True if {@code privateKey} is the private half of {@code publicKey}, by signing a probe. */
    static boolean keysMatch(PrivateKey privateKey, PublicKey publicKey) {
        if (!privateKey.getAlgorithm().equals(publicKey.getAlgorithm())) {
            return false;
        }
        try {
            String algorithm = signatureAlgorithm(privateKey);
            byte[] probe = "isthmus key match probe".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(privateKey);
            signer.update(probe);
            byte[] sig = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            return verifier.verify(sig);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false;
        }
    }

    static String signatureAlgorithm(PrivateKey key) {
        return switch (key.getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> throw new IllegalArgumentException("key algorithm: " + key.getAlgorithm() + " (expected: EC or RSA)");
        };
    }
}
