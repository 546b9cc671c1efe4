package io.isthmus.controller;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.Locality;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Everything one controller process needs (the command line of {@code docs/design/contracts.md},
 * "Controller").
 *
 * @param raftPeers     every federation peer id → its Raft address, this one included
 * @param dataDir       the Raft log lives in {@code <dataDir>/raft}
 * @param debounceQuiet xDS pushes wait for this much quiet after a state change...
 * @param debounceMax   ...but no longer than this
 * @param raft          how this controller joins the federation's Raft group
 * @param trustDomainAliases other trust domains whose SPIFFE identities this controller's peers
 *                      may carry (Istio's meshConfig {@code trustDomainAliases}), e.g. during a
 *                      trust-domain migration; empty by default
 * @param webhookPort   the validating admission webhook's HTTPS port (Istio's 15017; 0 for any)
 */
public record ControllerOptions(
        String cluster,
        String network,
        Locality locality,
        Path kubeconfig,
        String bind,
        int xdsPort,
        int securePort,
        int adminPort,
        String raftId,
        int raftPort,
        Map<String, InetSocketAddress> raftPeers,
        Path dataDir,
        String trustDomain,
        String domainSuffix,
        Duration debounceQuiet,
        Duration debounceMax,
        RaftSettings raft,
        Set<String> trustDomainAliases,
        int webhookPort) {

    /** The validation webhook on a free port (tests); ControllerMain defaults to Istio's 15017. */
    public ControllerOptions(String cluster, String network, Locality locality, Path kubeconfig, String bind,
            int xdsPort, int securePort, int adminPort, String raftId, int raftPort,
            Map<String, InetSocketAddress> raftPeers, Path dataDir, String trustDomain, String domainSuffix,
            Duration debounceQuiet, Duration debounceMax, RaftSettings raft, Set<String> trustDomainAliases) {
        this(cluster, network, locality, kubeconfig, bind, xdsPort, securePort, adminPort, raftId, raftPort, raftPeers,
                dataDir, trustDomain, domainSuffix, debounceQuiet, debounceMax, raft, trustDomainAliases, 0);
    }

    /** Without trust-domain aliases. */
    public ControllerOptions(String cluster, String network, Locality locality, Path kubeconfig, String bind,
            int xdsPort, int securePort, int adminPort, String raftId, int raftPort,
            Map<String, InetSocketAddress> raftPeers, Path dataDir, String trustDomain, String domainSuffix,
            Duration debounceQuiet, Duration debounceMax, RaftSettings raft) {
        this(cluster, network, locality, kubeconfig, bind, xdsPort, securePort, adminPort, raftId, raftPort, raftPeers,
                dataDir, trustDomain, domainSuffix, debounceQuiet, debounceMax, raft, Set.of());
    }

    /** With {@link RaftSettings#DEFAULT}: a founding member, elections 1–2 s, peers over mutual TLS. */
    public ControllerOptions(String cluster, String network, Locality locality, Path kubeconfig, String bind,
            int xdsPort, int securePort, int adminPort, String raftId, int raftPort,
            Map<String, InetSocketAddress> raftPeers, Path dataDir, String trustDomain, String domainSuffix,
            Duration debounceQuiet, Duration debounceMax) {
        this(cluster, network, locality, kubeconfig, bind, xdsPort, securePort, adminPort, raftId, raftPort, raftPeers,
                dataDir, trustDomain, domainSuffix, debounceQuiet, debounceMax, RaftSettings.DEFAULT);
    }

    public ControllerOptions {
        requireNonNull(raft, "raft");
        trustDomainAliases = Set.copyOf(requireNonNull(trustDomainAliases, "trustDomainAliases"));
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        requireNonNull(locality, "locality");
        requireNonNull(kubeconfig, "kubeconfig");
        requireNonNull(bind, "bind");
        requireNonNull(raftId, "raftId");
        raftPeers = Map.copyOf(raftPeers);
        requireNonNull(dataDir, "dataDir");
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(debounceQuiet, "debounceQuiet");
        requireNonNull(debounceMax, "debounceMax");
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("--cluster: '' (expected: the cluster name)");
        }
        if (network.isEmpty()) {
            throw new IllegalArgumentException("--network: '' (expected: the cluster's network name)");
        }
        for (int port : new int[] {xdsPort, securePort, adminPort, raftPort, webhookPort}) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
            }
        }
        InetSocketAddress self = raftPeers.get(raftId);
        if (self == null) {
            throw new IllegalArgumentException("--raft-peers: " + raftPeers.keySet() + " has no entry for --raft-id "
                    + raftId + " (expected: " + raftId + "=<host>:<port> among the peers)");
        }
        if (self.getPort() != raftPort) {
            throw new IllegalArgumentException("--raft-port: " + raftPort + " (expected: " + self.getPort()
                    + ", the port --raft-peers gives for " + raftId + ")");
        }
    }

    /** Parses {@code east=127.101.0.1:15031,west=127.102.0.1:15031}. */
    public static Map<String, InetSocketAddress> parsePeers(String value) {
        requireNonNull(value, "value");
        Map<String, InetSocketAddress> peers = new TreeMap<>();
        for (String entry : value.split(",")) {
            String trimmed = entry.trim();
            if (trimmed.isEmpty()) {
                continue;
            }
            int eq = trimmed.indexOf('=');
            int colon = trimmed.lastIndexOf(':');
            if (eq <= 0 || colon < eq + 2 || colon == trimmed.length() - 1) {
                throw new IllegalArgumentException("--raft-peers entry: '" + trimmed
                        + "' (expected: <id>=<host>:<port>)");
            }
            int port;
            try {
                port = Integer.parseInt(trimmed.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--raft-peers entry: '" + trimmed + "' has a bad port"
                        + " (expected: <id>=<host>:<port>)");
            }
            String id = trimmed.substring(0, eq);
            if (peers.put(id, InetSocketAddress.createUnresolved(trimmed.substring(eq + 1, colon), port)) != null) {
                throw new IllegalArgumentException("--raft-peers: peer " + id + " appears twice");
            }
        }
        if (peers.isEmpty()) {
            throw new IllegalArgumentException("--raft-peers: '" + value + "' (expected: at least one <id>=<host>:<port>)");
        }
        // Resolve now: the values are IP literals on this machine; a name fails here, clearly.
        Map<String, InetSocketAddress> resolved = new TreeMap<>();
        peers.forEach((id, a) -> resolved.put(id, new InetSocketAddress(a.getHostString(), a.getPort())));
        return resolved;
    }
}
