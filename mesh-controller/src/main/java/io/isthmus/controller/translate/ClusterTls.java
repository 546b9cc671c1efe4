package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;
import static io.isthmus.controller.translate.Protos.sds;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.discovery.MeshEndpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A DestinationRule's {@code trafficPolicy.tls} as a cluster's transport socket, as pilot's
 * {@code cluster_tls.go} builds it: {@code DISABLE} → none (plaintext); {@code ISTIO_MUTUAL} →
 * the mesh's mTLS (SDS {@code default} and {@code ROOTCA}); {@code SIMPLE} → TLS with the server
 * verified against {@code caCertificates} (else the system roots) and {@code subjectAltNames};
 * {@code MUTUAL} → as SIMPLE, presenting {@code clientCertificate}/{@code privateKey}. Files stay
 * paths: the proxy reads them from its own file system. Pure.
 */
final class ClusterTls {

    static final String DISABLE = "DISABLE";
    static final String SIMPLE = "SIMPLE";
    static final String MUTUAL = "MUTUAL";
    static final String ISTIO_MUTUAL = "ISTIO_MUTUAL";
    /** Where Istio points a SIMPLE/MUTUAL origination without {@code caCertificates}: the system roots. */
    static final String SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt";

    private ClusterTls() {}

    /**
     * The {@code tls} in force for {@code port}, lowest to highest as Istio merges them: the
     * rule's policy, its {@code portLevelSettings} entry for the port, the subset's policy, the
     * subset's entry for the port. Null when none says.
     */
    static DestinationRuleSpec.Tls tlsFor(int port, DestinationRuleSpec.TrafficPolicy rule,
            DestinationRuleSpec.TrafficPolicy subset) {
        DestinationRuleSpec.Tls fromSubset = tlsOf(port, subset);
        return fromSubset != null ? fromSubset : tlsOf(port, rule);
    }

    private static DestinationRuleSpec.Tls tlsOf(int port, DestinationRuleSpec.TrafficPolicy policy) {
        if (policy == null) {
            return null;
        }
        for (DestinationRuleSpec.PortTrafficPolicy p : policy.portLevelSettings()) {
            if (p.port() != null && p.port().number() != null && p.port().number() == port && p.tls() != null) {
                return p.tls();
            }
        }
        return policy.tls();
    }

    /** {@code tls.mode}, else {@code unset} (a {@code tls} without mode is Istio's DISABLE default). */
    static String mode(DestinationRuleSpec.Tls tls, String unset) {
        if (tls == null) {
            return unset;
        }
        return tls.mode() == null ? DISABLE : tls.mode();
    }

    /**
     * Whether endpoints behind an east-west gateway can be reached in {@code mode}: the gateway
     * passes through only the mesh's mTLS, routed by its SNI, so Istio leaves a remote network's
     * endpoints out of a cluster that does not speak it ("cross-network traffic needs mTLS").
     */
    static List<MeshEndpoint> reachable(List<MeshEndpoint> endpoints, String mode) {
        if (mode.equals(ISTIO_MUTUAL)) {
            return endpoints;
        }
        List<MeshEndpoint> direct = new ArrayList<>(endpoints.size());
        for (MeshEndpoint e : endpoints) {
            if (!e.viaGateway()) {
                direct.add(e);
            }
        }
        return direct.size() == endpoints.size() ? endpoints : direct;
    }

    /** {@code cluster} with the transport socket of {@code mode}, or none for {@code DISABLE}. */
    static Cluster.Builder apply(Cluster.Builder cluster, String mode, DestinationRuleSpec.Tls tls,
            String host, String meshSni, List<String> defaultSans) {
        return apply(cluster, mode, tls, host, meshSni, defaultSans, List.of());
    }

    /**
     * {@code cluster} with the transport socket of {@code mode}, or none for {@code DISABLE}.
     *
     * @param meshIdentities the SPIFFE IDs that may answer for the destination under the mesh's
     *                       mTLS (see {@link #meshIdentities(List, List, TrustDomains)})
     */
    static Cluster.Builder apply(Cluster.Builder cluster, String mode, DestinationRuleSpec.Tls tls,
            String host, String meshSni, List<String> defaultSans, List<String> meshIdentities) {
        context(mode, tls, host, meshSni, defaultSans, meshIdentities).ifPresentOrElse(
                ctx -> cluster.setTransportSocket(TransportSocket.newBuilder()
                        .setName(Protos.TLS_TRANSPORT_SOCKET).setTypedConfig(pack(ctx))),
                cluster::clearTransportSocket);
        return cluster;
    }

    /**
     * Who may answer for a destination under the mesh's mTLS, as pilot computes a cluster's
     * service accounts: the identities of its endpoints in every cluster (also those behind an
     * east-west gateway, which passes the pod's own certificate through) and the entry's own
     * {@code subjectAltNames}, each also in every alias of the trust domain
     * ({@code spiffe.ExpandWithTrustDomains}). Sorted, without duplicates. Empty: no endpoint
     * names one, and the proxy accepts any identity of the mesh.
     */
    static List<String> meshIdentities(List<String> endpointIdentities, List<String> subjectAltNames,
            TrustDomains trustDomains) {
        TreeSet<String> out = new TreeSet<>();
        for (String id : endpointIdentities) {
            out.addAll(expand(id, trustDomains));
        }
        for (String id : subjectAltNames) {
            out.addAll(expand(id, trustDomains));
        }
        return List.copyOf(out);
    }

    private static final String SPIFFE = "spiffe://";

    private static List<String> expand(String identity, TrustDomains trustDomains) {
        if (!identity.startsWith(SPIFFE)) {
            return List.of(identity);
        }
        List<String> out = new ArrayList<>();
        for (String principal : trustDomains.expand(List.of(identity.substring(SPIFFE.length())))) {
            out.add(SPIFFE + principal);
        }
        return out;
    }

    /**
     * The SPIFFE IDs an {@code UpstreamTlsContext} of the mesh's mTLS asks the server for: those
     * of {@code combined_validation_context.default_validation_context.match_subject_alt_names}
     * (exact). What the proxyless clusters repeat, so a gRPC client checks the same identities
     * as a sidecar in its place.
     */
    @SuppressWarnings("deprecation") // pilot writes match_subject_alt_names for ISTIO_MUTUAL
    static List<String> meshIdentities(UpstreamTlsContext context) {
        CommonTlsContext common = context.getCommonTlsContext();
        if (!common.hasCombinedValidationContext()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (StringMatcher m : common.getCombinedValidationContext().getDefaultValidationContext()
                .getMatchSubjectAltNamesList()) {
            out.add(m.getExact());
        }
        return List.copyOf(out);
    }

    /** {@link #context(String, DestinationRuleSpec.Tls, String, String, List, List)} with no mesh identities. */
    static Optional<UpstreamTlsContext> context(String mode, DestinationRuleSpec.Tls tls, String host,
            String meshSni, List<String> defaultSans) {
        return context(mode, tls, host, meshSni, defaultSans, List.of());
    }

    /**
     * The {@code UpstreamTlsContext} of {@code mode}. SNI: {@code tls.sni}, else for the mesh's
     * mTLS {@code meshSni} ({@code outbound_.<port>_.<subset>_.<host>}, what the east-west
     * gateways route by) and for SIMPLE/MUTUAL the host (Istio's {@code auto_sni} sends the
     * request's host, which is the host for a client that names it). {@code defaultSans}: the
     * names to verify when {@code tls.subjectAltNames} is empty (a ServiceEntry's own).
     * For ISTIO_MUTUAL the server's SPIFFE ID must be one of {@code tls.subjectAltNames}, else
     * of {@code meshIdentities} (pilot's {@code buildIstioMutualTLS}), carried as pilot does in a
     * {@code combined_validation_context} beside SDS {@code ROOTCA}; no check when both are empty.
     */
    @SuppressWarnings("deprecation") // pilot writes match_subject_alt_names for ISTIO_MUTUAL
    static Optional<UpstreamTlsContext> context(String mode, DestinationRuleSpec.Tls tls, String host,
            String meshSni, List<String> defaultSans, List<String> meshIdentities) {
        String sni = tls != null && tls.sni() != null && !tls.sni().isBlank() ? tls.sni() : null;
        switch (mode) {
            case ISTIO_MUTUAL -> {
                List<String> sans = tls != null && tls.subjectAltNames() != null && !tls.subjectAltNames().isEmpty()
                        ? tls.subjectAltNames() : meshIdentities;
                CommonTlsContext.Builder common = CommonTlsContext.newBuilder()
                        .addAlpnProtocols("http/1.1")
                        .addTlsCertificateSdsSecretConfigs(sds(ResourceNames.DEFAULT_SECRET));
                if (sans.isEmpty()) {
                    common.setValidationContextSdsSecretConfig(sds(ResourceNames.ROOT_CA_SECRET));
                } else {
                    CertificateValidationContext.Builder match = CertificateValidationContext.newBuilder();
                    for (String san : sans) {
                        match.addMatchSubjectAltNames(StringMatcher.newBuilder().setExact(san));
                    }
                    common.setCombinedValidationContext(CommonTlsContext.CombinedCertificateValidationContext
                            .newBuilder()
                            .setDefaultValidationContext(match)
                            .setValidationContextSdsSecretConfig(sds(ResourceNames.ROOT_CA_SECRET)));
                }
                return Optional.of(UpstreamTlsContext.newBuilder()
                        .setSni(sni != null ? sni : meshSni)
                        .setCommonTlsContext(common)
                        .build());
            }
            case SIMPLE, MUTUAL -> {
                if (tls.credentialName() != null && !tls.credentialName().isBlank()) {
                    // Pilot sends a sidecar no context for a Secret it would have to fetch (only
                    // gateways and workloadSelector rules get credentialName), so neither do we.
                    return Optional.empty();
                }
                CommonTlsContext.Builder common = CommonTlsContext.newBuilder();
                if (Boolean.TRUE.equals(tls.insecureSkipVerify())) {
                    common.setValidationContext(CertificateValidationContext.newBuilder().setTrustChainVerification(
                            CertificateValidationContext.TrustChainVerification.ACCEPT_UNTRUSTED));
                } else {
                    CertificateValidationContext.Builder validation = CertificateValidationContext.newBuilder()
                            .setTrustedCa(DataSource.newBuilder().setFilename(
                                    tls.caCertificates() == null || tls.caCertificates().isBlank()
                                            ? SYSTEM_ROOTS : tls.caCertificates()));
                    List<String> sans = tls.subjectAltNames() == null || tls.subjectAltNames().isEmpty()
                            ? defaultSans : tls.subjectAltNames();
                    for (String san : sans) {
                        validation.addMatchTypedSubjectAltNames(sanMatcher(san));
                    }
                    common.setValidationContext(validation);
                }
                if (mode.equals(MUTUAL)) {
                    common.addTlsCertificates(TlsCertificate.newBuilder()
                            .setCertificateChain(DataSource.newBuilder().setFilename(tls.clientCertificate()))
                            .setPrivateKey(DataSource.newBuilder().setFilename(tls.privateKey())));
                }
                return Optional.of(UpstreamTlsContext.newBuilder()
                        .setSni(sni != null ? sni : host.startsWith("*") ? "" : host)
                        .setCommonTlsContext(common)
                        .build());
            }
            default -> {
                return Optional.empty();
            }
        }
    }

    /**
     * Istio matches a subject alt name against every SAN type; a SPIFFE ID (or any URI) is a URI
     * SAN and anything else a DNS name in practice, so the typed matcher says which.
     */
    static SubjectAltNameMatcher sanMatcher(String san) {
        return SubjectAltNameMatcher.newBuilder()
                .setSanType(san.contains("://") ? SubjectAltNameMatcher.SanType.URI : SubjectAltNameMatcher.SanType.DNS)
                .setMatcher(StringMatcher.newBuilder().setExact(san))
                .build();
    }
}
