package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.ClusterLocalHosts;
import io.isthmus.discovery.MeshViewOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The mesh-wide settings of one controller that are not Istio resources: the part of Istio's
 * {@code MeshConfig} (the {@code mesh} key of ConfigMap {@code istio-system/istio}) that discovery
 * honours, and the multi-cluster services switch Istio takes from its environment. An input of
 * the merge ({@link #viewOptions}); immutable.
 *
 * @param serviceSettings Istio's {@code serviceSettings}, in order
 * @param mcsClusterLocal Istio's {@code ENABLE_MCS_CLUSTER_LOCAL}: a Kubernetes service's
 *                        {@code cluster.local} host is served by the viewer's own cluster only,
 *                        and {@code clusterset.local} is the way across clusters (false: the
 *                        {@code cluster.local} host spans every cluster, Istio's default)
 * @param outboundTrafficMode Istio's {@code outboundTrafficPolicy.mode}: {@code ALLOW_ANY} (Istio's
 *                        default: a destination outside the registry is relayed as it is) or
 *                        {@code REGISTRY_ONLY} (it is refused); a proxy's Sidecar may override it
 * @param trustDomain     Istio's {@code trustDomain}; empty: the controller's {@code --trust-domain}
 * @param trustDomainAliases Istio's {@code trustDomainAliases} (with the controller's
 *                        {@code --trust-domain-aliases}): AuthorizationPolicy principals of the trust
 *                        domain also match in each alias
 * @param protocolDetectionTimeout Istio's {@code protocolDetectionTimeout}: how long a sidecar waits
 *                        for a client's first bytes on a port whose protocol it detects before it
 *                        treats the connection as plain TCP (a server-first protocol sends nothing);
 *                        zero, Istio's default, waits for as long as the client does
 */
public record MeshSettings(List<ServiceSetting> serviceSettings, boolean mcsClusterLocal,
        String outboundTrafficMode, String trustDomain, List<String> trustDomainAliases,
        java.time.Duration protocolDetectionTimeout) {

    public static final String ALLOW_ANY = "ALLOW_ANY";
    public static final String REGISTRY_ONLY = "REGISTRY_ONLY";

    /** Istio's defaults: no service settings, {@code cluster.local} hosts span clusters, ALLOW_ANY. */
    public static final MeshSettings DEFAULT = new MeshSettings(List.of(), false, ALLOW_ANY);

    /** The ConfigMap Istio reads its mesh config from, and the key that holds it. */
    public static final String CONFIG_MAP_NAMESPACE = "istio-system";
    public static final String CONFIG_MAP_NAME = "istio";
    public static final String CONFIG_MAP_KEY = "mesh";
    /** The environment variable istiod reads for {@link #mcsClusterLocal()}. */
    public static final String MCS_CLUSTER_LOCAL_ENV = "ENABLE_MCS_CLUSTER_LOCAL";

    private static final YAMLMapper YAML = new YAMLMapper();

    /**
     * One {@code serviceSettings} entry.
     *
     * @param hosts        exact hosts or {@code *.}-prefixed suffixes ({@code *.sample.svc.cluster.local})
     * @param clusterLocal {@code settings.clusterLocal}
     */
    public record ServiceSetting(List<String> hosts, boolean clusterLocal) {
        public ServiceSetting {
            hosts = List.copyOf(hosts);
        }
    }

    public MeshSettings {
        serviceSettings = List.copyOf(serviceSettings);
        if (!ALLOW_ANY.equals(outboundTrafficMode) && !REGISTRY_ONLY.equals(outboundTrafficMode)) {
            throw new IllegalArgumentException("outboundTrafficPolicy.mode: '" + outboundTrafficMode
                    + "' (expected: ALLOW_ANY or REGISTRY_ONLY)");
        }
        requireNonNull(trustDomain, "trustDomain");
        trustDomainAliases = List.copyOf(trustDomainAliases);
        requireNonNull(protocolDetectionTimeout, "protocolDetectionTimeout");
        if (protocolDetectionTimeout.isNegative()) {
            throw new IllegalArgumentException("protocolDetectionTimeout: " + protocolDetectionTimeout
                    + " (expected: >= 0)");
        }
        // Validates every pattern now, so a bad one is refused with the settings, not at merge time.
        clusterLocalHosts(serviceSettings, "cluster.local");
    }

    /** Settings with these service settings and the other fields at Istio's defaults. */
    public MeshSettings(List<ServiceSetting> serviceSettings, boolean mcsClusterLocal) {
        this(serviceSettings, mcsClusterLocal, ALLOW_ANY);
    }

    /** Without a trust domain or aliases of the mesh config's own. */
    public MeshSettings(List<ServiceSetting> serviceSettings, boolean mcsClusterLocal, String outboundTrafficMode) {
        this(serviceSettings, mcsClusterLocal, outboundTrafficMode, "", List.of());
    }

    /** With Istio's default {@code protocolDetectionTimeout}, none. */
    public MeshSettings(List<ServiceSetting> serviceSettings, boolean mcsClusterLocal, String outboundTrafficMode,
            String trustDomain, List<String> trustDomainAliases) {
        this(serviceSettings, mcsClusterLocal, outboundTrafficMode, trustDomain, trustDomainAliases,
                java.time.Duration.ZERO);
    }

    /** These settings with {@link #mcsClusterLocal()} set. */
    public MeshSettings withMcsClusterLocal(boolean value) {
        return new MeshSettings(serviceSettings, value, outboundTrafficMode, trustDomain, trustDomainAliases,
                protocolDetectionTimeout);
    }

    /** These settings with {@code aliases} (the controller's flag) added to the mesh config's aliases. */
    public MeshSettings withMoreTrustDomainAliases(java.util.Collection<String> aliases) {
        java.util.LinkedHashSet<String> all = new java.util.LinkedHashSet<>(trustDomainAliases);
        all.addAll(new java.util.TreeSet<>(aliases));
        return new MeshSettings(serviceSettings, mcsClusterLocal, outboundTrafficMode, trustDomain,
                List.copyOf(all), protocolDetectionTimeout);
    }

    /** How the merge scopes hosts under these settings. */
    public MeshViewOptions viewOptions(String domainSuffix, String trustDomain) {
        return new MeshViewOptions(domainSuffix, trustDomain, clusterLocalHosts(serviceSettings, domainSuffix),
                mcsClusterLocal);
    }

    private static ClusterLocalHosts clusterLocalHosts(List<ServiceSetting> settings, String domainSuffix) {
        List<String> local = new ArrayList<>();
        List<String> notLocal = new ArrayList<>();
        for (ServiceSetting setting : settings) {
            (setting.clusterLocal() ? local : notLocal).addAll(setting.hosts());
        }
        return ClusterLocalHosts.defaults(domainSuffix).plus(local).except(notLocal);
    }

    /**
     * Reads Istio's mesh config YAML ({@code serviceSettings: [{settings: {clusterLocal: true},
     * hosts: [...]}]}, {@code outboundTrafficPolicy}, {@code trustDomain}, {@code trustDomainAliases},
     * {@code protocolDetectionTimeout}). Other MeshConfig fields are Istio's and are ignored here.
     *
     * @throws ConfigException naming the field and what was expected
     */
    public static MeshSettings parse(String yaml) throws ConfigException {
        requireNonNull(yaml, "yaml");
        Object root;
        try {
            root = yaml.isBlank() ? Map.of() : YAML.readValue(yaml, Object.class);
        } catch (JacksonException e) {
            throw new ConfigException(List.of("mesh config: not YAML (" + e.getOriginalMessage()
                    + "); expected Istio's MeshConfig, e.g. 'serviceSettings: [{settings: {clusterLocal: true},"
                    + " hosts: [\"*.sample.svc.cluster.local\"]}]'"));
        }
        if (root == null) {
            return DEFAULT;
        }
        if (!(root instanceof Map<?, ?> mesh)) {
            throw new ConfigException(List.of("mesh config: " + describe(root) + " (expected: a map of MeshConfig fields)"));
        }
        List<String> errors = new ArrayList<>();
        String trustDomain = "";
        Object td = mesh.get("trustDomain");
        if (td != null) {
            if (td instanceof String name && !name.isBlank() && !name.contains("/")) {
                trustDomain = name;
            } else {
                errors.add("trustDomain: " + describe(td) + " (expected: a domain such as cluster.local)");
            }
        }
        List<String> aliases = new ArrayList<>();
        Object tda = mesh.get("trustDomainAliases");
        if (tda != null) {
            if (!(tda instanceof List<?> names)) {
                errors.add("trustDomainAliases: " + describe(tda) + " (expected: a list of domains such as [old.example.com])");
            } else {
                for (int i = 0; i < names.size(); i++) {
                    if (names.get(i) instanceof String name && !name.isBlank() && !name.contains("/")) {
                        aliases.add(name);
                    } else {
                        errors.add("trustDomainAliases[" + i + "]: " + describe(names.get(i))
                                + " (expected: a domain such as old.example.com)");
                    }
                }
            }
        }
        String outboundMode = outboundTrafficMode(mesh.get("outboundTrafficPolicy"), errors);
        java.time.Duration detection = java.time.Duration.ZERO;
        Object pdt = mesh.get("protocolDetectionTimeout");
        if (pdt != null) {
            try {
                if (!(pdt instanceof String text)) {
                    throw new IllegalArgumentException(describe(pdt));
                }
                detection = Durations.parse(text);
            } catch (IllegalArgumentException e) {
                errors.add("protocolDetectionTimeout: " + describe(pdt)
                        + " (expected: a duration such as 100ms, or 0s for none)");
            }
        }
        Object entries = mesh.get("serviceSettings");
        if (entries == null) {
            entries = List.of();
        }
        if (!(entries instanceof List<?> list)) {
            throw new ConfigException(List.of("serviceSettings: " + describe(entries) + " (expected: a list)"));
        }
        List<ServiceSetting> settings = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String at = "serviceSettings[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> entry)) {
                errors.add(at + ": " + describe(list.get(i)) + " (expected: {settings: ..., hosts: [...]})");
                continue;
            }
            boolean clusterLocal = false;
            Object s = entry.get("settings");
            if (s != null) {
                if (!(s instanceof Map<?, ?> map)) {
                    errors.add(at + ".settings: " + describe(s) + " (expected: {clusterLocal: true|false})");
                    continue;
                }
                Object value = map.get("clusterLocal");
                if (value != null && !(value instanceof Boolean)) {
                    errors.add(at + ".settings.clusterLocal: " + describe(value) + " (expected: true or false)");
                    continue;
                }
                clusterLocal = Boolean.TRUE.equals(value);
            }
            if (!(entry.get("hosts") instanceof List<?> hosts) || hosts.isEmpty()) {
                errors.add(at + ".hosts: " + describe(entry.get("hosts"))
                        + " (expected: a non-empty list of hosts such as '*.sample.svc.cluster.local')");
                continue;
            }
            List<String> names = new ArrayList<>();
            for (int h = 0; h < hosts.size(); h++) {
                Object host = hosts.get(h);
                try {
                    if (!(host instanceof String name)) {
                        throw new IllegalArgumentException(describe(host) + " (expected: a host name)");
                    }
                    new ClusterLocalHosts(List.of(name));
                    names.add(name);
                } catch (IllegalArgumentException e) {
                    errors.add(at + ".hosts[" + h + "]: " + e.getMessage());
                }
            }
            settings.add(new ServiceSetting(names, clusterLocal));
        }
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        return new MeshSettings(settings, false, outboundMode, trustDomain, aliases, detection);
    }

    /** {@code outboundTrafficPolicy: {mode: ALLOW_ANY|REGISTRY_ONLY}}; Istio's default when unset. */
    private static String outboundTrafficMode(Object policy, List<String> errors) {
        if (policy == null) {
            return ALLOW_ANY;
        }
        if (!(policy instanceof Map<?, ?> map)) {
            errors.add("outboundTrafficPolicy: " + describe(policy) + " (expected: {mode: ALLOW_ANY|REGISTRY_ONLY})");
            return ALLOW_ANY;
        }
        Object mode = map.get("mode");
        if (mode == null) {
            return ALLOW_ANY;
        }
        if (!ALLOW_ANY.equals(mode) && !REGISTRY_ONLY.equals(mode)) {
            errors.add("outboundTrafficPolicy.mode: " + describe(mode) + " (expected: ALLOW_ANY or REGISTRY_ONLY)");
            return ALLOW_ANY;
        }
        return (String) mode;
    }

    private static String describe(Object value) {
        return value == null ? "missing" : "'" + value + "'";
    }
}
