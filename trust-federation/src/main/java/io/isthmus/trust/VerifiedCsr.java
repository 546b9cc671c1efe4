package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.bouncycastle.asn1.ASN1String;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.params.RSAKeyParameters;
import org.bouncycastle.crypto.util.PublicKeyFactory;
import org.bouncycastle.operator.ContentVerifierProvider;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.bc.BcECContentVerifierProviderBuilder;
import org.bouncycastle.operator.bc.BcRSAContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;

/**
 * A PKCS#10 CSR that passed every check a CA makes before signing, for one caller identity: size,
 * PEM and DER syntax, key type and size (ECDSA P-256 or P-384, RSA 2048–8192), the self-signature
 * (proof that the caller holds the private key), and the requested names (none, or exactly the
 * caller's own SPIFFE ID, no control characters). Only {@link #parse} creates one, so a
 * {@link CertificateAuthority#sign(VerifiedCsr, java.time.Duration)} can never sign an unchecked key.
 *
 * <p>Immutable and thread-safe.
 */
public final class VerifiedCsr {

    private static final DefaultDigestAlgorithmIdentifierFinder DIGESTS = new DefaultDigestAlgorithmIdentifierFinder();

    private final SubjectPublicKeyInfo publicKey;
    private final SpiffeId identity;

    private VerifiedCsr(SubjectPublicKeyInfo publicKey, SpiffeId identity) {
        this.publicKey = publicKey;
        this.identity = identity;
    }

    /**
     * Checks a PEM CSR sent by a caller whose token proves {@code identity}.
     *
     * @throws CsrRejectedException with the reason ({@code oversized}, {@code malformed},
     *     {@code unsupported_key}, {@code bad_signature}, {@code invalid_san},
     *     {@code multiple_uri_sans}, {@code identity_mismatch}) and a precise message
     */
    public static VerifiedCsr parse(String csrPem, SpiffeId identity) {
        requireNonNull(csrPem, "csrPem");
        requireNonNull(identity, "identity");
        if (csrPem.length() > CertificateAuthority.MAX_CSR_BYTES) {
            throw new CsrRejectedException("oversized", "CSR size: " + csrPem.length() + " bytes (expected: <= "
                    + CertificateAuthority.MAX_CSR_BYTES + ")");
        }
        byte[] der;
        try {
            der = Pem.decodeCsr(csrPem);
        } catch (IllegalArgumentException e) {
            throw new CsrRejectedException("malformed", "CSR is not a PEM CERTIFICATE REQUEST: " + e.getMessage(), e);
        }
        PKCS10CertificationRequest csr;
        SubjectPublicKeyInfo keyInfo;
        AsymmetricKeyParameter key;
        try {
            csr = new PKCS10CertificationRequest(der);
            keyInfo = csr.getSubjectPublicKeyInfo();
            // Decoding also checks that an EC point lies on its curve.
            key = PublicKeyFactory.createKey(keyInfo);
        } catch (IOException | RuntimeException e) {
            throw new CsrRejectedException("malformed", "CSR is not a valid PKCS#10 request: " + e.getMessage(), e);
        }
        checkKey(key, keyInfo);
        checkSignature(csr, key);
        checkRequestedNames(csr, identity);
        return new VerifiedCsr(keyInfo, identity);
    }

    /** The identity the caller proved, which the leaf will carry as its only URI SAN. */
    public SpiffeId identity() {
        return identity;
    }

    SubjectPublicKeyInfo publicKey() {
        return publicKey;
    }

    @Override
    public String toString() {
        return "VerifiedCsr[" + identity + ", " + publicKey.getAlgorithm().getAlgorithm() + "]";
    }

    private static void checkKey(AsymmetricKeyParameter key, SubjectPublicKeyInfo keyInfo) {
        if (key instanceof ECPublicKeyParameters ec) {
            int bits = ec.getParameters().getCurve().getFieldSize();
            if (bits != 256 && bits != 384) {
                throw new CsrRejectedException("unsupported_key", "CSR EC key size: " + bits + " bits (expected: P-256 or P-384)");
            }
        } else if (key instanceof RSAKeyParameters rsa) {
            int bits = rsa.getModulus().bitLength();
            if (bits < 2048 || bits > 8192) {
                throw new CsrRejectedException("unsupported_key", "CSR RSA key size: " + bits + " bits (expected: 2048 to 8192)");
            }
        } else {
            throw new CsrRejectedException("unsupported_key", "CSR key algorithm: " + keyInfo.getAlgorithm().getAlgorithm()
                    + " (expected: EC or RSA)");
        }
    }

    private static void checkSignature(PKCS10CertificationRequest csr, AsymmetricKeyParameter key) {
        try {
            ContentVerifierProvider verifier = key instanceof ECPublicKeyParameters
                    ? new BcECContentVerifierProviderBuilder(DIGESTS).build(key)
                    : new BcRSAContentVerifierProviderBuilder(DIGESTS).build(key);
            if (!csr.isSignatureValid(verifier)) {
                throw new CsrRejectedException("bad_signature", "CSR signature does not verify with the CSR's own public key");
            }
        } catch (OperatorCreationException | PKCSException | RuntimeException e) {
            if (e instanceof CsrRejectedException cre) {
                throw cre;
            }
            throw new CsrRejectedException("bad_signature", "CSR signature cannot be verified: " + e.getMessage(), e);
        }
    }

    /**
     * The leaf's identity comes from the caller's token, never from the CSR; but a CSR that asks
     * for something else is refused rather than silently rewritten, so a confused or malicious
     * caller learns at once (as Istio's CA does). A CSR without SANs is fine.
     */
    private static void checkRequestedNames(PKCS10CertificationRequest csr, SpiffeId identity) {
        GeneralNames names;
        try {
            Extensions requested = csr.getRequestedExtensions();
            names = requested == null ? null : GeneralNames.fromExtensions(requested, Extension.subjectAlternativeName);
        } catch (RuntimeException e) {
            throw new CsrRejectedException("malformed", "CSR subjectAltName extension is malformed: " + e.getMessage(), e);
        }
        if (names == null) {
            return;
        }
        List<String> uris = new ArrayList<>();
        for (GeneralName name : names.getNames()) {
            if (name.getTagNo() != GeneralName.uniformResourceIdentifier && name.getTagNo() != GeneralName.dNSName) {
                continue;
            }
            String value = name.getName() instanceof ASN1String s ? s.getString() : String.valueOf(name.getName());
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if (c < 0x21 || c == 0x7f) {
                    throw new CsrRejectedException("invalid_san", "CSR " + (name.getTagNo() == GeneralName.dNSName ? "DNS" : "URI")
                            + " SAN " + SpiffeId.printable(value) + " has control character 0x" + Integer.toHexString(c)
                            + " at index " + i + " (expected: printable characters only)");
                }
            }
            if (name.getTagNo() == GeneralName.uniformResourceIdentifier) {
                uris.add(value);
            }
        }
        if (uris.size() > 1) {
            throw new CsrRejectedException("multiple_uri_sans", "CSR asks for " + uris.size() + " URI SANs " + uris
                    + " (expected: at most 1, the caller's own identity " + identity.uri() + ")");
        }
        if (uris.size() == 1 && !uris.get(0).equals(identity.uri())) {
            throw new CsrRejectedException("identity_mismatch", "CSR asks for " + uris.get(0) + " but the caller's token proves "
                    + identity.uri() + " (expected: a CSR for the caller's own identity, or without SANs)");
        }
    }
}
