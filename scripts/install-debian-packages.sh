#!/usr/bin/env bash
# The Debian packages `make test` needs beyond the machine's own, installed once:
#   buildah, mmdebstrap  the image build without a Docker engine (make image)
#   postgresql-15        a PostgreSQL server built with TLS, for
#                        tests/e2e/test_secured_transport.py (the embedded wheel has none)
# No service starts during the install (the package's own PostgreSQL cluster stays down).
set -euo pipefail
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql-15)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
