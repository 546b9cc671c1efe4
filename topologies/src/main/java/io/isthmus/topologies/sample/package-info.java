/** The sample workload of local topologies: an echo server that says who answered and what it saw. */
package io.isthmus.topologies.sample;
