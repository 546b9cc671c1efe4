package io.isthmus.topologies.bench;

/**
 * Where every process of a bench run listens, on loopback {@code 127.<base>.0.0/16} (the
 * topology files' address plan: {@code .0.2} gateway, {@code .1.n} pod IPs, {@code .2.n} pod
 * localhosts; {@code .3.n} the HAProxy peers).
 */
record BenchLayout(int base) {

  static final int APP_PORT = 5000;
  static final int APP_TLS_PORT = 5443;
  static final int OUTBOUND_PORT = 15001;
  static final int GATEWAY_PORT = 15443;
  static final int HAPROXY_PLAIN_PORT = 8080;
  static final int HAPROXY_TLS_PORT = 8081;
  static final int HAPROXY_SERVER_PORT = 8443;
  static final String TRUST_DOMAIN = "cluster.local";
  static final String NAMESPACE = "bench";
  static final String SERVICE = "server.bench.svc.cluster.local";
  /** Host headers that pick the client sidecar's route: one per path. */
  static final String PLAIN_HOST = "plain.bench";
  static final String MTLS_HOST = "server.bench";
  /** The same server sidecar, reached over HTTP/2 between the sidecars. */
  static final String MTLS_H2_HOST = "server-h2.bench";
  static final String GATEWAY_HOST = "gateway.bench";

  BenchLayout {
    if (base < 1 || base > 254) {
      throw new IllegalArgumentException("address base: " + base
          + " (expected: 1..254, the second byte of 127.X.0.0/16)");
    }
  }

  String gateway() {
    return "127." + base + ".0.2";
  }

  String clientPod() {
    return "127." + base + ".1.1";
  }

  String serverPod() {
    return "127." + base + ".1.2";
  }

  String clientLocal() {
    return "127." + base + ".2.1";
  }

  /** The server pod's localhost, where the backend (the app) listens. */
  String app() {
    return "127." + base + ".2.2";
  }

  String haproxyClient() {
    return "127." + base + ".3.1";
  }

  String haproxyServer() {
    return "127." + base + ".3.2";
  }

  static String sni() {
    return "outbound_." + APP_PORT + "_._." + SERVICE;
  }
}
