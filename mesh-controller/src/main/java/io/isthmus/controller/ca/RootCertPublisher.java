package io.isthmus.controller.ca;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.micrometer.core.instrument.Counter;
import io.isthmus.discovery.kube.InformerRetry;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps Istio's ConfigMap {@code istio-ca-root-cert} (key {@code root-cert.pem}) in every namespace
 * equal to the mesh's trust roots, as Istio's namespace controller does: a namespace created later
 * gets it, a deleted or edited copy is put back, and a change of the roots (the add and remove
 * phases of a root rotation) rewrites every copy. Kubernetes' own namespaces ({@code kube-system},
 * {@code kube-public}, {@code kube-node-lease}, {@code local-path-storage}) are left alone, as Istio
 * leaves them.
 *
 * <p>Informer events (Namespaces, and ConfigMaps of that name) become namespace names on one
 * serialized executor, which reconciles one namespace at a time: create the ConfigMap if missing,
 * replace its {@code root-cert.pem} if it differs. A failed write is logged, counted in
 * {@code isthmus_root_cert_configmap_failures_total} and retried with backoff; writes are counted
 * in {@code isthmus_root_cert_configmap_writes_total{action}}. Thread-safe.
 */
public final class RootCertPublisher implements AutoCloseable {

    public static final String CONFIG_MAP = "istio-ca-root-cert";
    public static final String KEY = "root-cert.pem";
    static final String WRITES = "isthmus.root.cert.configmap.writes";
    static final String FAILURES = "isthmus.root.cert.configmap.failures";
    static final Set<String> IGNORED_NAMESPACES = Set.of("kube-system", "kube-public", "kube-node-lease",
            "local-path-storage");
    private static final Duration FIRST_RETRY = Duration.ofMillis(200);
    private static final Duration MAX_RETRY = Duration.ofSeconds(30);

    private static final Logger log = LoggerFactory.getLogger(RootCertPublisher.class);

    private final KubernetesClient client;
    private final MeterRegistry registry;
    private final ScheduledExecutorService executor;
    private SharedIndexInformer<Namespace> namespaces;
    private SharedIndexInformer<ConfigMap> configMaps;

    // Confined to the executor.
    private String rootsPem;
    private final Set<String> queued = new LinkedHashSet<>();
    private final Map<String, Integer> failures = new HashMap<>();

    private RootCertPublisher(KubernetesClient client, String rootsPem, MeterRegistry registry) {
        this.client = client;
        this.rootsPem = rootsPem;
        this.registry = registry;
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "root-cert-publisher");
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
    }

    /** Starts watching namespaces and publishing {@code rootsPem} (PEM, one or more certificates). */
    public static RootCertPublisher start(KubernetesClient client, String rootsPem, MeterRegistry registry) {
        RootCertPublisher publisher = new RootCertPublisher(requireNonNull(client, "client"),
                requireRoots(rootsPem), requireNonNull(registry, "registry"));
        publisher.begin();
        return publisher;
    }

    /** Publishes new roots to every namespace; a no-op when they did not change. */
    public void publish(String rootsPem) {
        String next = requireRoots(rootsPem);
        executor.execute(() -> {
            if (next.equals(this.rootsPem)) {
                return;
            }
            this.rootsPem = next;
            log.info("trust roots changed: rewriting ConfigMap {} in every namespace", CONFIG_MAP);
            namespaces.getStore().listKeys().forEach(this::enqueue);
        });
    }

    /** True once both informers have listed their objects. */
    public boolean hasSynced() {
        return namespaces.hasSynced() && configMaps.hasSynced();
    }

    @Override
    public void close() {
        if (namespaces != null) {
            namespaces.close();
        }
        if (configMaps != null) {
            configMaps.close();
        }
        executor.shutdownNow();
    }

    private void begin() {
        // Both exist before either starts: handlers and the executor read both stores.
        namespaces = client.namespaces().runnableInformer(0);
        configMaps = client.configMaps().inAnyNamespace().withField("metadata.name", CONFIG_MAP).runnableInformer(0);
        namespaces.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Namespace ns) {
                enqueueLater(ns.getMetadata().getName());
            }

            @Override
            public void onUpdate(Namespace before, Namespace after) {
                // Only a namespace's own changes, not the periodic resync, matter here.
                if (!Objects.equals(before.getMetadata().getResourceVersion(), after.getMetadata().getResourceVersion())) {
                    enqueueLater(after.getMetadata().getName());
                }
            }

            @Override
            public void onDelete(Namespace ns, boolean finalStateUnknown) {
                String name = ns.getMetadata().getName();
                executor.execute(() -> failures.remove(name));
            }
        });
        configMaps.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(ConfigMap map) {
                onConfigMap(map);
            }

            @Override
            public void onUpdate(ConfigMap before, ConfigMap after) {
                onConfigMap(after);
            }

            @Override
            public void onDelete(ConfigMap map, boolean finalStateUnknown) {
                onConfigMap(map);
            }
        });
        InformerRetry.install(namespaces, "root-cert-namespaces", registry);
        InformerRetry.install(configMaps, "root-cert-configmaps", registry);
        namespaces.start();
        configMaps.start();
    }

    private void onConfigMap(ConfigMap map) {
        // The field selector already filters by name where the API server supports it.
        if (CONFIG_MAP.equals(map.getMetadata().getName())) {
            enqueueLater(map.getMetadata().getNamespace());
        }
    }

    private void enqueueLater(String namespace) {
        executor.execute(() -> enqueue(namespace));
    }

    // ---- on the executor -------------------------------------------------------------------

    private void enqueue(String namespace) {
        if (queued.add(namespace)) {
            executor.execute(() -> {
                queued.remove(namespace);
                reconcile(namespace);
            });
        }
    }

    private void reconcile(String name) {
        if (!hasSynced()) {
            // Until the ConfigMaps are listed, a missing one cannot be told from one not yet seen.
            executor.schedule(() -> enqueue(name), 100, TimeUnit.MILLISECONDS);
            return;
        }
        Namespace ns = namespaces.getStore().getByKey(name);
        if (ns == null || ns.getMetadata().getDeletionTimestamp() != null || IGNORED_NAMESPACES.contains(name)) {
            failures.remove(name);
            return;
        }
        ConfigMap current = configMaps.getStore().getByKey(name + "/" + CONFIG_MAP);
        String wanted = rootsPem;
        try {
            if (current == null) {
                ConfigMap created = new ConfigMapBuilder()
                        .withNewMetadata().withName(CONFIG_MAP).withNamespace(name).endMetadata()
                        .addToData(KEY, wanted)
                        .build();
                try {
                    client.configMaps().inNamespace(name).resource(created).create();
                    count("create");
                } catch (KubernetesClientException e) {
                    if (e.getCode() != 409) {
                        throw e;
                    }
                    // Created meanwhile (its add event is on the way): compare with the live object.
                    replaceIfDifferent(client.configMaps().inNamespace(name).withName(CONFIG_MAP).get(), wanted);
                }
            } else {
                replaceIfDifferent(current, wanted);
            }
            failures.remove(name);
        } catch (KubernetesClientException e) {
            int attempt = failures.merge(name, 1, Integer::sum);
            long delay = Math.min(MAX_RETRY.toMillis(), FIRST_RETRY.toMillis() << Math.min(attempt - 1, 10));
            Counter.builder(FAILURES).description("Failed writes of ConfigMap istio-ca-root-cert")
                    .register(registry).increment();
            log.warn("could not write ConfigMap {}/{} (attempt {}), retrying in {} ms: {}", name, CONFIG_MAP, attempt,
                    delay, e.getMessage());
            executor.schedule(() -> enqueue(name), delay, TimeUnit.MILLISECONDS);
        }
    }

    private void replaceIfDifferent(ConfigMap current, String wanted) {
        if (current == null) {
            // Deleted meanwhile: its delete event re-queues the namespace.
            return;
        }
        Map<String, String> data = current.getData() == null ? Map.of() : current.getData();
        if (wanted.equals(data.get(KEY))) {
            return;
        }
        // resourceVersion kept: a concurrent writer makes this fail with 409 and the retry re-reads.
        ConfigMap replaced = new ConfigMapBuilder(current).withData(Map.of(KEY, wanted)).build();
        client.configMaps().inNamespace(current.getMetadata().getNamespace()).resource(replaced).update();
        count("update");
        log.info("ConfigMap {}/{} {} root-cert.pem", current.getMetadata().getNamespace(), CONFIG_MAP,
                data.containsKey(KEY) ? "had another" : "had no");
    }

    private void count(String action) {
        Counter.builder(WRITES).description("Writes of ConfigMap istio-ca-root-cert, by action")
                .tag("action", action).register(registry).increment();
    }

    private static String requireRoots(String rootsPem) {
        requireNonNull(rootsPem, "rootsPem");
        if (!rootsPem.contains("-----BEGIN CERTIFICATE-----")) {
            throw new IllegalArgumentException("rootsPem: no PEM certificate (expected: the mesh roots as PEM)");
        }
        return rootsPem;
    }
}
