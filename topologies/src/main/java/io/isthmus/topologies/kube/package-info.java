/**
 * The embedded Kubernetes API server of a simulated cluster: fabric8's mock in CRUD mode over
 * HTTPS, with Istio's resources and static discovery so kubectl and fabric8 informers work.
 */
package io.isthmus.topologies.kube;
