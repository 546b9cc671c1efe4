/** meshctl, the Isthmus command-line tool (picocli). Entry point: {@link io.isthmus.meshctl.Meshctl}. */
package io.isthmus.meshctl;
