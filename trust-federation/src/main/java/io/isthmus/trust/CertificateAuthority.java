package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.bc.BcX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;

/**
 * A certificate authority of the mesh PKI: the self-signed root or a per-cluster intermediate,
 * holding its private key. It signs workload CSRs with exactly one SPIFFE URI SAN (the caller's
 * proven identity, never what the CSR asks for) and creates intermediates for clusters.
 *
 * <p>Immutable and thread-safe. Load a cluster's CA from Istio's {@code cacerts} Secret with
 * {@link #fromCacerts(Map)}; everything is checked at load time so a broken Secret fails with the
 * file at fault instead of producing certificates nobody trusts.
 */
public final class CertificateAuthority {

    /** Leaves are backdated so peers with a slightly slow clock accept them at once. */
    public static final Duration BACKDATE = Duration.ofMinutes(5);
    public static final Duration DEFAULT_TTL = Duration.ofHours(24);
    public static final Duration MAX_TTL = Duration.ofDays(30);
    public static final Duration MIN_TTL = Duration.ofSeconds(1);
    public static final int MAX_CSR_BYTES = 64 * 1024;

    public static final String CA_CERT = "ca-cert.pem";
    public static final String CA_KEY = "ca-key.pem";
    public static final String ROOT_CERT = "root-cert.pem";
    public static final String CERT_CHAIN = "cert-chain.pem";

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final X500Name EMPTY_NAME = new X500Name(new RDN[0]);

    private final PrivateKey privateKey;
    private final List<X509Certificate> chainToRoot;
    private final List<X509Certificate> trustedRoots;
    private final Clock clock;
    // Derived once from the fields above: signing a leaf re-reads none of them.
    private final CaSigner signer;
    private final X500Name name;
    private final AuthorityKeyIdentifier keyIdentifier;

    private CertificateAuthority(PrivateKey privateKey, List<X509Certificate> chainToRoot, Clock clock) {
        this(privateKey, chainToRoot, List.of(chainToRoot.get(chainToRoot.size() - 1)), clock);
    }

    private CertificateAuthority(PrivateKey privateKey, List<X509Certificate> chainToRoot, List<X509Certificate> trustedRoots,
            Clock clock) {
        this.privateKey = requireNonNull(privateKey, "privateKey");
        this.chainToRoot = List.copyOf(chainToRoot);
        this.trustedRoots = List.copyOf(trustedRoots);
        this.clock = requireNonNull(clock, "clock");
        this.signer = CaSigner.of(privateKey, RANDOM);
        this.name = X500Name.getInstance(certificate().getSubjectX500Principal().getEncoded());
        try {
            this.keyIdentifier = new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(certificate());
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("CA certificate " + certificate().getSubjectX500Principal()
                    + " has an unreadable public key: " + e.getMessage(), e);
        }
    }

    /** A new self-signed ECDSA P-256 root. */
    public static CertificateAuthority createRoot(String organization, Duration validity) {
        return createRoot(organization, validity, Clock.systemUTC());
    }

    public static CertificateAuthority createRoot(String organization, Duration validity, Clock clock) {
        requireNonNull(organization, "organization");
        requirePositive(validity, "validity");
        requireNonNull(clock, "clock");
        if (organization.isBlank()) {
            throw new IllegalArgumentException("organization is blank (expected: e.g. \"Isthmus\")");
        }
        KeyPair keys = WorkloadKeys.newKeyPair();
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, organization).addRDN(BCStyle.CN, organization + " Root CA").build();
        Instant now = clock.instant();
        X509Certificate root = build(subject, publicKeyInfo(keys.getPublic()), subject, CaSigner.of(keys.getPrivate(), RANDOM), null,
                now.minus(BACKDATE), now.plus(validity), true, -1, List.of(), List.of());
        return new CertificateAuthority(keys.getPrivate(), List.of(root), clock);
    }

    /**
     * A new ECDSA P-256 intermediate CA for {@code clusterName}, signed by this CA, valid for
     * {@code validity} but never beyond this CA. It may sign leaves, not further CAs.
     */
    public CertificateAuthority createIntermediate(String clusterName, Duration validity) {
        requireNonNull(clusterName, "clusterName");
        requirePositive(validity, "validity");
        if (clusterName.isBlank()) {
            throw new IllegalArgumentException("clusterName is blank");
        }
        BigInteger pathLen = certificate().getBasicConstraints() >= 0 && certificate().getBasicConstraints() != Integer.MAX_VALUE
                ? BigInteger.valueOf(certificate().getBasicConstraints()) : null;
        if (pathLen != null && pathLen.signum() == 0) {
            throw new IllegalStateException("CA " + certificate().getSubjectX500Principal()
                    + " has path length 0 and cannot create intermediates (expected: call createIntermediate on the root)");
        }
        KeyPair keys = WorkloadKeys.newKeyPair();
        X500NameBuilder name = new X500NameBuilder(BCStyle.INSTANCE);
        String org = organization();
        if (org != null) {
            name.addRDN(BCStyle.O, org);
        }
        name.addRDN(BCStyle.OU, clusterName).addRDN(BCStyle.CN, "Intermediate CA " + clusterName);
        Instant now = clock.instant();
        Instant notAfter = min(now.plus(validity), certificate().getNotAfter().toInstant());
        Instant notBefore = max(now.minus(BACKDATE), certificate().getNotBefore().toInstant());
        X509Certificate cert = build(name.build(), publicKeyInfo(keys.getPublic()), this.name,
                signer, keyIdentifier, notBefore, notAfter, true, 0, List.of(), List.of());
        List<X509Certificate> chain = new ArrayList<>();
        chain.add(cert);
        chain.addAll(chainToRoot);
        return new CertificateAuthority(keys.getPrivate(), chain, clock);
    }

    /** Loads and checks Istio {@code cacerts} files at the current time. */
    public static CertificateAuthority fromCacerts(Map<String, String> files) {
        return fromCacerts(files, Clock.systemUTC());
    }

    /**
     * Loads Istio {@code cacerts} files: {@value #CA_CERT}, {@value #CA_KEY}, {@value #ROOT_CERT},
     * {@value #CERT_CHAIN} (this CA, then any intermediates, then optionally the root).
     *
     * @throws InvalidCacertsException naming the file at fault: missing, unparsable, key does not
     *     match, not a CA, expired or not yet valid, or the chain does not verify to the root
     */
    public static CertificateAuthority fromCacerts(Map<String, String> files, Clock clock) {
        requireNonNull(files, "files");
        requireNonNull(clock, "clock");
        Instant now = clock.instant();

        X509Certificate caCert = single(CA_CERT, require(files, CA_CERT));
        // Several roots during a root rotation: the old and the new one, in any order.
        List<X509Certificate> roots = all(ROOT_CERT, require(files, ROOT_CERT));
        PrivateKey key;
        try {
            key = Pem.decodePrivateKey(require(files, CA_KEY));
        } catch (IllegalArgumentException e) {
            throw new InvalidCacertsException(CA_KEY, e.getMessage(), e);
        }

        for (X509Certificate root : roots) {
            checkCa(ROOT_CERT, root, now);
            if (!Certificates.isSelfSigned(root)) {
                throw new InvalidCacertsException(ROOT_CERT, "certificate " + root.getSubjectX500Principal()
                        + " is not self-signed (expected: the mesh root)");
            }
        }
        checkCa(CA_CERT, caCert, now);
        if (!Certificates.keysMatch(key, caCert.getPublicKey())) {
            throw new InvalidCacertsException(CA_KEY, "private key (" + key.getAlgorithm()
                    + ") does not match the public key of " + CA_CERT + " (" + caCert.getSubjectX500Principal() + ")");
        }

        List<X509Certificate> chain = new ArrayList<>();
        String chainPem = files.get(CERT_CHAIN);
        boolean caIsRoot = roots.contains(caCert);
        if (chainPem == null || chainPem.isBlank()) {
            if (!caIsRoot) {
                throw new InvalidCacertsException(CERT_CHAIN, "missing or empty (expected: " + CA_CERT
                        + " followed by any intermediates up to " + ROOT_CERT + ")");
            }
            chain.add(caCert);
        } else {
            List<X509Certificate> given;
            try {
                given = Pem.decodeCertificates(chainPem);
            } catch (IllegalArgumentException e) {
                throw new InvalidCacertsException(CERT_CHAIN, e.getMessage(), e);
            }
            if (!given.get(0).equals(caCert)) {
                throw new InvalidCacertsException(CERT_CHAIN, "first certificate is " + given.get(0).getSubjectX500Principal()
                        + " (expected: the same certificate as " + CA_CERT + ", " + caCert.getSubjectX500Principal() + ")");
            }
            for (int i = 0; i < given.size(); i++) {
                X509Certificate c = given.get(i);
                boolean last = i == given.size() - 1;
                if (roots.contains(c) && !(i == 0 && caIsRoot)) {
                    if (!last) {
                        throw new InvalidCacertsException(CERT_CHAIN, "the root appears before the end of the chain");
                    }
                    break;
                }
                if (Certificates.isSelfSigned(c) && !caIsRoot) {
                    throw new InvalidCacertsException(CERT_CHAIN, "ends with self-signed " + c.getSubjectX500Principal()
                            + ", which is not a certificate in " + ROOT_CERT);
                }
                if (i > 0) {
                    checkCa(CERT_CHAIN, c, now);
                }
                chain.add(c);
                if (caIsRoot) {
                    break;
                }
            }
        }
        if (caIsRoot) {
            return new CertificateAuthority(key, List.of(caCert), roots, clock);
        }
        try {
            Certificates.verifyChain(chain, roots, now);
        } catch (CertificateException e) {
            throw new InvalidCacertsException(CERT_CHAIN, "chain from " + CA_CERT + " does not verify to "
                    + (roots.size() == 1 ? ROOT_CERT : "any root in " + ROOT_CERT) + ": " + e.getMessage(), e);
        }
        chain.add(issuingRoot(chain.get(chain.size() - 1), roots));
        return new CertificateAuthority(key, chain, roots, clock);
    }

    /** The root among {@code roots} whose key signed {@code top} (the chain verified, so one did). */
    private static X509Certificate issuingRoot(X509Certificate top, List<X509Certificate> roots) {
        for (X509Certificate root : roots) {
            if (!root.getSubjectX500Principal().equals(top.getIssuerX500Principal())) {
                continue;
            }
            try {
                top.verify(root.getPublicKey());
                return root;
            } catch (GeneralSecurityException e) {
                // Same name, another key: keep looking.
            }
        }
        throw new InvalidCacertsException(CERT_CHAIN, "no certificate in " + ROOT_CERT + " signed "
                + top.getSubjectX500Principal());
    }

    /**
     * Every root this CA's cluster trusts: {@link #root()}, plus, during a root rotation, the
     * other roots listed in {@code root-cert.pem}.
     */
    public List<X509Certificate> trustedRoots() {
        return trustedRoots;
    }

    /** This CA as Istio {@code cacerts} files (key as PKCS#8; chain this CA first, root last). */
    public Map<String, String> toCacerts() {
        Map<String, String> files = new LinkedHashMap<>();
        files.put(CA_CERT, Pem.encodeCertificate(certificate()));
        files.put(CA_KEY, Pem.encodePrivateKey(privateKey));
        files.put(ROOT_CERT, Pem.encodeCertificates(trustedRoots));
        files.put(CERT_CHAIN, Pem.encodeCertificates(chainToRoot));
        return Map.copyOf(files);
    }

    /** This CA's own certificate. */
    public X509Certificate certificate() {
        return chainToRoot.get(0);
    }

    /** The mesh root this CA chains to (itself, for a root). */
    public X509Certificate root() {
        return chainToRoot.get(chainToRoot.size() - 1);
    }

    /** This CA's certificate first, the root last. */
    public List<X509Certificate> chainToRoot() {
        return chainToRoot;
    }

    /**
     * Signs a PEM PKCS#10 CSR for {@code identity}. The CSR's self-signature and key (ECDSA P-256
     * or P-384, RSA 2048–8192) are checked; its subject is ignored: the leaf carries
     * exactly one URI SAN, {@code identity}; a CSR that asks for another URI SAN, several, or a SAN
     * with control characters is refused. The TTL defaults to {@link #DEFAULT_TTL} when null,
     * is capped at {@link #MAX_TTL} and at this CA's own expiry.
     *
     * @return the leaf first, then {@link #chainToRoot()}
     * @throws CsrRejectedException with a precise message if the CSR or TTL is unacceptable
     */
    public List<X509Certificate> signCsr(String csrPem, SpiffeId identity, Duration ttl) {
        requireNonNull(csrPem, "csrPem");
        requireNonNull(identity, "identity");
        Duration effectiveTtl = checkTtl(ttl);
        return signLeaf(VerifiedCsr.parse(csrPem, identity).publicKey(), identity, List.of(), effectiveTtl);
    }

    /**
     * Signs a CSR already checked by {@link VerifiedCsr#parse}: the leaf carries exactly one URI
     * SAN, {@code csr.identity()}. The TTL rules are those of {@link #signCsr}.
     *
     * @return the leaf first, then {@link #chainToRoot()}
     * @throws CsrRejectedException if the TTL is below {@link #MIN_TTL}
     */
    public List<X509Certificate> sign(VerifiedCsr csr, Duration ttl) {
        requireNonNull(csr, "csr");
        return signLeaf(csr.publicKey(), csr.identity(), List.of(), checkTtl(ttl));
    }

    /**
     * Generates an ECDSA P-256 key here and issues a leaf for {@code identity} plus the given DNS
     * names (for the controller's own serving certificate).
     */
    public WorkloadCertificate issue(SpiffeId identity, List<String> dnsNames, Duration ttl) {
        requireNonNull(identity, "identity");
        requireNonNull(dnsNames, "dnsNames");
        KeyPair keys = WorkloadKeys.newKeyPair();
        return new WorkloadCertificate(keys.getPrivate(), signLeaf(publicKeyInfo(keys.getPublic()), identity, List.copyOf(dnsNames), checkTtl(ttl)));
    }

    @Override
    public String toString() {
        return "CertificateAuthority[" + certificate().getSubjectX500Principal() + ", notAfter "
                + certificate().getNotAfter().toInstant() + "]";
    }

    private List<X509Certificate> signLeaf(SubjectPublicKeyInfo publicKey, SpiffeId identity, List<String> dnsNames, Duration ttl) {
        Instant now = clock.instant();
        Instant notBefore = max(now.minus(BACKDATE), certificate().getNotBefore().toInstant());
        Instant notAfter = min(now.plus(ttl), certificate().getNotAfter().toInstant());
        if (!notAfter.isAfter(now)) {
            throw new IllegalStateException("CA " + certificate().getSubjectX500Principal() + " expired at "
                    + certificate().getNotAfter().toInstant() + "; rotate the cacerts Secret");
        }
        X509Certificate leaf = build(EMPTY_NAME, publicKey, name, signer, keyIdentifier, notBefore, notAfter, false, -1, List.of(identity.uri()), dnsNames);
        List<X509Certificate> chain = new ArrayList<>(chainToRoot.size() + 1);
        chain.add(leaf);
        chain.addAll(chainToRoot);
        return List.copyOf(chain);
    }

    private static X509Certificate build(X500Name subject, SubjectPublicKeyInfo publicKey, X500Name issuer, CaSigner issuerKey,
            AuthorityKeyIdentifier issuerKeyIdentifier, Instant notBefore, Instant notAfter, boolean ca, int pathLen,
            List<String> uris, List<String> dnsNames) {
        try {
            BigInteger serial = new BigInteger(159, RANDOM).setBit(0);
            X509v3CertificateBuilder b = new X509v3CertificateBuilder(issuer, serial,
                    Date.from(notBefore), Date.from(notAfter), subject, publicKey);
            b.addExtension(Extension.subjectKeyIdentifier, false, new BcX509ExtensionUtils().createSubjectKeyIdentifier(publicKey));
            if (issuerKeyIdentifier != null) {
                b.addExtension(Extension.authorityKeyIdentifier, false, issuerKeyIdentifier);
            }
            if (ca) {
                b.addExtension(Extension.basicConstraints, true, pathLen >= 0 ? new BasicConstraints(pathLen) : new BasicConstraints(true));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
            } else {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
                b.addExtension(Extension.extendedKeyUsage, false,
                        new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
                List<GeneralName> names = new ArrayList<>();
                for (String uri : uris) {
                    names.add(new GeneralName(GeneralName.uniformResourceIdentifier, uri));
                }
                for (String dns : dnsNames) {
                    names.add(new GeneralName(GeneralName.dNSName, requireNonNull(dns, "dnsName")));
                }
                // The subject is empty, so RFC 5280 requires the SAN to be critical.
                b.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            return new JcaX509CertificateConverter().getCertificate(b.build(issuerKey.contentSigner()));
        } catch (CertIOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot build certificate for " + subject, e);
        }
    }

    private static SubjectPublicKeyInfo publicKeyInfo(PublicKey key) {
        return SubjectPublicKeyInfo.getInstance(key.getEncoded());
    }

    private static Duration checkTtl(Duration ttl) {
        if (ttl == null) {
            return DEFAULT_TTL;
        }
        if (ttl.compareTo(MIN_TTL) < 0) {
            throw new CsrRejectedException("invalid_ttl", "certificate TTL: " + ttl + " (expected: >= " + MIN_TTL + ")");
        }
        return ttl.compareTo(MAX_TTL) > 0 ? MAX_TTL : ttl;
    }

    private String organization() {
        X500Name name = X500Name.getInstance(root().getSubjectX500Principal().getEncoded());
        RDN[] rdns = name.getRDNs(BCStyle.O);
        if (rdns.length == 0) {
            return null;
        }
        ASN1Encodable value = rdns[0].getFirst().getValue();
        return IETFUtils.valueToString(value);
    }

    private static String require(Map<String, String> files, String name) {
        String value = files.get(name);
        if (value == null || value.isBlank()) {
            throw new InvalidCacertsException(name, "missing or empty (expected: PEM content)");
        }
        return value;
    }

    private static List<X509Certificate> all(String file, String pem) {
        try {
            return Pem.decodeCertificates(pem);
        } catch (IllegalArgumentException e) {
            throw new InvalidCacertsException(file, e.getMessage(), e);
        }
    }

    /**
     * This CA with a different set of trusted roots (e.g. the old and new root while rotating);
     * {@link #root()} must be among them.
     */
    public CertificateAuthority withTrustedRoots(List<X509Certificate> roots) {
        requireNonNull(roots, "roots");
        if (!roots.contains(root())) {
            throw new IllegalArgumentException("roots: " + roots.size() + " certificates without this CA's root "
                    + root().getSubjectX500Principal() + " (expected: the roots to include it)");
        }
        return new CertificateAuthority(privateKey, chainToRoot, roots, clock);
    }

    private static X509Certificate single(String file, String pem) {
        try {
            return Pem.decodeCertificate(pem);
        } catch (IllegalArgumentException e) {
            throw new InvalidCacertsException(file, e.getMessage(), e);
        }
    }

    private static void checkCa(String file, X509Certificate c, Instant now) {
        if (c.getBasicConstraints() < 0) {
            throw new InvalidCacertsException(file, "certificate " + c.getSubjectX500Principal()
                    + " is not a CA (basicConstraints CA:false or missing)");
        }
        boolean[] usage = c.getKeyUsage();
        if (usage != null && (usage.length <= 5 || !usage[5])) {
            throw new InvalidCacertsException(file, "certificate " + c.getSubjectX500Principal()
                    + " lacks the keyCertSign key usage");
        }
        if (now.isAfter(c.getNotAfter().toInstant())) {
            throw new InvalidCacertsException(file, "certificate " + c.getSubjectX500Principal() + " expired at "
                    + c.getNotAfter().toInstant());
        }
        if (now.isBefore(c.getNotBefore().toInstant())) {
            throw new InvalidCacertsException(file, "certificate " + c.getSubjectX500Principal()
                    + " is not valid until " + c.getNotBefore().toInstant());
        }
    }

    private static void requirePositive(Duration d, String name) {
        requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
        }
    }

    private static Instant min(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    private static Instant max(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }
}
