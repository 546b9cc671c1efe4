package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

class CertificateAuthorityTest {

    private static final SpiffeId CURL = SpiffeId.of("cluster.local", "sample", "curl");
    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(3650));
    private static final CertificateAuthority EAST = ROOT.createIntermediate("east", Duration.ofDays(365));

    @Test
    void signedChainVerifiesWithJdkPkixAndCarriesExactlyTheGivenIdentity() throws Exception {
        // The CSR asks for no identity and a DNS name; the leaf carries only the given identity.
        KeyPair keys = WorkloadKeys.newKeyPair();
        String csr = TestCerts.csrWithSans(keys, keys, List.of(TestCerts.dns("curl.sample.svc")));

        List<X509Certificate> chain = EAST.signCsr(csr, CURL, Duration.ofHours(1));

        assertThat(chain).hasSize(3);
        assertThat(chain.get(1)).isEqualTo(EAST.certificate());
        assertThat(chain.get(2)).isEqualTo(ROOT.certificate());
        X509Certificate leaf = chain.get(0);
        assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, CURL.uri()));
        assertThat(leaf.getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
        assertThat(leaf.getKeyUsage()[2]).as("keyEncipherment").isTrue();
        assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        Instant now = Instant.now();
        assertThat(leaf.getNotBefore().toInstant()).isBetween(now.minus(Duration.ofMinutes(6)), now.minus(Duration.ofMinutes(4)));
        assertThat(leaf.getNotAfter().toInstant()).isBetween(now.plus(Duration.ofMinutes(59)), now.plus(Duration.ofMinutes(61)));

        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(ROOT.certificate(), null)));
        params.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX")
                .validate(CertificateFactory.getInstance("X.509").generateCertPath(chain.subList(0, 2)), params);
    }

    @Test
    void ttlDefaultsAndIsCappedAndTinyTtlIsRejected() {
        String csr = WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL);
        Instant now = Instant.now();
        assertThat(EAST.signCsr(csr, CURL, null).get(0).getNotAfter().toInstant())
                .isBetween(now.plus(Duration.ofHours(24)).minusSeconds(60), now.plus(Duration.ofHours(24)).plusSeconds(60));
        assertThat(EAST.signCsr(csr, CURL, Duration.ofDays(300)).get(0).getNotAfter().toInstant())
                .isBefore(now.plus(CertificateAuthority.MAX_TTL).plusSeconds(60));
        assertThatThrownBy(() -> EAST.signCsr(csr, CURL, Duration.ofMillis(500)))
                .isInstanceOf(CsrRejectedException.class).hasMessageContaining("TTL")
                .extracting(e -> ((CsrRejectedException) e).reason()).isEqualTo("invalid_ttl");
    }

    @Test
    void adversarialCsrsAreRejectedWithAPreciseReason() throws Exception {
        String good = WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL);
        // Flip one byte inside the signature (the end of the DER).
        byte[] der = Pem.decodeCsr(good);
        der[der.length - 5] ^= 0x01;
        String badSignature = Pem.encodeCsr(der);
        KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
        rsa.initialize(1024);
        String weakRsa = WorkloadKeys.csrPem(rsa.generateKeyPair(), CURL);
        String p521 = WorkloadKeys.csrPem(WorkloadKeys.ecKeyPair("secp521r1"), CURL);

        Map<String, String> cases = new HashMap<>();
        cases.put("garbage", "malformed");
        cases.put("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "malformed");
        cases.put("-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n", "malformed");
        cases.put(good + good, "malformed");
        cases.put(Pem.encodeCertificate(ROOT.certificate()), "malformed");
        cases.put("x".repeat(CertificateAuthority.MAX_CSR_BYTES + 1), "oversized");
        cases.put(badSignature, "bad_signature");
        cases.put(weakRsa, "unsupported_key");
        cases.put(p521, "unsupported_key");
        KeyPair keys = WorkloadKeys.newKeyPair();
        cases.put(WorkloadKeys.csrPem(keys, SpiffeId.of("cluster.local", "istio-system", "istiod")), "identity_mismatch");
        cases.put(TestCerts.csrWithSans(keys, keys, List.of(TestCerts.uri(CURL.uri()), TestCerts.uri(CURL.uri() + "2"))),
                "multiple_uri_sans");
        cases.put(TestCerts.csrWithSans(keys, keys, List.of(TestCerts.uri(CURL.uri() + "\u0000"))), "invalid_san");
        cases.forEach((csr, reason) -> assertThatThrownBy(() -> EAST.signCsr(csr, CURL, Duration.ofHours(1)))
                .as(reason + ": " + csr.substring(0, Math.min(40, csr.length())))
                .isInstanceOf(CsrRejectedException.class)
                .satisfies(e -> assertThat(((CsrRejectedException) e).reason()).isEqualTo(reason))
                .hasMessageNotContaining("null"));
    }

    @Test
    void verifiedCsrIsSignedForTheProvenIdentityWithTheCsrsKey() throws Exception {
        KeyPair keys = WorkloadKeys.newKeyPair();
        VerifiedCsr verified = VerifiedCsr.parse(WorkloadKeys.csrPem(keys, CURL), CURL);
        assertThat(verified.identity()).isEqualTo(CURL);

        List<X509Certificate> chain = EAST.sign(verified, Duration.ofHours(1));

        assertThat(chain.get(0).getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(chain.get(0).getSubjectAlternativeNames()).containsExactly(List.of(6, CURL.uri()));
        assertThat(chain.subList(1, 3)).containsExactly(EAST.certificate(), ROOT.certificate());
        Certificates.verifyChain(chain, List.of(ROOT.certificate()), Instant.now());
        // Two leaves for the same key still differ: serial and ECDSA nonce are random.
        X509Certificate again = EAST.sign(verified, Duration.ofHours(1)).get(0);
        assertThat(again.getSerialNumber()).isNotEqualTo(chain.get(0).getSerialNumber());
        assertThat(again.getSignature()).isNotEqualTo(chain.get(0).getSignature());
    }

    @Test
    void p256CaKeysSignOnTheCurveWithPrecomputedTables() {
        // The fast path of leaf signing: a regression to a generic curve costs a factor of ~4.
        assertThat(CaSigner.of(TestCerts.keyOf(EAST), new java.security.SecureRandom()).curveName()).isEqualTo("SecP256R1Curve");
        CertificateAuthority loaded = CertificateAuthority.fromCacerts(EAST.toCacerts());
        assertThat(CaSigner.of(TestCerts.keyOf(loaded), new java.security.SecureRandom()).curveName()).isEqualTo("SecP256R1Curve");
    }

    @Test
    void rsaCaFromCacertsSignsLeavesTheJdkVerifies() throws Exception {
        // Istio's sample plug-in certificates are RSA: such a CA must keep working.
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        KeyPair rsa = generator.generateKeyPair();
        X509Certificate rsaRoot = TestCerts.selfSignedCa(rsa, "RSA root");
        Map<String, String> files = Map.of("ca-cert.pem", Pem.encodeCertificate(rsaRoot), "ca-key.pem", Pem.encodePrivateKey(rsa.getPrivate()),
                "root-cert.pem", Pem.encodeCertificate(rsaRoot), "cert-chain.pem", Pem.encodeCertificate(rsaRoot));
        CertificateAuthority rsaCa = CertificateAuthority.fromCacerts(files);

        List<X509Certificate> chain = rsaCa.signCsr(WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL), CURL, Duration.ofHours(1));

        assertThat(chain.get(0).getSigAlgName()).isEqualTo("SHA256withRSA");
        Certificates.verifyChain(chain, List.of(rsaRoot), Instant.now());
    }

    @Test
    void issueGeneratesKeyWithSpiffeAndDnsSans() throws Exception {
        SpiffeId istiod = SpiffeId.of("cluster.local", "istio-system", "istiod");
        WorkloadCertificate cert = EAST.issue(istiod, List.of("istiod.istio-system.svc"), Duration.ofHours(2));
        assertThat(cert.identity()).isEqualTo(istiod);
        assertThat(cert.leaf().getSubjectAlternativeNames())
                .containsExactlyInAnyOrder(List.of(6, istiod.uri()), List.of(2, "istiod.istio-system.svc"));
        assertThat(Certificates.keysMatch(cert.privateKey(), cert.leaf().getPublicKey())).isTrue();
        Certificates.verifyChain(cert.chain(), List.of(ROOT.certificate()), Instant.now());
    }

    @Test
    void cacertsRoundTrip() {
        Map<String, String> files = EAST.toCacerts();
        assertThat(files).containsOnlyKeys("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem");
        CertificateAuthority loaded = CertificateAuthority.fromCacerts(files);
        assertThat(loaded.certificate()).isEqualTo(EAST.certificate());
        assertThat(loaded.root()).isEqualTo(ROOT.certificate());
        assertThat(loaded.chainToRoot()).containsExactly(EAST.certificate(), ROOT.certificate());
        // The loaded CA signs with the same key: its leaves chain to the same root.
        X509Certificate leaf = loaded.issue(CURL, List.of(), Duration.ofHours(1)).leaf();
        assertThat(leaf.getIssuerX500Principal()).isEqualTo(EAST.certificate().getSubjectX500Principal());
        // A cert-chain.pem without the root (as some tools write it) is accepted too.
        Map<String, String> noRoot = new HashMap<>(files);
        noRoot.put("cert-chain.pem", Pem.encodeCertificate(EAST.certificate()));
        assertThat(CertificateAuthority.fromCacerts(noRoot).chainToRoot()).containsExactly(EAST.certificate(), ROOT.certificate());
        // The root itself can be loaded as a CA.
        assertThat(CertificateAuthority.fromCacerts(ROOT.toCacerts()).chainToRoot()).containsExactly(ROOT.certificate());
    }

    @Test
    void brokenCacertsNameTheFileAtFault() {
        Map<String, String> good = EAST.toCacerts();
        CertificateAuthority otherRoot = CertificateAuthority.createRoot("Other", Duration.ofDays(10));
        CertificateAuthority west = ROOT.createIntermediate("west", Duration.ofDays(10));

        assertBroken(without(good, "ca-key.pem"), "ca-key.pem", "missing");
        assertBroken(with(good, "ca-key.pem", west.toCacerts().get("ca-key.pem")), "ca-key.pem", "does not match");
        assertBroken(with(good, "ca-key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "ca-key.pem", "malformed");
        assertBroken(with(good, "ca-cert.pem", "not pem"), "ca-cert.pem", "no CERTIFICATE");
        assertBroken(with(good, "root-cert.pem", otherRoot.toCacerts().get("root-cert.pem")), "cert-chain.pem", "");
        assertBroken(with(good, "root-cert.pem", good.get("ca-cert.pem")), "root-cert.pem", "not self-signed");
        assertBroken(with(good, "cert-chain.pem", west.toCacerts().get("cert-chain.pem")), "cert-chain.pem", "first certificate");
        assertBroken(without(good, "cert-chain.pem"), "cert-chain.pem", "missing");
        // A leaf is not a CA.
        WorkloadCertificate leaf = EAST.issue(CURL, List.of(), Duration.ofHours(1));
        Map<String, String> leafAsCa = new HashMap<>(good);
        leafAsCa.put("ca-cert.pem", Pem.encodeCertificate(leaf.leaf()));
        leafAsCa.put("ca-key.pem", Pem.encodePrivateKey(leaf.privateKey()));
        assertBroken(leafAsCa, "ca-cert.pem", "not a CA");
        // Expired: load at a time after the intermediate's notAfter.
        Clock later = Clock.fixed(Instant.now().plus(Duration.ofDays(400)), ZoneOffset.UTC);
        assertThatThrownBy(() -> CertificateAuthority.fromCacerts(good, later))
                .isInstanceOf(InvalidCacertsException.class)
                .hasMessageStartingWith("ca-cert.pem:").hasMessageContaining("expired");
    }

    @Test
    void rootCertMayListSeveralRootsDuringARotation() {
        CertificateAuthority newRoot = CertificateAuthority.createRoot("Isthmus next", Duration.ofDays(30));
        CertificateAuthority newEast = newRoot.createIntermediate("east", Duration.ofDays(10));
        String bothRoots = Pem.encodeCertificates(List.of(ROOT.certificate(), newRoot.certificate()));

        // Phase 1: the old intermediate still signs, both roots are trusted.
        CertificateAuthority added = CertificateAuthority.fromCacerts(with(EAST.toCacerts(), "root-cert.pem", bothRoots));
        assertThat(added.root()).isEqualTo(ROOT.certificate());
        assertThat(added.chainToRoot()).containsExactly(EAST.certificate(), ROOT.certificate());
        assertThat(added.trustedRoots()).containsExactly(ROOT.certificate(), newRoot.certificate());
        assertThat(CertificateAuthority.fromCacerts(added.toCacerts()).trustedRoots()).hasSize(2);

        // Phase 2: the new intermediate signs, the chain ends at the new root whatever the order.
        String reversed = Pem.encodeCertificates(List.of(newRoot.certificate(), ROOT.certificate()));
        CertificateAuthority reissued = CertificateAuthority.fromCacerts(with(newEast.toCacerts(), "root-cert.pem", reversed));
        assertThat(reissued.chainToRoot()).containsExactly(newEast.certificate(), newRoot.certificate());
        assertThat(reissued.signCsr(WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL), CURL, Duration.ofHours(1)))
                .last().isEqualTo(newRoot.certificate());

        // Phase 3 done wrong: the old root removed while the old intermediate still signs.
        assertBroken(with(EAST.toCacerts(), "root-cert.pem", Pem.encodeCertificate(newRoot.certificate())),
                "cert-chain.pem", "which is not a certificate in root-cert.pem");
        assertThatThrownBy(() -> EAST.withTrustedRoots(List.of(newRoot.certificate())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("without this CA's root");
    }

    @Test
    void intermediateCannotCreateFurtherCas() {
        assertThatThrownBy(() -> EAST.createIntermediate("nested", Duration.ofDays(1)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("path length 0");
    }

    private static void assertBroken(Map<String, String> files, String file, String why) {
        assertThatThrownBy(() -> CertificateAuthority.fromCacerts(files))
                .isInstanceOf(InvalidCacertsException.class)
                .hasMessageStartingWith(file + ":")
                .hasMessageContaining(why)
                .satisfies(e -> assertThat(((InvalidCacertsException) e).file()).isEqualTo(file));
    }

    private static Map<String, String> with(Map<String, String> files, String name, String value) {
        Map<String, String> copy = new HashMap<>(files);
        copy.put(name, value);
        return copy;
    }

    private static Map<String, String> without(Map<String, String> files, String name) {
        Map<String, String> copy = new HashMap<>(files);
        copy.remove(name);
        return copy;
    }
}
