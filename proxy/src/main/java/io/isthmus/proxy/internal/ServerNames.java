package io.isthmus.proxy.internal;

import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.internal.tcnative.SSL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * Puts an SNI host name on a client engine, including Istio's
 * {@code outbound_.<port>_.<subset>_.<host>}. Both Netty's OpenSSL engine and the JDK's
 * {@code SNIHostName} silently drop or refuse names with underscores, so the name is set
 * through BoringSSL directly, or as a raw {@code host_name} entry on the JDK engine.
 * Public for the gateway module's tests only.
 */
public final class ServerNames {

  private ServerNames() {}

  public static void set(SSLEngine engine, String serverName) {
    if (engine instanceof ReferenceCountedOpenSslEngine openSsl) {
      synchronized (openSsl) {
        SSL.setTlsExtHostName(openSsl.sslPointer(), serverName);
      }
      return;
    }
    SSLParameters parameters = engine.getSSLParameters();
    parameters.setServerNames(List.of(new RawHostName(serverName)));
    engine.setSSLParameters(parameters);
  }

  /** A {@code host_name} SNI entry without the JDK's IDN/LDH check. */
  private static final class RawHostName extends SNIServerName {
    RawHostName(String name) {
      super(0, name.getBytes(StandardCharsets.US_ASCII));
    }
  }
}
