#!/usr/bin/env bash
# Creates three kind clusters (east, west: net1; eu: net2) and installs Isthmus into them.
# NOT tested on the machine Isthmus is developed on (no Docker there): see README.md.
#   topologies/kind/up.sh [--primary-remote]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
isthmus="$root/isthmus"
certs="$here/.certs"
primary_remote=false
[ "${1:-}" = "--primary-remote" ] && primary_remote=true

die() { echo "kind/up.sh: $*" >&2; exit 2; }
for tool in docker kind kubectl openssl; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (needed: docker, kind, kubectl, openssl)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' fails); start Docker first"
"$isthmus" manifest generate --help >/dev/null 2>&1 \
  || die "'./isthmus manifest generate' is not available in this build; it is needed to install Isthmus"

declare -A network=([east]=net1 [west]=net1 [eu]=net2)
declare -A region=([east]=us-east [west]=us-west [eu]=eu-central)

# One mesh root, one intermediate per cluster, in Istio's cacerts layout.
mkdir -p "$certs"
if [ ! -f "$certs/root-cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/O=Isthmus/CN=Isthmus kind root" -keyout "$certs/root-key.pem" -out "$certs/root-cert.pem" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

for c in east west eu; do
  kind get clusters 2>/dev/null | grep -qx "isthmus-$c" \
    || kind create cluster --config "$here/$c.yaml" --wait 120s
  ctx="kind-isthmus-$c"
  kubectl --context "$ctx" label node --all --overwrite \
    "topology.kubernetes.io/region=${region[$c]}" "topology.kubernetes.io/zone=${region[$c]}-1a"
  kubectl --context "$ctx" create namespace istio-system --dry-run=client -o yaml | kubectl --context "$ctx" apply -f -
  kubectl --context "$ctx" label namespace istio-system --overwrite "topology.istio.io/network=${network[$c]}"

  d="$certs/$c"; mkdir -p "$d"
  if [ ! -f "$d/ca-cert.pem" ]; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Isthmus/OU=$c/CN=Intermediate CA $c" \
      -keyout "$d/ca-key.pem" -out "$d/ca.csr"
    openssl x509 -req -in "$d/ca.csr" -CA "$certs/root-cert.pem" -CAkey "$certs/root-key.pem" -CAcreateserial \
      -days 365 -out "$d/ca-cert.pem" \
      -extfile <(printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')
    cat "$d/ca-cert.pem" "$certs/root-cert.pem" > "$d/cert-chain.pem"
    cp "$certs/root-cert.pem" "$d/root-cert.pem"
  fi
  kubectl --context "$ctx" -n istio-system create secret generic cacerts --dry-run=client -o yaml \
    --from-file="$d/ca-cert.pem" --from-file="$d/ca-key.pem" --from-file="$d/root-cert.pem" \
    --from-file="$d/cert-chain.pem" | kubectl --context "$ctx" apply -f -
done

install() { # cluster, extra manifest flags...
  local c="$1"; shift
  "$isthmus" manifest generate --cluster "$c" --network "${network[$c]}" "$@" \
    | kubectl --context "kind-isthmus-$c" apply -f -
}

install east
install eu
if $primary_remote; then
  # west has no controller: east watches west's API server through a remote secret.
  "$isthmus" create-remote-secret --context kind-isthmus-west --name west \
    | kubectl --context kind-isthmus-east apply -f -
  install west --remote --primary east
else
  install west
fi

echo "Isthmus installed into kind clusters isthmus-east, isthmus-west, isthmus-eu (contexts kind-isthmus-*)."
echo "Check: $isthmus proxy-status --context kind-isthmus-west"
