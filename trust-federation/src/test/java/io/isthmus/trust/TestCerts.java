package io.isthmus.trust;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Builds deliberately odd leaves, signed by a real CA, for adversarial tests. */
final class TestCerts {

    private TestCerts() {
    }

    static PrivateKey keyOf(CertificateAuthority ca) {
        return Pem.decodePrivateKey(ca.toCacerts().get(CertificateAuthority.CA_KEY));
    }

    /** A self-signed CA certificate for {@code keys} (RSA or EC), valid for a day. */
    static X509Certificate selfSignedCa(KeyPair keys, String commonName) throws Exception {
        Instant now = Instant.now();
        X500Name name = new X500Name("CN=" + commonName);
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, BigInteger.valueOf(System.nanoTime()),
                Date.from(now.minusSeconds(60)), Date.from(now.plus(Duration.ofDays(1))), name, keys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        String algorithm = keys.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder(algorithm).build(keys.getPrivate())));
    }

    /** A leaf under {@code ca} with exactly the given URI SANs (raw strings, not validated). */
    static WorkloadCertificateLike leafWithUris(CertificateAuthority ca, List<String> uris) throws Exception {
        KeyPair keys = WorkloadKeys.newKeyPair();
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                X500Name.getInstance(ca.certificate().getSubjectX500Principal().getEncoded()),
                BigInteger.valueOf(System.nanoTime()), Date.from(now.minusSeconds(60)), Date.from(now.plus(Duration.ofHours(1))),
                new X500Name("CN=odd"), keys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        if (!uris.isEmpty()) {
            List<GeneralName> names = new ArrayList<>();
            for (String uri : uris) {
                names.add(new GeneralName(GeneralName.uniformResourceIdentifier, uri));
            }
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
        }
        X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keyOf(ca))));
        List<X509Certificate> chain = new ArrayList<>();
        chain.add(leaf);
        chain.addAll(ca.chainToRoot());
        return new WorkloadCertificateLike(keys.getPrivate(), chain);
    }

    /**
     * A PEM CSR carrying exactly the given SANs, with the public key of {@code subjectKeys} and a
     * signature by {@code signingKeys} (pass the same pair for a well-formed request).
     */
    static String csrWithSans(KeyPair subjectKeys, KeyPair signingKeys, List<GeneralName> sans) throws Exception {
        var builder = new org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder(new X500Name("CN=csr"), subjectKeys.getPublic());
        if (!sans.isEmpty()) {
            var extensions = new org.bouncycastle.asn1.x509.ExtensionsGenerator();
            extensions.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
            builder.addAttribute(org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate());
        }
        String algorithm = signingKeys.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        return Pem.encodeCsr(builder.build(new JcaContentSignerBuilder(algorithm).build(signingKeys.getPrivate())).getEncoded());
    }

    static GeneralName uri(String value) {
        return new GeneralName(GeneralName.uniformResourceIdentifier, value);
    }

    static GeneralName dns(String value) {
        return new GeneralName(GeneralName.dNSName, value);
    }

    /** Like WorkloadCertificate, without its validation (so it can hold invalid leaves). */
    record WorkloadCertificateLike(PrivateKey key, List<X509Certificate> chain) {
        X509Certificate[] array() {
            return chain.toArray(X509Certificate[]::new);
        }
    }
}
