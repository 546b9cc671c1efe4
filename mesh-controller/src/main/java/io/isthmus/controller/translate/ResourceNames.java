package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

/**
 * The xDS resource names of the contract ({@code docs/design/contracts.md}, "xDS served by the
 * controller"). Names are generated here only; nothing parses them back (provenance travels in
 * endpoint metadata instead).
 */
public final class ResourceNames {

    /** SDS name of the mesh trust bundle (validation context). */
    public static final String ROOT_CA_SECRET = "ROOTCA";
    /** SDS name of the proxy's own certificate; the proxy provides it itself (CSR API). */
    public static final String DEFAULT_SECRET = "default";
    public static final String VIRTUAL_OUTBOUND = "virtualOutbound";
    public static final String VIRTUAL_INBOUND = "virtualInbound";
    public static final int VIRTUAL_OUTBOUND_PORT = 15001;
    public static final int VIRTUAL_INBOUND_PORT = 15006;
    public static final int GATEWAY_PORT = 15443;
    /** Node metadata value of {@code ROUTER_MODE} for an SNI-passthrough east-west gateway. */
    public static final String SNI_DNAT = "sni-dnat";

    private ResourceNames() {}

    /** {@code outbound|<port>||<host>}: a sidecar's cluster for one service port. */
    public static String outboundCluster(int port, String host) {
        return "outbound|" + port + "||" + requireNonNull(host, "host");
    }

    /** {@code outbound|<port>|<subset>|<host>}: a sidecar's cluster for one DestinationRule subset of a service port. */
    public static String outboundCluster(int port, String subset, String host) {
        return "outbound|" + port + '|' + requireNonNull(subset, "subset") + '|' + requireNonNull(host, "host");
    }

    /** {@code outbound_.<port>_.<subset>_.<host>}: the SNI of a subset, also the gateway's cluster name. */
    public static String sni(int port, String subset, String host) {
        return "outbound_." + port + "_." + requireNonNull(subset, "subset") + "_." + requireNonNull(host, "host");
    }

    /** {@code inbound|<port>||}: a sidecar's cluster for its own workload's port. */
    public static String inboundCluster(int port) {
        return "inbound|" + port + "||";
    }

    /** {@code outbound_.<port>_._.<host>}: the SNI of a service port, also the gateway's cluster name. */
    public static String sni(int port, String host) {
        return "outbound_." + port + "_._." + requireNonNull(host, "host");
    }

    /** {@code 0.0.0.0_<port>}: the outbound listener of a service port. */
    public static String outboundListener(int port) {
        return "0.0.0.0_" + port;
    }

    /** {@code <port>}: the route configuration of an outbound service port. */
    public static String routeConfig(int port) {
        return Integer.toString(port);
    }
}
