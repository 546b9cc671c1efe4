package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.federation.FederationStatus;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.discovery.FederatedState;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * What the dashboard reads from its controller. Each supplier is called on the collector's
 * thread, once per round, and must not block for long.
 *
 * @param proxies      the proxies connected over xDS right now (their pod IPs are scraped)
 * @param certificates what each certificate the controller relies on is for → the certificate
 * @param configErrors rejected Istio objects of this cluster → their errors
 */
public record DashboardSources(
        String cluster,
        String network,
        String locality,
        int adminPort,
        Supplier<Collection<ProxyNode>> proxies,
        Supplier<FederatedState> federatedState,
        Supplier<FederationStatus> federationStatus,
        Supplier<Readiness> readiness,
        BooleanSupplier apiSynced,
        Supplier<Map<String, X509Certificate>> certificates,
        Supplier<Map<String, List<String>>> configErrors) {

    public DashboardSources {
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        requireNonNull(locality, "locality");
        requireNonNull(proxies, "proxies");
        requireNonNull(federatedState, "federatedState");
        requireNonNull(federationStatus, "federationStatus");
        requireNonNull(readiness, "readiness");
        requireNonNull(apiSynced, "apiSynced");
        requireNonNull(certificates, "certificates");
        requireNonNull(configErrors, "configErrors");
    }
}
