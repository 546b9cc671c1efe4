package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.isthmus.discovery.kube.InformerRetry;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows Istio's mesh config, the {@code mesh} key of ConfigMap {@code istio-system/istio}, and
 * hands each readable version to a listener as {@link MeshSettings}. A missing ConfigMap or key
 * means Istio's defaults; a version that does not parse is logged with the field at fault,
 * counted in {@value #REJECTED_METER}, and the last good settings stay in force. The caller owns
 * the client; {@link #close()} stops the informer. Callbacks run on the informer's thread.
 */
public final class MeshSettingsWatcher implements AutoCloseable {

    /** Micrometer name of the counter of mesh config versions that could not be read. */
    public static final String REJECTED_METER = "isthmus.config.mesh.rejected";

    private static final Logger log = LoggerFactory.getLogger(MeshSettingsWatcher.class);

    private final SharedIndexInformer<ConfigMap> informer;

    private MeshSettingsWatcher(SharedIndexInformer<ConfigMap> informer) {
        this.informer = informer;
    }

    /**
     * Starts watching.
     *
     * @param mcsClusterLocal Istio's {@code ENABLE_MCS_CLUSTER_LOCAL}, which comes from the
     *                        controller's environment rather than the ConfigMap
     */
    public static MeshSettingsWatcher start(KubernetesClient client, boolean mcsClusterLocal,
            Consumer<MeshSettings> listener, MeterRegistry registry) {
        requireNonNull(client, "client");
        requireNonNull(listener, "listener");
        requireNonNull(registry, "registry");
        Counter rejected = Counter.builder(REJECTED_METER)
                .description("Versions of the istio-system/istio mesh config that could not be read")
                .register(registry);
        SharedIndexInformer<ConfigMap> informer = client.configMaps()
                .inNamespace(MeshSettings.CONFIG_MAP_NAMESPACE)
                .withName(MeshSettings.CONFIG_MAP_NAME)
                .runnableInformer(0);
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(ConfigMap map) {
                read(map);
            }

            @Override
            public void onUpdate(ConfigMap before, ConfigMap after) {
                read(after);
            }

            @Override
            public void onDelete(ConfigMap map, boolean deletedFinalStateUnknown) {
                listener.accept(MeshSettings.DEFAULT.withMcsClusterLocal(mcsClusterLocal));
            }

            private void read(ConfigMap map) {
                String yaml = map.getData() == null ? null : map.getData().get(MeshSettings.CONFIG_MAP_KEY);
                try {
                    listener.accept(MeshSettings.parse(yaml == null ? "" : yaml).withMcsClusterLocal(mcsClusterLocal));
                } catch (ConfigException e) {
                    rejected.increment();
                    log.warn("ConfigMap {}/{} key {}: {}; keeping the last good mesh settings",
                            MeshSettings.CONFIG_MAP_NAMESPACE, MeshSettings.CONFIG_MAP_NAME,
                            MeshSettings.CONFIG_MAP_KEY, e.getMessage());
                }
            }
        });
        InformerRetry.install(informer, "mesh-config", registry);
        informer.start();
        return new MeshSettingsWatcher(informer);
    }

    @Override
    public void close() {
        informer.close();
    }
}
