#!/usr/bin/env bash
# Makes a TEST certificate authority and certificates for the broker
# configuration in deploy/mosquitto/ with openssl: the broker's server
# certificate and one client certificate per depot, hub and cell. For tests
# and trials only: the keys are unencrypted and the CA key lies beside them.
#
# usage: scripts/test-ca.sh DIR [--broker-san SAN]... NAME...
#   DIR               where the files go (made if missing): ca.crt, ca.key,
#                     broker.crt, broker.key, and NAME.crt, NAME.key per client
#   --broker-san SAN  a subjectAltName the clients check the broker by, e.g.
#                     DNS:broker.example or IP:10.0.0.5 (repeatable; default
#                     DNS:localhost and IP:127.0.0.1)
#   NAME              a client, put into its certificate's CN, which the broker
#                     takes as its user name: a depot id ([a-z0-9-]{1,32}, its
#                     DEPOT_ID), or hub.NAME / cell.NAME for a hub or a cell
#
# Safe to run again: an existing CA, broker certificate or client certificate
# is kept (delete broker.crt to change the broker's names). Keys are ECDSA
# P-256 in PKCS#8 PEM, which both Mosquitto and the rustls clients read.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
dir=$1
shift
sans=()
names=()
while [ $# -gt 0 ]; do
    case $1 in
        --broker-san)
            [ $# -ge 2 ] || usage
            sans+=("$2")
            shift 2
            ;;
        -h | --help) usage ;;
        -*)
            echo "test-ca: unknown option $1" >&2
            exit 2
            ;;
        *)
            if [[ ! $1 =~ ^([a-z0-9-]{1,32}|(hub|cell)\.[a-z0-9-]{1,32})$ ]]; then
                echo "test-ca: '$1' is neither a depot id ([a-z0-9-]{1,32}) nor hub.NAME or cell.NAME" >&2
                exit 2
            fi
            names+=("$1")
            shift
            ;;
    esac
done
[ ${#sans[@]} -gt 0 ] || sans=(DNS:localhost IP:127.0.0.1)
command -v openssl >/dev/null || {
    echo "test-ca: openssl is missing: run scripts/install-deps.sh" >&2
    exit 1
}

mkdir -p "$dir"
cd "$dir"
umask 077

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# sign NAME CN EXTENSIONS: NAME.key (made if missing) → NAME.crt signed by the CA.
sign() {
    local name=$1 cn=$2 ext=$3
    [ -f "$name.key" ] || new_key "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
    printf '%b' "$ext" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 365 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
    chmod 644 "$name.crt"
    echo "test-ca: $dir/$name.crt (CN $cn)"
}

if [ ! -f ca.crt ]; then
    new_key ca.key
    openssl req -x509 -new -key ca.key -days 365 -subj "/CN=Depot Edge test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
    chmod 644 ca.crt
    echo "test-ca: $dir/ca.crt"
fi

if [ ! -f broker.crt ]; then
    san=$(IFS=,; echo "${sans[*]}")
    sign broker "${sans[0]#*:}" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=$san\n"
fi

for name in "${names[@]}"; do
    [ -f "$name.crt" ] || sign "$name" "$name" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
done
