import io.isthmus.trust.CertificateRotator;
import io.isthmus.trust.CertificateRotatorOptions;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Gets a workload certificate from a running controller's CA the way a sidecar does (local P-256
 * key, CSR, service-account token, TLS to 15012) and writes key.pem and chain.pem for openssl.
 * Usage: java -cp <meshctl classpath> MeshCert.java <ca host:port> <root-cert.pem> <token file>
 *        <trust domain> <namespace> <service account> <out dir>
 */
public class MeshCert {
    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: MeshCert <ca host:port> <root-cert.pem> <token> <trust domain> <ns> <sa> <out dir>");
            System.exit(2);
        }
        SpiffeId identity = SpiffeId.of(args[3], args[4], args[5]);
        CertificateRotatorOptions options = CertificateRotatorOptions.of(args[0],
                Pem.decodeCertificates(Files.readString(Path.of(args[1]))), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY,
                Path.of(args[2]), identity, Duration.ofHours(1));
        try (CertificateRotator rotator = CertificateRotator.start(options)) {
            WorkloadCertificate cert = rotator.firstCertificate().get(30, TimeUnit.SECONDS);
            Path out = Files.createDirectories(Path.of(args[6]));
            Files.writeString(out.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
            Files.writeString(out.resolve("chain.pem"), cert.chainPem());
            System.out.println("issued " + identity.uri() + " until " + cert.notAfter() + " into " + out);
        }
        System.exit(0);
    }
}
