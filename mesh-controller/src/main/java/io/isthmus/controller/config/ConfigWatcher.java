package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.isthmus.discovery.kube.InformerRetry;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches VirtualService, DestinationRule, Gateway and ServiceEntry (networking.istio.io v1,
 * v1beta1 and v1alpha3) and PeerAuthentication, AuthorizationPolicy and RequestAuthentication
 * (security.istio.io v1 and v1beta1) and Isthmus' RateLimitPolicy (policy.isthmus.io v1alpha1)
 * in every namespace of one cluster and hands each object to a
 * {@link ConfigStore}. Each informer retries a failed list or watch until closed
 * ({@link InformerRetry}), the first list too: the store is marked synced once every kind has
 * listed or been found not served (404), so a cluster without Istio's CRDs still gets ready and
 * a CRD installed later is watched from then on. The caller owns the client; {@link #close()}
 * stops the informers.
 */
public final class ConfigWatcher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ConfigWatcher.class);

    private final List<SharedIndexInformer<GenericKubernetesResource>> informers = new ArrayList<>();

    private ConfigWatcher() {}

    /**
     * Starts every informer, counting failed lists and watches in {@code registry}; the store is
     * marked synced once each kind has listed or been found not served.
     */
    public static ConfigWatcher start(KubernetesClient client, ConfigStore store, MeterRegistry registry) {
        requireNonNull(client, "client");
        requireNonNull(store, "store");
        requireNonNull(registry, "registry");
        ConfigWatcher watcher = new ConfigWatcher();
        List<CompletableFuture<Void>> synced = new ArrayList<>();
        for (ConfigKind kind : ConfigKind.values()) {
            for (String version : kind.versions()) {
                ResourceDefinitionContext context = new ResourceDefinitionContext.Builder()
                        .withGroup(kind.group())
                        .withVersion(version)
                        .withKind(kind.kind())
                        .withPlural(kind.plural())
                        .withNamespaced(true)
                        .build();
                String apiVersion = kind.group() + '/' + version;
                SharedIndexInformer<GenericKubernetesResource> informer = client.genericKubernetesResources(context)
                        .inAnyNamespace()
                        .runnableInformer(0);
                informer.addEventHandler(new Handler(store, kind, apiVersion));
                watcher.informers.add(informer);
                synced.add(InformerRetry.startOptional(informer, apiVersion + " " + kind.kind(), registry));
            }
        }
        CompletableFuture.allOf(synced.toArray(CompletableFuture[]::new)).thenRun(store::markSynced);
        return watcher;
    }

    @Override
    public void close() {
        informers.forEach(SharedIndexInformer::close);
    }

    private record Handler(ConfigStore store, ConfigKind kind, String apiVersion)
            implements ResourceEventHandler<GenericKubernetesResource> {

        @Override
        public void onAdd(GenericKubernetesResource obj) {
            toResource(obj).ifPresent(store::upsert);
        }

        @Override
        public void onUpdate(GenericKubernetesResource oldObj, GenericKubernetesResource newObj) {
            toResource(newObj).ifPresent(store::upsert);
        }

        @Override
        public void onDelete(GenericKubernetesResource obj, boolean deletedFinalStateUnknown) {
            toResource(obj).ifPresent(store::delete);
        }

        private Optional<ConfigResource> toResource(GenericKubernetesResource obj) {
            try {
                Map<String, Object> object = new LinkedHashMap<>();
                object.put("kind", kind.kind());
                object.put("apiVersion", apiVersion);
                Map<String, Object> meta = new LinkedHashMap<>();
                meta.put("name", obj.getMetadata().getName());
                meta.put("namespace", obj.getMetadata().getNamespace());
                meta.put("creationTimestamp", obj.getMetadata().getCreationTimestamp());
                object.put("metadata", meta);
                object.put("spec", obj.getAdditionalProperties().get("spec"));
                return Optional.of(ConfigResource.fromObject(object, "default"));
            } catch (RuntimeException e) {
                log.warn("ignoring {} {}/{}: {}", kind.kind(), obj.getMetadata().getNamespace(),
                        obj.getMetadata().getName(), e.getMessage());
                return Optional.empty();
            }
        }
    }
}
