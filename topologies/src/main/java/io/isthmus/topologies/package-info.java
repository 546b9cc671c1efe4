/**
 * Local multi-cluster topologies: the topology model ({@link io.isthmus.topologies.Topology},
 * parsed from YAML with field-precise errors), the launcher that runs one as real processes on
 * loopback ({@link io.isthmus.topologies.LocalMesh}), and the demo traffic and checks behind
 * {@code meshctl demo --verify} ({@link io.isthmus.topologies.DemoTraffic},
 * {@link io.isthmus.topologies.DemoVerifier}). Addresses and process command lines follow
 * docs/design/contracts.md.
 */
package io.isthmus.topologies;
