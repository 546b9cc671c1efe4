package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * PEM encoding and decoding of certificates, private keys (written as PKCS#8; read as PKCS#8,
 * SEC1 {@code EC PRIVATE KEY} or PKCS#1 {@code RSA PRIVATE KEY}, as Istio's {@code cacerts} may
 * hold any of them) and certificate signing requests. Stateless and thread-safe.
 */
public final class Pem {

    private static final Base64.Encoder ENCODER = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));

    private Pem() {
    }

    /** One PEM block: its type (the word after BEGIN) and its DER bytes. */
    public record Block(String type, byte[] der) {
        public Block {
            requireNonNull(type, "type");
            requireNonNull(der, "der");
            der = der.clone();
        }

        @Override
        public byte[] der() {
            return der.clone();
        }
    }

    /** Encodes {@code der} as one PEM block of the given type, ending with a newline. */
    public static String encode(String type, byte[] der) {
        requireNonNull(type, "type");
        requireNonNull(der, "der");
        return "-----BEGIN " + type + "-----\n" + ENCODER.encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    public static String encodeCertificate(X509Certificate certificate) {
        requireNonNull(certificate, "certificate");
        try {
            return encode("CERTIFICATE", certificate.getEncoded());
        } catch (CertificateException e) {
            throw new IllegalArgumentException("certificate " + certificate.getSubjectX500Principal() + " cannot be encoded", e);
        }
    }

    /** Encodes the certificates as consecutive PEM blocks, in the given order. */
    public static String encodeCertificates(List<X509Certificate> certificates) {
        requireNonNull(certificates, "certificates");
        StringBuilder b = new StringBuilder();
        for (X509Certificate c : certificates) {
            b.append(encodeCertificate(c));
        }
        return b.toString();
    }

    /** Encodes a private key as unencrypted PKCS#8 ({@code PRIVATE KEY}). */
    public static String encodePrivateKey(PrivateKey key) {
        requireNonNull(key, "key");
        if (!"PKCS#8".equals(key.getFormat())) {
            throw new IllegalArgumentException("private key format: " + key.getFormat() + " (expected: PKCS#8)");
        }
        return encode("PRIVATE KEY", key.getEncoded());
    }

    /**
     * Splits {@code pem} into its blocks, ignoring text between them.
     *
     * @throws IllegalArgumentException if a block is unterminated, mismatched or not base64
     */
    public static List<Block> decodeBlocks(String pem) {
        requireNonNull(pem, "pem");
        List<Block> blocks = new ArrayList<>();
        int from = 0;
        while (true) {
            int begin = pem.indexOf("-----BEGIN ", from);
            if (begin < 0) {
                return blocks;
            }
            int typeEnd = pem.indexOf("-----", begin + 11);
            if (typeEnd < 0) {
                throw new IllegalArgumentException("PEM: unterminated BEGIN line at offset " + begin);
            }
            String type = pem.substring(begin + 11, typeEnd);
            String endMarker = "-----END " + type + "-----";
            int end = pem.indexOf(endMarker, typeEnd + 5);
            if (end < 0) {
                throw new IllegalArgumentException("PEM: no '" + endMarker + "' after offset " + begin);
            }
            String body = pem.substring(typeEnd + 5, end);
            if (body.contains(":")) {
                throw new IllegalArgumentException("PEM block " + type + " has headers (encrypted?); expected an unencrypted block");
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(body.strip());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("PEM block " + type + " is not valid base64: " + e.getMessage(), e);
            }
            if (der.length == 0) {
                throw new IllegalArgumentException("PEM block " + type + " is empty");
            }
            blocks.add(new Block(type, der));
            from = end + endMarker.length();
        }
    }

    /**
     * Decodes every {@code CERTIFICATE} block, in order.
     *
     * @throws IllegalArgumentException if there is none or one is malformed
     */
    public static List<X509Certificate> decodeCertificates(String pem) {
        List<X509Certificate> out = new ArrayList<>();
        CertificateFactory factory = certificateFactory();
        for (Block block : decodeBlocks(pem)) {
            if (!block.type().equals("CERTIFICATE")) {
                continue;
            }
            try {
                out.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der)));
            } catch (CertificateException e) {
                throw new IllegalArgumentException("PEM certificate #" + (out.size() + 1) + " is malformed: " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("PEM: no CERTIFICATE block found");
        }
        return List.copyOf(out);
    }

    /** Decodes exactly one certificate. */
    public static X509Certificate decodeCertificate(String pem) {
        List<X509Certificate> all = decodeCertificates(pem);
        if (all.size() != 1) {
            throw new IllegalArgumentException("PEM: " + all.size() + " certificates (expected: exactly 1)");
        }
        return all.get(0);
    }

    /** Decodes a certificate from DER. */
    public static X509Certificate decodeCertificateDer(byte[] der) {
        requireNonNull(der, "der");
        try {
            return (X509Certificate) certificateFactory().generateCertificate(new ByteArrayInputStream(der));
        } catch (CertificateException e) {
            throw new IllegalArgumentException("DER certificate is malformed: " + e.getMessage(), e);
        }
    }

    /**
     * Decodes the one private key in {@code pem}: {@code PRIVATE KEY} (PKCS#8), {@code EC PRIVATE KEY}
     * or {@code RSA PRIVATE KEY}. Encrypted keys are rejected.
     */
    public static PrivateKey decodePrivateKey(String pem) {
        requireNonNull(pem, "pem");
        List<Block> keys = decodeBlocks(pem).stream().filter(b -> b.type().endsWith("PRIVATE KEY")).toList();
        if (keys.size() != 1) {
            throw new IllegalArgumentException("PEM: " + keys.size() + " private key blocks (expected: exactly 1)");
        }
        String type = keys.get(0).type();
        if (type.equals("ENCRYPTED PRIVATE KEY")) {
            throw new IllegalArgumentException("PEM private key is encrypted (expected: an unencrypted PKCS#8 key)");
        }
        try (PEMParser parser = new PEMParser(new StringReader(encode(type, keys.get(0).der)))) {
            Object o = parser.readObject();
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (o instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            if (o instanceof PEMKeyPair pair) {
                return converter.getKeyPair(pair).getPrivate();
            }
            throw new IllegalArgumentException("PEM private key of type " + type + " is not supported");
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae) {
                throw iae;
            }
            throw new IllegalArgumentException("PEM private key (" + type + ") is malformed: " + e.getMessage(), e);
        }
    }

    /** Encodes a PKCS#10 CSR in DER as {@code CERTIFICATE REQUEST}. */
    public static String encodeCsr(byte[] der) {
        return encode("CERTIFICATE REQUEST", der);
    }

    /** Decodes the one {@code CERTIFICATE REQUEST} (or legacy {@code NEW CERTIFICATE REQUEST}) block to DER. */
    public static byte[] decodeCsr(String pem) {
        List<Block> csrs = decodeBlocks(pem).stream()
                .filter(b -> b.type().equals("CERTIFICATE REQUEST") || b.type().equals("NEW CERTIFICATE REQUEST"))
                .toList();
        if (csrs.size() != 1) {
            throw new IllegalArgumentException("PEM: " + csrs.size() + " CERTIFICATE REQUEST blocks (expected: exactly 1)");
        }
        return csrs.get(0).der;
    }

    private static CertificateFactory certificateFactory() {
        try {
            return CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("X.509 CertificateFactory is missing from this JDK", e);
        }
    }
}
