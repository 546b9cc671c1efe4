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
        context(mode, tls, host, meshSni, defaultSans).ifPresentOrElse(
                ctx -> cluster.setTransportSocket(TransportSocket.newBuilder()
                        .setName(Protos.TLS_TRANSPORT_SOCKET).setTypedConfig(pack(ctx))),
                cluster::clearTransportSocket);
        return cluster;
    }

    /**
     * The {@code UpstreamTlsContext} of {@code mode}. SNI: {@code tls.sni}, else for the mesh's
     * mTLS {@code meshSni} ({@code outbound_.<port>_.<subset>_.<host>}, what the east-west
     * gateways route by) and for SIMPLE/MUTUAL the host (Istio's {@code auto_sni} sends the
     * request's host, which is the host for a client that names it). {@code defaultSans}: the
     * names to verify when {@code tls.subjectAltNames} is empty (a ServiceEntry's own).
     */
    static Optional<UpstreamTlsContext> context(String mode, DestinationRuleSpec.Tls tls, String host,
            String meshSni, List<String> defaultSans) {
        String sni = tls != null && tls.sni() != null && !tls.sni().isBlank() ? tls.sni() : null;
        switch (mode) {
            case ISTIO_MUTUAL -> {
                return Optional.of(UpstreamTlsContext.newBuilder()
                        .setSni(sni != null ? sni : meshSni)
                        .setCommonTlsContext(CommonTlsContext.newBuilder()
                                .addAlpnProtocols("http/1.1")
                                .addTlsCertificateSdsSecretConfigs(sds(ResourceNames.DEFAULT_SECRET))
                                .setValidationContextSdsSecretConfig(sds(ResourceNames.ROOT_CA_SECRET)))
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
