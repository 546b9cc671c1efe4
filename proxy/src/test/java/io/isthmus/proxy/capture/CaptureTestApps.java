package io.isthmus.proxy.capture;

import io.isthmus.proxy.testing.HeaderEchoApp;
import java.util.ArrayList;
import java.util.List;

/**
 * A child process for TransparentCaptureNetnsTest: header-echo apps on each {@code address:port}
 * argument, until killed. Prints READY once all listen.
 */
public final class CaptureTestApps {

  private CaptureTestApps() {}

  public static void main(String[] args) throws Exception {
    List<HeaderEchoApp> apps = new ArrayList<>();
    for (String arg : args) {
      int colon = arg.lastIndexOf(':');
      apps.add(new HeaderEchoApp(arg.substring(0, colon),
          Integer.parseInt(arg.substring(colon + 1))));
    }
    System.out.println("READY " + apps.size());
    System.out.flush();
    Thread.currentThread().join();
  }
}
