package io.isthmus.gateway;

import io.isthmus.proxy.ProxyFlags;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The east-west gateway process: the sidecar's flags plus {@code --port 15443}; always node
 * type {@code router}. Runs until killed.
 */
@Command(name = "isthmus-gateway", mixinStandardHelpOptions = true,
    description = "The Isthmus east-west gateway: SNI passthrough, configured by xDS.")
public final class GatewayMain implements Callable<Integer> {

  @Mixin
  ProxyFlags flags;

  @Option(names = "--port", defaultValue = "15443", description = "the SNI passthrough port")
  int port;

  @Option(names = "--idle-timeout-seconds", defaultValue = "3600",
      description = "close a relayed connection idle both ways this long (default: ${DEFAULT-VALUE})")
  long idleTimeoutSeconds;

  @Option(names = "--drain-timeout-seconds", defaultValue = "45",
      description = "after POST /drain_listeners, close connections still open after this long"
          + " (default: ${DEFAULT-VALUE})")
  long drainTimeoutSeconds;

  @Option(names = "--expose-controller", paramLabel = "<address>",
      description = "also listen on 15012 and 15017 and relay them (plain TCP) to this controller"
          + " address: a primary's gateway, for remote clusters on other networks")
  String exposeController;

  public static void main(String[] args) {
    int code = new CommandLine(new GatewayMain()).execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  @Override
  public Integer call() throws Exception {
    GatewayLimits limits = GatewayLimits.DEFAULTS
        .withIdleTimeout(java.time.Duration.ofSeconds(idleTimeoutSeconds))
        .withDrainTimeout(java.time.Duration.ofSeconds(drainTimeoutSeconds));
    Gateway gateway;
    try {
      var options = flags.toOptions("router");
      io.isthmus.proxy.internal.ProcessDefaults.apply();
      var staticBootstrap = flags.staticBootstrap();
      if (staticBootstrap.isPresent() && exposeController != null) {
        throw new IllegalArgumentException("--expose-controller: a gateway with a static bootstrap"
            + " has no controller to carry (expected: one of --expose-controller or a static bootstrap)");
      }
      gateway = staticBootstrap.isPresent()
          ? Gateway.startStatic(options, port, limits, staticBootstrap.get())
          : Gateway.start(options, port, limits,
              java.util.Optional.ofNullable(exposeController).map(ControllerRoute::to));
    } catch (IllegalArgumentException e) {
      System.err.println("isthmus-gateway: " + e.getMessage());
      return 2;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      gateway.close();
      stopped.countDown();
    }, "isthmus-gateway-shutdown"));
    stopped.await();
    return 0;
  }
}
