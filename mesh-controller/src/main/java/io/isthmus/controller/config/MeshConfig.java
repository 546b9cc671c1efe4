package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The mesh configuration in force: every primary's accepted objects merged, parsed and
 * validated, one winner per {@code kind/namespace/name}. An input of translation; immutable.
 *
 * <p>Merge rule: when two primaries define the same object, the oldest {@code creationTimestamp}
 * wins, ties broken by cluster name; the losers are listed in {@link #conflicts()}. An object
 * another primary accepted but this version cannot parse is left out and listed in
 * {@link #problems()}.
 *
 * @param warnings cross-object findings that do not reject anything (e.g. a subset a
 *                 VirtualService names that no DestinationRule defines)
 */
public record MeshConfig(
        List<ConfigEntry<VirtualServiceSpec>> virtualServices,
        List<ConfigEntry<DestinationRuleSpec>> destinationRules,
        List<ConfigEntry<GatewaySpec>> gateways,
        List<ConfigEntry<ServiceEntrySpec>> serviceEntries,
        List<ConfigEntry<SidecarSpec>> sidecars,
        List<ConfigEntry<PeerAuthenticationSpec>> peerAuthentications,
        List<ConfigEntry<AuthorizationPolicySpec>> authorizationPolicies,
        List<ConfigEntry<RequestAuthenticationSpec>> requestAuthentications,
        List<ConfigEntry<RateLimitPolicySpec>> rateLimitPolicies,
        List<String> conflicts,
        List<String> problems,
        List<String> warnings) {

    public static final MeshConfig EMPTY =
            new MeshConfig(List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                    List.of(), List.of(), List.of(), List.of());

    private static final Comparator<ConfigResource> AGE = Comparator.comparing(ConfigResource::creationTimestamp);

    public MeshConfig {
        virtualServices = List.copyOf(virtualServices);
        destinationRules = List.copyOf(destinationRules);
        gateways = List.copyOf(gateways);
        serviceEntries = List.copyOf(serviceEntries);
        sidecars = List.copyOf(sidecars);
        peerAuthentications = List.copyOf(peerAuthentications);
        authorizationPolicies = List.copyOf(authorizationPolicies);
        requestAuthentications = List.copyOf(requestAuthentications);
        rateLimitPolicies = List.copyOf(rateLimitPolicies);
        conflicts = List.copyOf(conflicts);
        problems = List.copyOf(problems);
        warnings = List.copyOf(warnings);
    }

    /**
     * Merges what each primary published.
     *
     * @param byCluster    cluster name → its accepted objects
     * @param domainSuffix e.g. {@code cluster.local}, to resolve short host names
     */
    public static MeshConfig merge(Map<String, List<ConfigResource>> byCluster, String domainSuffix) {
        requireNonNull(byCluster, "byCluster");
        requireNonNull(domainSuffix, "domainSuffix");
        // key → (resource, cluster) candidates, visited in cluster order for determinism.
        record Candidate(ConfigResource resource, String cluster) {}
        Map<String, List<Candidate>> byKey = new TreeMap<>();
        new TreeMap<>(byCluster).forEach((cluster, resources) -> {
            for (ConfigResource r : resources) {
                byKey.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(new Candidate(r, cluster));
            }
        });
        List<ConfigEntry<VirtualServiceSpec>> vs = new ArrayList<>();
        List<ConfigEntry<DestinationRuleSpec>> dr = new ArrayList<>();
        List<ConfigEntry<GatewaySpec>> gw = new ArrayList<>();
        List<ConfigEntry<ServiceEntrySpec>> se = new ArrayList<>();
        List<ConfigEntry<SidecarSpec>> sc = new ArrayList<>();
        List<ConfigEntry<PeerAuthenticationSpec>> pa = new ArrayList<>();
        List<ConfigEntry<AuthorizationPolicySpec>> ap = new ArrayList<>();
        List<ConfigEntry<RequestAuthenticationSpec>> ra = new ArrayList<>();
        List<ConfigEntry<RateLimitPolicySpec>> rl = new ArrayList<>();
        List<String> conflicts = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (List<Candidate> candidates : byKey.values()) {
            candidates.sort(Comparator.comparing(Candidate::resource, AGE).thenComparing(Candidate::cluster));
            Candidate winner = candidates.get(0);
            for (Candidate loser : candidates.subList(1, candidates.size())) {
                conflicts.add(loser.resource().describe() + " from cluster " + loser.cluster()
                        + " (created " + loser.resource().creationTimestamp() + ") is ignored: the one from cluster "
                        + winner.cluster() + " (created " + winner.resource().creationTimestamp()
                        + ") is older and wins; delete one of them or give them different names");
            }
            ConfigParser.Parsed parsed;
            try {
                parsed = ConfigParser.parse(winner.resource());
            } catch (ConfigException e) {
                problems.add("from cluster " + winner.cluster() + ": " + e.getMessage());
                continue;
            }
            switch (ConfigKind.of(winner.resource().kind()).orElseThrow()) {
                case VIRTUAL_SERVICE -> vs.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (VirtualServiceSpec) parsed.spec()));
                case DESTINATION_RULE -> dr.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (DestinationRuleSpec) parsed.spec()));
                case GATEWAY -> gw.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (GatewaySpec) parsed.spec()));
                case SERVICE_ENTRY -> se.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (ServiceEntrySpec) parsed.spec()));
                case SIDECAR -> sc.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (SidecarSpec) parsed.spec()));
                case PEER_AUTHENTICATION -> pa.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (PeerAuthenticationSpec) parsed.spec()));
                case AUTHORIZATION_POLICY -> ap.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (AuthorizationPolicySpec) parsed.spec()));
                case REQUEST_AUTHENTICATION -> ra.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (RequestAuthenticationSpec) parsed.spec()));
                case RATE_LIMIT_POLICY -> rl.add(new ConfigEntry<>(winner.resource(), winner.cluster(),
                        (RateLimitPolicySpec) parsed.spec()));
            }
        }
        return new MeshConfig(vs, dr, gw, se, sc, pa, ap, ra, rl, conflicts, problems,
                subsetWarnings(vs, dr, domainSuffix));
    }

    /** A VirtualService naming a subset that no DestinationRule for that host defines: Istio routes it nowhere. */
    private static List<String> subsetWarnings(List<ConfigEntry<VirtualServiceSpec>> vss,
            List<ConfigEntry<DestinationRuleSpec>> drs, String domainSuffix) {
        Map<String, Set<String>> subsetsByHost = new TreeMap<>();
        for (ConfigEntry<DestinationRuleSpec> dr : drs) {
            Set<String> names = subsetsByHost.computeIfAbsent(
                    Hosts.resolve(dr.spec().host(), dr.namespace(), domainSuffix), h -> new TreeSet<>());
            dr.spec().subsets().forEach(s -> names.add(s.name()));
        }
        List<String> warnings = new ArrayList<>();
        for (ConfigEntry<VirtualServiceSpec> vs : vss) {
            List<VirtualServiceSpec.HttpRoute> http = vs.spec().http();
            for (int i = 0; i < http.size(); i++) {
                List<VirtualServiceSpec.RouteDestination> route = http.get(i).route();
                for (int d = 0; d < route.size(); d++) {
                    VirtualServiceSpec.Destination dest = route.get(d).destination();
                    if (dest.subset() == null) {
                        continue;
                    }
                    String host = Hosts.resolve(dest.host(), vs.namespace(), domainSuffix);
                    if (!subsetsByHost.getOrDefault(host, Set.of()).contains(dest.subset())) {
                        warnings.add(vs.resource().describe() + ": spec.http[" + i + "].route[" + d
                                + "].destination.subset: '" + dest.subset() + "' is defined by no DestinationRule for "
                                + host + " (add the subset to a DestinationRule, or requests to it fail with 503)");
                    }
                }
            }
        }
        return warnings;
    }

    /** Every entry, for debugging: kind/namespace/name → cluster. */
    public List<ConfigEntry<?>> all() {
        List<ConfigEntry<?>> out = new ArrayList<>();
        out.addAll(virtualServices);
        out.addAll(destinationRules);
        out.addAll(gateways);
        out.addAll(serviceEntries);
        out.addAll(sidecars);
        out.addAll(peerAuthentications);
        out.addAll(authorizationPolicies);
        out.addAll(requestAuthentications);
        out.addAll(rateLimitPolicies);
        return out;
    }
}
