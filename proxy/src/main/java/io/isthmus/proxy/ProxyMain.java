package io.isthmus.proxy;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * The sidecar process: {@code java io.isthmus.proxy.ProxyMain --pod-ip ... --controller
 * host:15012 --root-cert f --token-file f}, or without a controller {@code --static-config f
 * --cert-chain f --key f --root-cert f}. Runs until killed.
 */
@Command(name = "isthmus-proxy", mixinStandardHelpOptions = true,
    description = "The Isthmus sidecar, configured by xDS from its cluster's controller"
        + " (or from a file, --static-config).")
public final class ProxyMain implements Callable<Integer> {

  @Mixin
  ProxyFlags flags;

  public static void main(String[] args) {
    int code = new CommandLine(new ProxyMain()).execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  @Override
  public Integer call() throws Exception {
    Sidecar sidecar;
    try {
      ProxyOptions options = flags.toOptions(null);
      io.isthmus.proxy.internal.ProcessDefaults.apply();
      var staticBootstrap = flags.staticBootstrap();
      sidecar = staticBootstrap.isPresent()
          ? Sidecar.startStatic(options, staticBootstrap.get()) : Sidecar.start(options);
    } catch (IllegalArgumentException e) {
      System.err.println("isthmus-proxy: " + e.getMessage());
      return 2;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      sidecar.close();
      stopped.countDown();
    }, "isthmus-proxy-shutdown"));
    stopped.await();
    return 0;
  }
}
