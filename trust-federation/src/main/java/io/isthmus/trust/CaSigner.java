package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.security.PrivateKey;
import java.security.SecureRandom;

import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.RSAKeyParameters;
import org.bouncycastle.crypto.util.PrivateKeyFactory;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.DefaultSignatureAlgorithmIdentifierFinder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.bc.BcECContentSignerBuilder;
import org.bouncycastle.operator.bc.BcRSAContentSignerBuilder;

/**
 * A CA's private key in BouncyCastle's lightweight form, converted once when the CA is loaded.
 *
 * <p>Why not the JCA: on Java 17 the default provider (SunEC) signs P-256 with a generic
 * multiplication, and handing a SunEC key to BouncyCastle's JCA provider converts it on every
 * {@code initSign}. The converted key here sits on BouncyCastle's custom {@code SecP256R1Curve},
 * whose fixed-point comb table for the generator is computed once per JVM and reused by every
 * signature: leaf signing runs several times faster (see docs/design/trust.md, Speed).
 *
 * <p>Thread-safe: {@link #contentSigner()} returns a new single-use signer per certificate.
 */
final class CaSigner {

    private static final DefaultSignatureAlgorithmIdentifierFinder SIGNATURE_ALGORITHMS = new DefaultSignatureAlgorithmIdentifierFinder();
    private static final DefaultDigestAlgorithmIdentifierFinder DIGEST_ALGORITHMS = new DefaultDigestAlgorithmIdentifierFinder();

    private final AsymmetricKeyParameter key;
    private final AlgorithmIdentifier signatureAlgorithm;
    private final AlgorithmIdentifier digestAlgorithm;
    private final boolean ec;
    private final SecureRandom random;

    private CaSigner(AsymmetricKeyParameter key, String signatureAlgorithm, boolean ec, SecureRandom random) {
        this.key = key;
        this.signatureAlgorithm = SIGNATURE_ALGORITHMS.find(signatureAlgorithm);
        this.digestAlgorithm = DIGEST_ALGORITHMS.find(this.signatureAlgorithm);
        this.ec = ec;
        this.random = random;
    }

    /**
     * Converts {@code privateKey} (EC or RSA, PKCS#8-encodable).
     *
     * @throws IllegalArgumentException if the key is of another algorithm or cannot be read
     */
    static CaSigner of(PrivateKey privateKey, SecureRandom random) {
        requireNonNull(privateKey, "privateKey");
        requireNonNull(random, "random");
        String algorithm = Certificates.signatureAlgorithm(privateKey);
        AsymmetricKeyParameter key;
        try {
            key = PrivateKeyFactory.createKey(privateKey.getEncoded());
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("CA private key (" + privateKey.getAlgorithm() + ", format "
                    + privateKey.getFormat() + ") cannot be read: " + e.getMessage(), e);
        }
        if (key instanceof ECPrivateKeyParameters) {
            return new CaSigner(key, algorithm, true, random);
        }
        if (key instanceof RSAKeyParameters) {
            return new CaSigner(key, algorithm, false, random);
        }
        throw new IllegalArgumentException("CA private key: " + key.getClass().getSimpleName() + " (expected: EC or RSA)");
    }

    /** A new signer for one certificate; ECDSA nonces come from this CA's {@link SecureRandom}. */
    ContentSigner contentSigner() {
        try {
            if (ec) {
                return new BcECContentSignerBuilder(signatureAlgorithm, digestAlgorithm).setSecureRandom(random).build(key);
            }
            return new BcRSAContentSignerBuilder(signatureAlgorithm, digestAlgorithm).build(key);
        } catch (OperatorCreationException e) {
            throw new IllegalStateException("cannot create a " + signatureAlgorithm.getAlgorithm() + " signer", e);
        }
    }

    /** The curve implementation, for tests that guard the fast path. */
    String curveName() {
        return key instanceof ECPrivateKeyParameters ecKey ? ecKey.getParameters().getCurve().getClass().getSimpleName() : "none";
    }
}
