package io.isthmus.controller.translate;

/** What kind of proxy asks for configuration, from the first segment of its xDS node id. */
public enum ProxyType {
    /** A workload's sidecar ({@code sidecar~...}). */
    SIDECAR,
    /**
     * A proxyless gRPC client: a {@code sidecar~...} node whose metadata says
     * {@code GENERATOR: grpc}, as Istio's gRPC bootstrap writes it.
     */
    GRPC,
    /** An east-west gateway in SNI-DNAT mode ({@code router~...}). */
    ROUTER
}
