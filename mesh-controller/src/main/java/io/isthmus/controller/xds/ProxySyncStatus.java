package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * How far one proxy has taken its configuration: per resource type, what was sent, what it
 * acknowledged and the last rejection (NACK).
 *
 * @param types short type name ({@code CDS}, {@code EDS}, {@code LDS}, {@code RDS}, {@code SDS}) → status
 */
public record ProxySyncStatus(String proxyId, String cluster, Map<String, TypeStatus> types) {

    public ProxySyncStatus {
        requireNonNull(proxyId, "proxyId");
        requireNonNull(cluster, "cluster");
        types = Map.copyOf(types);
    }

    /**
     * @param sentVersion   version of the last response sent, or empty
     * @param ackedVersion  version the proxy last accepted, or empty
     * @param lastNackError the error detail of the last rejection, or empty
     * @param lastNackVersion the version the proxy kept when it last rejected one (its last good)
     */
    public record TypeStatus(
            String sentVersion,
            String sentNonce,
            String ackedVersion,
            long responses,
            long nacks,
            String lastNackError,
            String lastNackVersion) {

        public TypeStatus {
            requireNonNull(sentVersion, "sentVersion");
            requireNonNull(sentNonce, "sentNonce");
            requireNonNull(ackedVersion, "ackedVersion");
            requireNonNull(lastNackError, "lastNackError");
            requireNonNull(lastNackVersion, "lastNackVersion");
        }

        static final TypeStatus EMPTY = new TypeStatus("", "", "", 0, 0, "", "");

        /** True when the proxy accepted the last version sent. */
        public boolean synced() {
            return !sentVersion.isEmpty() && sentVersion.equals(ackedVersion);
        }
    }
}
