#!/usr/bin/env bash
# Where mydocker's time goes, phase by phase (uprobes + tracepoints under perf).
#   benches/profile.sh [-n 20] [--containers 50] [--ops run,rund,exec,ps,ps50,stop,rm]
# Builds the `profiling` profile (release code with symbols), installs
# linux-perf if missing, then runs benches/profile.py (see its --help).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
[[ $(id -u) == 0 ]] || { echo "profile.sh: must run as root" >&2; exit 1; }
if ! command -v perf >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf >/dev/null ||
        { echo "profile.sh: perf is missing and linux-perf could not be installed" >&2; exit 1; }
fi
(cd "$repo" && cargo build --profile profiling --quiet)
triple=$(sed -n 's/^target = "\(.*\)"/\1/p' "$repo/.cargo/config.toml" 2>/dev/null || true)
exec python3 "$here/profile.py" --binary "$repo/target/${triple:+$triple/}profiling/mydocker" "$@"
