package io.isthmus.controller.config;

import java.util.Map;

/**
 * The spec of an Istio {@code PeerAuthentication} (security.istio.io v1/v1beta1): which inbound
 * connections a workload accepts. In the root namespace ({@code istio-system}) without selector it
 * applies mesh-wide, elsewhere without selector namespace-wide, with a selector to the matching
 * workloads; the narrowest wins, and {@code UNSET} inherits from the next wider one.
 *
 * @param portLevelMtls target port → mode; only with a selector (as Istio)
 */
public record PeerAuthenticationSpec(WorkloadSelector selector, Mtls mtls, Map<Integer, Mtls> portLevelMtls) {

    /** {@code mtls.mode}: absent means {@code UNSET}. */
    public enum Mode {
        UNSET, DISABLE, PERMISSIVE, STRICT
    }

    public PeerAuthenticationSpec {
        portLevelMtls = Specs.map(portLevelMtls);
    }

    public record Mtls(Mode mode) {

        public Mtls {
            mode = mode == null ? Mode.UNSET : mode;
        }
    }

    /** The workload-wide mode this object sets ({@code UNSET} when it sets none). */
    public Mode mode() {
        return mtls == null ? Mode.UNSET : mtls.mode();
    }
}
