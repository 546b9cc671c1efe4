package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.isthmus.controller.config.ConfigKind;
import io.isthmus.meshctl.ClusterInventory.ConfigObject;
import io.isthmus.meshctl.ClusterInventory.GatewayDef;
import io.isthmus.meshctl.ClusterInventory.PortDef;
import io.isthmus.meshctl.ClusterInventory.RemoteSecretCheck;
import io.isthmus.meshctl.ClusterInventory.ServiceDef;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads one cluster's API server into a {@link ClusterInventory}: Services, Istio config, east-west
 * gateways (and whether their address accepts a TCP connection from here), Secret istio-system/cacerts,
 * and every remote secret (whose kubeconfig is used to read the remote API server once).
 */
final class InventoryCollector {

    static final String NETWORK_LABEL = "topology.istio.io/network";
    static final String CONTROL_PLANE_CLUSTERS = "topology.istio.io/controlPlaneClusters";
    static final String MULTI_CLUSTER_LABEL = "istio/multiCluster";
    static final int GATEWAY_PORT = 15443;

    private final Duration timeout;

    InventoryCollector(Duration timeout) {
        this.timeout = requireNonNull(timeout, "timeout");
    }

    /** A client that fails fast: one attempt, the given timeouts, instead of fabric8's retries with back-off. */
    static KubernetesClient client(Config config, Duration timeout) {
        config.setRequestRetryBackoffLimit(0);
        config.setConnectionTimeout((int) timeout.toMillis());
        config.setRequestTimeout((int) timeout.toMillis());
        return KubeTarget.client(config);
    }

    ClusterInventory collect(String name, Config config) {
        try (KubernetesClient client = client(config, timeout)) {
            return collect(name, client);
        } catch (KubernetesClientException e) {
            return ClusterInventory.unreachable(name, config.getMasterUrl().replaceAll("/+$", "") + ": " + reason(e));
        }
    }

    private ClusterInventory collect(String name, KubernetesClient client) {
        Namespace istioSystem = client.namespaces().withName("istio-system").get();
        Optional<String> network = Optional.ofNullable(istioSystem).map(n -> n.getMetadata().getLabels())
                .map(l -> l.get(NETWORK_LABEL));
        boolean primary = istioSystem == null || istioSystem.getMetadata().getAnnotations() == null
                || !istioSystem.getMetadata().getAnnotations().containsKey(CONTROL_PLANE_CLUSTERS);
        List<ServiceDef> services = new ArrayList<>();
        List<GatewayDef> gateways = new ArrayList<>();
        for (Service s : client.services().inAnyNamespace().list().getItems()) {
            String ns = s.getMetadata().getNamespace();
            List<PortDef> ports = new ArrayList<>();
            if (s.getSpec() != null && s.getSpec().getPorts() != null) {
                for (ServicePort p : s.getSpec().getPorts()) {
                    ports.add(new PortDef(p.getName() == null ? "" : p.getName(), p.getPort(),
                            MeshAnalyzer.inferProtocol(p.getName(), p.getAppProtocol(), p.getProtocol())));
                }
            }
            Map<String, String> labels = s.getMetadata().getLabels();
            if (labels != null && "eastwestgateway".equals(labels.get("istio"))) {
                // Each cluster's gateway is its own, not one Service merged across clusters.
                gateways.add(gateway(s));
            } else {
                services.add(new ServiceDef(ns, s.getMetadata().getName(), ports));
            }
        }
        List<ConfigObject> configs = configs(client);
        Optional<Map<String, String>> cacerts = Optional.ofNullable(
                client.secrets().inNamespace("istio-system").withName("cacerts").get()).map(InventoryCollector::files);
        List<RemoteSecretCheck> remotes = new ArrayList<>();
        for (Secret s : client.secrets().inAnyNamespace().withLabel(MULTI_CLUSTER_LABEL, "true").list().getItems()) {
            files(s).forEach((cluster, kubeconfig) -> remotes.add(checkRemote(
                    s.getMetadata().getNamespace() + '/' + s.getMetadata().getName(), cluster, kubeconfig)));
        }
        return new ClusterInventory(name, Optional.empty(), network, primary, services, configs, gateways, cacerts, remotes);
    }

    private List<ConfigObject> configs(KubernetesClient client) {
        List<ConfigObject> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (ConfigKind kind : ConfigKind.values()) {
            // Each served version may hold objects (the embedded servers store them apart); a real API
            // server returns the same object through every version: keep the first.
            for (String version : kind.versions()) {
                ResourceDefinitionContext ctx = new ResourceDefinitionContext.Builder().withGroup(kind.group())
                        .withVersion(version).withKind(kind.kind()).withPlural(kind.plural()).withNamespaced(true).build();
                List<GenericKubernetesResource> items;
                try {
                    items = client.genericKubernetesResources(ctx).inAnyNamespace().list().getItems();
                } catch (KubernetesClientException e) {
                    if (e.getCode() == 404) {
                        continue; // this version (or the CRD) is not installed
                    }
                    throw e;
                }
                for (GenericKubernetesResource r : items) {
                    String ns = r.getMetadata().getNamespace();
                    if (!seen.add(kind.kind() + '/' + ns + '/' + r.getMetadata().getName())) {
                        continue;
                    }
                    @SuppressWarnings("unchecked")
                    Map<String, Object> object = client.getKubernetesSerialization().convertValue(r, Map.class);
                    out.add(new ConfigObject(kind.kind(), ns, r.getMetadata().getName(),
                            Optional.ofNullable(r.getMetadata().getCreationTimestamp()).orElse(""), object));
                }
            }
        }
        return out;
    }

    private GatewayDef gateway(Service s) {
        Optional<String> network = Optional.ofNullable(s.getMetadata().getLabels().get(NETWORK_LABEL));
        int port = s.getSpec().getPorts() == null ? GATEWAY_PORT : s.getSpec().getPorts().stream()
                .filter(p -> p.getPort() == GATEWAY_PORT || "tls".equals(p.getName()))
                .map(ServicePort::getPort).findFirst().orElse(GATEWAY_PORT);
        Optional<String> host = Optional.empty();
        if (s.getSpec().getExternalIPs() != null && !s.getSpec().getExternalIPs().isEmpty()) {
            host = Optional.of(s.getSpec().getExternalIPs().get(0));
        } else if (s.getStatus() != null && s.getStatus().getLoadBalancer() != null
                && s.getStatus().getLoadBalancer().getIngress() != null) {
            for (LoadBalancerIngress i : s.getStatus().getLoadBalancer().getIngress()) {
                host = Optional.ofNullable(i.getIp() != null ? i.getIp() : i.getHostname());
                if (host.isPresent()) {
                    break;
                }
            }
        }
        Optional<String> address = host.map(h -> h + ':' + port);
        Optional<String> unreachable = host.isEmpty() ? Optional.empty() : probe(host.get(), port);
        return new GatewayDef(s.getMetadata().getNamespace(), s.getMetadata().getName(), network, address, unreachable);
    }

    /** Empty when a TCP connection to host:port succeeds within the timeout, else why not. */
    Optional<String> probe(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of("TCP connect failed (" + e.getMessage() + ")");
        }
    }

    private RemoteSecretCheck checkRemote(String secret, String cluster, String kubeconfig) {
        Config config;
        try {
            config = Config.fromKubeconfig(kubeconfig);
        } catch (RuntimeException e) {
            return new RemoteSecretCheck(secret, cluster, Optional.empty(),
                    Optional.of("its kubeconfig does not parse (" + MeshAnalyzer.firstLine(e.getMessage()) + ")"),
                    Optional.empty());
        }
        String server = config.getMasterUrl() == null ? null : config.getMasterUrl().replaceAll("/+$", "");
        if (server == null || server.isBlank()) {
            return new RemoteSecretCheck(secret, cluster, Optional.empty(), Optional.of("its kubeconfig names no server"),
                    Optional.empty());
        }
        if (blank(config.getOauthToken()) && blank(config.getAutoOAuthToken()) && config.getClientCertData() == null
                && config.getClientCertFile() == null && config.getUsername() == null) {
            return new RemoteSecretCheck(secret, cluster, Optional.of(server),
                    Optional.of("its kubeconfig holds no credentials (expected: a token)"), Optional.empty());
        }
        try (KubernetesClient remote = client(config, timeout)) {
            remote.namespaces().withName("istio-system").get();
            return new RemoteSecretCheck(secret, cluster, Optional.of(server), Optional.empty(), Optional.empty());
        } catch (KubernetesClientException e) {
            return new RemoteSecretCheck(secret, cluster, Optional.of(server), Optional.empty(), Optional.of(reason(e)));
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    static String reason(KubernetesClientException e) {
        if (e.getCode() == 401) {
            return "the API server rejected the token (401)";
        }
        if (e.getCode() == 403) {
            return "the token may not read namespaces (403)";
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return e.getCode() > 0 ? "HTTP " + e.getCode() + " (" + MeshAnalyzer.firstLine(message) + ")"
                : "unreachable (" + MeshAnalyzer.firstLine(message) + ")";
    }

    /** A Secret's entries as text: {@code data} decoded, then {@code stringData}. */
    static Map<String, String> files(Secret s) {
        Map<String, String> out = new LinkedHashMap<>();
        if (s.getData() != null) {
            s.getData().forEach((k, v) -> out.put(k, v == null ? "" : new String(Base64.getDecoder().decode(v),
                    StandardCharsets.UTF_8)));
        }
        if (s.getStringData() != null) {
            out.putAll(s.getStringData());
        }
        return out;
    }
}
