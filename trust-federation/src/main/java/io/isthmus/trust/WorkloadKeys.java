package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;

import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Workload key pairs and CSRs. Keys are generated where they are used and never leave the
 * process; only the CSR travels. Stateless and thread-safe.
 */
public final class WorkloadKeys {

    private WorkloadKeys() {
    }

    /** A fresh ECDSA P-256 key pair. */
    public static KeyPair newKeyPair() {
        return ecKeyPair("secp256r1");
    }

    static KeyPair ecKeyPair(String curve) {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec(curve));
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("EC " + curve + " key generation is unavailable in this JDK", e);
        }
    }

    /**
     * A PEM PKCS#10 CSR for {@code identity}, signed with {@code keyPair}. The CA ignores the
     * requested SAN (it takes the identity from the caller's token); it is included so the
     * request is self-describing, as istio-agent's is.
     */
    public static String csrPem(KeyPair keyPair, SpiffeId identity) {
        requireNonNull(keyPair, "keyPair");
        requireNonNull(identity, "identity");
        try {
            JcaPKCS10CertificationRequestBuilder builder =
                    new JcaPKCS10CertificationRequestBuilder(new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), keyPair.getPublic());
            ExtensionsGenerator extensions = new ExtensionsGenerator();
            extensions.addExtension(Extension.subjectAlternativeName, true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri())));
            builder.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate());
            String algorithm = keyPair.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
            return Pem.encodeCsr(builder.build(new JcaContentSignerBuilder(algorithm).build(keyPair.getPrivate())).getEncoded());
        } catch (OperatorCreationException | java.io.IOException e) {
            throw new IllegalStateException("cannot build a CSR for " + identity, e);
        }
    }
}
