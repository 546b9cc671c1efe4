package io.isthmus.controller.translate;

import io.isthmus.controller.config.VirtualServiceSpec;
import io.isthmus.discovery.ServiceView;
import java.util.Optional;
import java.util.function.Function;

/**
 * The port and outbound cluster a VirtualService destination names, as Istio's pilot picks them
 * for HTTP and TCP/TLS routes alike: the destination's own port, else the service's only port,
 * else the port the route was matched on.
 */
final class DestinationClusters {

    private DestinationClusters() {}

    /** {@code host} is the destination's host already resolved to a fully qualified name. */
    static int targetPort(Function<String, Optional<ServiceView>> services, String host,
            VirtualServiceSpec.Destination d, int port) {
        if (d.port() != null && d.port().number() != null) {
            return d.port().number();
        }
        Optional<ServiceView> service = services.apply(host);
        if (service.isPresent() && service.get().ports().size() == 1) {
            return service.get().ports().get(0).port();
        }
        return port;
    }

    /** {@code outbound|<port>|<subset>|<host>}, the subset empty when the destination names none. */
    static String clusterName(String host, VirtualServiceSpec.Destination d, int targetPort) {
        return d.subset() == null ? ResourceNames.outboundCluster(targetPort, host)
                : ResourceNames.outboundCluster(targetPort, d.subset(), host);
    }
}
