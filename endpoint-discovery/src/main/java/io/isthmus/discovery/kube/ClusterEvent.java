package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.List;

/**
 * What an informer saw, as a named event on the cluster's single work queue. Informer callbacks
 * only enqueue these; the queue thread alone applies them, so no state is shared between threads.
 */
sealed interface ClusterEvent {

    record ServiceUpserted(Service service) implements ClusterEvent {
        public ServiceUpserted {
            requireNonNull(service, "service");
        }
    }

    record ServiceDeleted(Service service) implements ClusterEvent {
        public ServiceDeleted {
            requireNonNull(service, "service");
        }
    }

    record EndpointSliceUpserted(EndpointSlice slice) implements ClusterEvent {
        public EndpointSliceUpserted {
            requireNonNull(slice, "slice");
        }
    }

    record EndpointSliceDeleted(EndpointSlice slice) implements ClusterEvent {
        public EndpointSliceDeleted {
            requireNonNull(slice, "slice");
        }
    }

    record PodUpserted(Pod pod) implements ClusterEvent {
        public PodUpserted {
            requireNonNull(pod, "pod");
        }
    }

    record PodDeleted(Pod pod) implements ClusterEvent {
        public PodDeleted {
            requireNonNull(pod, "pod");
        }
    }

    record NodeUpserted(Node node) implements ClusterEvent {
        public NodeUpserted {
            requireNonNull(node, "node");
        }
    }

    record NodeDeleted(Node node) implements ClusterEvent {
        public NodeDeleted {
            requireNonNull(node, "node");
        }
    }

    record NamespaceUpserted(Namespace namespace) implements ClusterEvent {
        public NamespaceUpserted {
            requireNonNull(namespace, "namespace");
        }
    }

    record NamespaceDeleted(Namespace namespace) implements ClusterEvent {
        public NamespaceDeleted {
            requireNonNull(namespace, "namespace");
        }
    }

    /** A ServiceEntry or WorkloadEntry ({@code kind} says which) was added or changed. */
    record IstioObjectUpserted(String kind, GenericKubernetesResource object) implements ClusterEvent {
        public IstioObjectUpserted {
            requireNonNull(kind, "kind");
            requireNonNull(object, "object");
        }
    }

    record IstioObjectDeleted(String kind, GenericKubernetesResource object) implements ClusterEvent {
        public IstioObjectDeleted {
            requireNonNull(kind, "kind");
            requireNonNull(object, "object");
        }
    }

    /** A multi-cluster services object ({@code kind} ServiceExport or ServiceImport) was added or changed. */
    record McsObjectUpserted(String kind, GenericKubernetesResource object) implements ClusterEvent {
        public McsObjectUpserted {
            requireNonNull(kind, "kind");
            requireNonNull(object, "object");
        }
    }

    record McsObjectDeleted(String kind, GenericKubernetesResource object) implements ClusterEvent {
        public McsObjectDeleted {
            requireNonNull(kind, "kind");
            requireNonNull(object, "object");
        }
    }

    /**
     * Every informer has listed its kind once. Carries the informers' caches at that moment:
     * handler notifications are delivered asynchronously and may lag the caches, so the queue
     * reconciles with these lists before it publishes the first state.
     */
    record InformersSynced(
            List<Service> services,
            List<EndpointSlice> slices,
            List<Pod> pods,
            List<Node> nodes,
            List<Namespace> namespaces,
            List<GenericKubernetesResource> serviceEntries,
            List<GenericKubernetesResource> workloadEntries,
            List<GenericKubernetesResource> serviceExports,
            List<GenericKubernetesResource> serviceImports) implements ClusterEvent {
        public InformersSynced {
            serviceExports = List.copyOf(serviceExports);
            serviceImports = List.copyOf(serviceImports);
            services = List.copyOf(services);
            slices = List.copyOf(slices);
            pods = List.copyOf(pods);
            nodes = List.copyOf(nodes);
            namespaces = List.copyOf(namespaces);
            serviceEntries = List.copyOf(serviceEntries);
            workloadEntries = List.copyOf(workloadEntries);
        }

        /** Without the multi-cluster services kinds (a cluster without their CRDs). */
        public InformersSynced(List<Service> services, List<EndpointSlice> slices, List<Pod> pods, List<Node> nodes,
                List<Namespace> namespaces, List<GenericKubernetesResource> serviceEntries,
                List<GenericKubernetesResource> workloadEntries) {
            this(services, slices, pods, nodes, namespaces, serviceEntries, workloadEntries, List.of(), List.of());
        }
    }
}
