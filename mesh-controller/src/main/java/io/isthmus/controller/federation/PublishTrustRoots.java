package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replaces the trust roots one cluster contributes to the mesh trust bundle. The federated
 * bundle ({@link io.isthmus.discovery.FederatedState#trustRootsPem()}) is the union over all
 * registered clusters, so clusters that share the mesh root contribute it once.
 *
 * <p>{@code rootsPem} entries may each hold one or more PEM certificates; they are split,
 * checked to be X.509 certificates, and re-encoded canonically (64-column base64, {@code \n}
 * line ends), sorted and de-duplicated, so the same certificate always compares equal. An empty
 * list withdraws the cluster's roots. Rejected at apply time when the cluster is not registered.
 */
public record PublishTrustRoots(String cluster, List<String> rootsPem) implements FederationCommand {

    private static final Pattern PEM_CERTIFICATE = Pattern.compile(
            "-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\\s]*?)-----END CERTIFICATE-----");

    public PublishTrustRoots {
        requireNonNull(cluster, "cluster");
        requireNonNull(rootsPem, "rootsPem");
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("cluster: '' (expected: a non-empty cluster name)");
        }
        rootsPem = canonicalize(cluster, rootsPem);
    }

    @Override
    public String clusterName() {
        return cluster;
    }

    private static List<String> canonicalize(String cluster, List<String> rootsPem) {
        TreeSet<String> canonical = new TreeSet<>();
        for (int i = 0; i < rootsPem.size(); i++) {
            String pem = requireNonNull(rootsPem.get(i), "rootsPem[" + i + "]");
            Matcher matcher = PEM_CERTIFICATE.matcher(pem);
            int found = 0;
            while (matcher.find()) {
                canonical.add(canonicalCertificate(cluster, i, matcher.group(1)));
                found++;
            }
            if (found == 0) {
                throw new IllegalArgumentException("rootsPem[" + i + "] of cluster '" + cluster
                        + "' (expected: one or more PEM '-----BEGIN CERTIFICATE-----' blocks)");
            }
        }
        return List.copyOf(new ArrayList<>(canonical));
    }

    private static String canonicalCertificate(String cluster, int i, String base64Body) {
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(base64Body);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("rootsPem[" + i + "] of cluster '" + cluster
                    + "': invalid base64 in a certificate block (" + e.getMessage() + ")", e);
        }
        try {
            CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
        } catch (CertificateException e) {
            throw new IllegalArgumentException("rootsPem[" + i + "] of cluster '" + cluster
                    + "' (expected: an X.509 certificate): " + e.getMessage(), e);
        }
        String body = new String(Base64.getMimeEncoder(64, new byte[] {'\n'}).encode(der),
                StandardCharsets.US_ASCII);
        return "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n";
    }
}
