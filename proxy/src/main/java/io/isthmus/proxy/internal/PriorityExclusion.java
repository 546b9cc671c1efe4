package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Set;

/**
 * The hosts a retry avoids under Envoy's {@code previous_priorities}: the failed hosts, and
 * every host of the priority levels in {@code priorities} (bit {@code n} for level {@code n}),
 * answered by {@link #contains} without listing them. Iteration and size cover the failed
 * hosts only; the picker only asks {@code contains}. Owned by one exchange.
 */
final class PriorityExclusion extends AbstractSet<UpstreamEndpoint> {

  private final Set<UpstreamEndpoint> hosts;
  private final long priorities;

  PriorityExclusion(Set<UpstreamEndpoint> hosts, long priorities) {
    this.hosts = requireNonNull(hosts, "hosts");
    this.priorities = priorities;
  }

  @Override
  public boolean contains(Object o) {
    return o instanceof UpstreamEndpoint e
        && ((priorities & (1L << Math.min(e.priority(), 63))) != 0 || hosts.contains(e));
  }

  @Override
  public Iterator<UpstreamEndpoint> iterator() {
    return hosts.iterator();
  }

  @Override
  public int size() {
    return hosts.size();
  }
}
