package io.isthmus.trust.bench;

import java.security.KeyPair;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.VerifiedCsr;
import io.isthmus.trust.WorkloadKeys;

/**
 * What one core of the CA signs: a cluster intermediate (ECDSA P-256) turning a workload's PEM
 * CSR into a leaf. {@code signVerifiedCsr} is the leaf signing alone (certificate build and ECDSA
 * signature of a CSR already checked), {@code verifyCsr} the checks alone (parse, key, the CSR's
 * self-signature as proof of possession, SANs), {@code signCsr} both, as the CSR service runs them.
 * One thread: the figures are per core. {@code ecdsaSignBaseline} is the bare P-256 signature of a
 * certificate-sized message with the JDK's default provider, so the ratios show what the CA's
 * signing path gains or loses against it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
public class LeafSigningBenchmark {

    private static final SpiffeId IDENTITY = SpiffeId.of("cluster.local", "sample", "curl");

    private CertificateAuthority intermediate;
    private String csr;
    private VerifiedCsr verified;
    private KeyPair baselineKeys;
    private byte[] tbs;

    @Setup
    public void setUp() throws Exception {
        CertificateAuthority root = CertificateAuthority.createRoot("Isthmus bench", Duration.ofDays(30));
        intermediate = root.createIntermediate("east", Duration.ofDays(10));
        csr = WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), IDENTITY);
        verified = VerifiedCsr.parse(csr, IDENTITY);
        baselineKeys = WorkloadKeys.newKeyPair();
        // A leaf's to-be-signed part is about this long.
        tbs = intermediate.signCsr(csr, IDENTITY, Duration.ofHours(24)).get(0).getTBSCertificate().clone();
    }

    @Benchmark
    public X509Certificate signCsr() {
        List<X509Certificate> chain = intermediate.signCsr(csr, IDENTITY, Duration.ofHours(24));
        return chain.get(0);
    }

    @Benchmark
    public X509Certificate signVerifiedCsr() {
        return intermediate.sign(verified, Duration.ofHours(24)).get(0);
    }

    @Benchmark
    public VerifiedCsr verifyCsr() {
        return VerifiedCsr.parse(csr, IDENTITY);
    }

    @Benchmark
    public byte[] ecdsaSignBaseline() throws Exception {
        Signature signature = Signature.getInstance("SHA256withECDSA");
        signature.initSign(baselineKeys.getPrivate());
        signature.update(tbs);
        return signature.sign();
    }
}
