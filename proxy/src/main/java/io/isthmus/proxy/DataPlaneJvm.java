package io.isthmus.proxy;

import java.util.ArrayList;
import java.util.List;

/**
 * The JVM flags of a production data-plane process (the sidecar, the east-west gateway), in one
 * place for every way of starting one: the local launcher ({@code topologies}' {@code LocalMesh},
 * behind {@code isthmus demo} and {@code meshctl up}), {@code isthmus bench} and the container
 * images (the Jib {@code jvmFlags} of {@code proxy} and {@code east-west-gateway}, which
 * {@code DataPlaneJvmTest} holds to {@link #FLAGS}).
 *
 * <p>Why these: the JIT is the JVM's default, tiered up to C2. On the bench (quiet machine,
 * io_uring, docs/design/proxy-performance.md) C1 alone ({@code -XX:TieredStopAtLevel=1}) cost
 * 1.8× the CPU per request on the plain hop and 2.0× on the mTLS path, for 20 % less resident
 * memory; a sidecar serves for days, so the compiler's start-up work pays back within its first
 * minute of traffic. The serial collector: a sidecar's heap is small and its event loops are
 * few, so one GC thread that stops the process briefly costs less than concurrent collectors'
 * background threads and barriers. Netty's leak detection is off (the process sets it at start,
 * {@code ProcessDefaults}; {@code -Dio.netty.leakDetection.level=simple} turns it back on).
 */
public final class DataPlaneJvm {

  /** Flags for every data-plane JVM, in a container or not. */
  public static final List<String> FLAGS = List.of(
      "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData");

  /** The heap of a data-plane JVM with no container memory limit to size it from. */
  public static final List<String> LOCAL_HEAP = List.of("-Xms64m", "-Xmx256m");

  /** The heap inside a container: a share of the container's memory limit. */
  public static final List<String> CONTAINER_HEAP = List.of("-XX:MaxRAMPercentage=75");

  private DataPlaneJvm() {}

  /** {@link #FLAGS} and {@link #LOCAL_HEAP}: a sidecar or gateway started on this machine. */
  public static List<String> local() {
    return concat(FLAGS, LOCAL_HEAP);
  }

  /** {@link #FLAGS} and {@link #CONTAINER_HEAP}: the images' {@code jvmFlags}. */
  public static List<String> container() {
    return concat(FLAGS, CONTAINER_HEAP);
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return List.copyOf(all);
  }
}
