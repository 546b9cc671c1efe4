#!/usr/bin/env bash
# openssl s_client against a sidecar's mTLS inbound port, with a client certificate the mesh's CA
# issued (through the real CSR API, with a workload's service-account token), on a running local
# mesh (./isthmus demo). Shows the server's SPIFFE SAN and its chain to the mesh root.
#
#   scripts/openssl-check.sh [run-dir] [client-cluster] [server-cluster] [server-app]
#   defaults:                .isthmus/run/demo  west       east             helloworld
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${1:-$root/.isthmus/run/demo}"
client_cluster="${2:-west}"
server_cluster="${3:-east}"
server_app="${4:-helloworld}"
trust_domain="cluster.local"
port=5000

die() { echo "openssl-check: $*" >&2; exit 2; }
[ -f "$run/root-cert.pem" ] || die "$run: no root-cert.pem (is the mesh up? './isthmus demo')"
[ -f "$root/meshctl/target/runtime-classpath.txt" ] || die "build first: ./isthmus --help"
cp="$root/meshctl/target/classes:$(cat "$root/meshctl/target/runtime-classpath.txt")"

# '--flag value' from the command line a process log starts with ('# java ... --bind 127.101.0.1 ...').
flag() { head -n 1 "$1" | tr ' ' '\n' | grep -A1 -x -- "$2" | tail -n 1; }

ca="$(flag "$run/$client_cluster/controller.log" --bind):15012"
token="$(ls "$run/$client_cluster/tokens/"curl*.jwt | head -n 1)"
server_log="$(grep -l -- "--pod-name $server_app" "$run/$server_cluster"/*.log | xargs grep -l ProxyMain | head -n 1)"
server="$(flag "$server_log" --pod-ip):$port"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "# client certificate for sample/curl from the CA at $ca (token $(basename "$token"))"
java -cp "$cp" "$root/scripts/MeshCert.java" "$ca" "$run/root-cert.pem" "$token" "$trust_domain" sample curl "$out" 2>/dev/null
openssl x509 -in "$out/chain.pem" -noout -ext subjectAltName
echo
echo "# openssl s_client -connect $server (the $server_app sidecar in $server_cluster) -CAfile root-cert.pem"
# The server's leaf carries only a SPIFFE URI SAN (no host name): verify the chain, not a name.
echo | openssl s_client -connect "$server" -cert "$out/chain.pem" -key "$out/key.pem" \
    -CAfile "$run/root-cert.pem" -showcerts -verify_return_error 2>&1 \
  | tee "$out/s_client.txt" \
  | grep -E '^(Certificate chain| [0-9]+ s:|   i:|   a:|   v:|Verification|Verify return code|Protocol|Cipher|New,)' || true
echo
echo "# the server's leaf"
awk '/-----BEGIN CERTIFICATE-----/{n++} n==1' "$out/s_client.txt" | sed -n '/BEGIN/,/END/p' \
  | openssl x509 -noout -subject -issuer -ext subjectAltName
echo
echo "# a request over the same mTLS port: the app sees the client's SPIFFE identity"
printf 'GET /openssl-check HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$server_app" \
  | openssl s_client -connect "$server" -cert "$out/chain.pem" -key "$out/key.pem" -CAfile "$run/root-cert.pem" \
      -quiet -ign_eof -verify_return_error 2>/dev/null \
  | tr -d '\r' | sed -n '1p;/^{/p'
