#!/usr/bin/env bash
# Deletes the kind clusters made by up.sh and the generated certificates. NOT tested here (no Docker).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v kind >/dev/null 2>&1 || { echo "kind/down.sh: 'kind' is not installed" >&2; exit 2; }
for c in east west eu; do
  kind delete cluster --name "isthmus-$c" || true
done
rm -rf "$here/.certs"
