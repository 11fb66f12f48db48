#!/usr/bin/env bash
# mydocker side by side with crun, runc and Podman, on one busybox rootfs.
#
#   benches/compare.sh              # full run: N=30 paired iterations, 50 containers (~5 min)
#   benches/compare.sh --quick      # smoke test: N=3, 3 containers (~15 s after the build)
#   benches/compare.sh --write-doc  # also regenerate the results in docs/performance.md
#   benches/compare.sh --ops lifecycle,exec --peers crun -n 50
#   benches/compare.sh --ops verbs --peers podman  # start, restart, stats --no-stream, ps --filter, 50 running
#   benches/compare.sh --ops oci,podman-oci  # the OCI face: mydocker-runc vs crun, runc
#   benches/compare.sh --ops volumes,cp -n 10 --cp-mib 1024  # data: binds per run, cp vs tar | tar
#   benches/compare.sh --ops load,layers,commit,save -n 5  # images: a Debian image made
#                                   # with mmdebstrap (or --image-tar ROOTFS.tar), vs podman, tar -x
#   benches/compare.sh --ops lifecycle,scale,dying --peers crun,podman --scale 300  # at scale:
#                                   # the lifecycle, exec, ps, stop, rm with 300 running (Podman
#                                   # 50), each of 300 starts, host memory per container (meminfo,
#                                   # slab), and a host left with dying memory cgroups
#   benches/compare.sh --ops network,net-throughput --peers podman -n 20  # networking: the
#                                   # bridge vs --network none, published port vs bridge address
#                                   # (on the host's network: only when asked for)
#
# Options are passed to benches/compare.py (see --help). This wrapper builds
# the release binary, installs the peers if they are missing (apt-get; an
# `apt-get update` only if the first install attempt fails) and says what it
# skipped and why. Set BENCH_NO_INSTALL=1 to never install, MYDOCKER_BIN to
# use another binary (no build then), MYDOCKER_RUNC to measure another OCI
# face (default: the mydocker binary through a symlink named mydocker-runc,
# made in the bench's temp dir). The OCI rows are skipped, with the reason,
# while mydocker-runc fails its smoke test.
#
# Exit status: 0 when mydocker ran every operation (peers missing or failing
# are reported, not fatal; slowness never fails); 1 if mydocker failed;
# 130 if interrupted. Cleanup of containers, mounts and cgroups happens in
# compare.py on exit, Ctrl-C (SIGINT), SIGTERM and SIGHUP.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

say() { printf '[compare.sh] %s\n' "$*" >&2; }
have() { local p; p=$(command -v "$1") && [[ -f $p && -x $p ]]; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    echo
    exec python3 "$here/compare.py" --help
fi

if [[ $(id -u) != 0 ]]; then
    say "must run as root (containers, mounts, cgroups)"
    exit 1
fi
command -v python3 >/dev/null || { say "python3 is required"; exit 1; }

# Which peers were asked for (--peers a,b or --peers=a,b).
peers="crun,runc,podman"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --peers) peers=${args[i + 1]:-} ;;
        --peers=*) peers=${args[i]#--peers=} ;;
    esac
done

# ---- mydocker
bin=${MYDOCKER_BIN:-}
if [[ -z $bin ]]; then
    say "cargo build --release"
    # Once more on failure: a concurrent cargo run in the same target dir can break one build.
    (cd "$repo" && { cargo build --release --quiet || { sleep 5; cargo build --release --quiet; }; }) ||
        { say "mydocker build failed"; exit 1; }
    # .cargo/config.toml names the build target (static linking needs one).
    triple=$(sed -n 's/^target = "\(.*\)"/\1/p' "$repo/.cargo/config.toml" 2>/dev/null || true)
    # Cargo builds into $CARGO_TARGET_DIR when it is set.
    bin=${CARGO_TARGET_DIR:-$repo/target}/${triple:+$triple/}release/mydocker
fi
[[ -x $bin ]] || { say "no mydocker binary at $bin"; exit 1; }

# ---- peers
# busybox-static provides /bin/busybox for mydocker's default image; podman
# needs runc (it runs with --runtime runc, crun refusing hybrid cgroups).
want=()
IFS=, read -r -a asked <<<"$peers"
for p in "${asked[@]}"; do
    [[ -n $p ]] || continue
    have "$p" || want+=("$p")
    if [[ $p == podman ]] && ! have runc && [[ " ${want[*]} " != *" runc "* ]]; then
        want+=(runc)
    fi
done
[[ -x /bin/busybox ]] || want+=(busybox-static)

install_log=$(mktemp /tmp/mydocker-bench-apt.XXXXXX)
trap 'rm -f "$install_log"' EXIT
declare -A why=()
try_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$install_log" 2>&1; }
apt_error() { # the last error apt printed, or its exit status
    local e
    e=$(grep -E '^(E|W): ' "$install_log" | tail -1)
    echo "${e:-apt-get install exited $1}"
}

if ((${#want[@]})); then
    if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
        say "not installing (BENCH_NO_INSTALL=1): ${want[*]}"
        for p in "${want[@]}"; do why[$p]="not installed; BENCH_NO_INSTALL=1"; done
    elif ! command -v apt-get >/dev/null; then
        say "no apt-get: cannot install ${want[*]}"
        for p in "${want[@]}"; do why[$p]="not installed; no apt-get to install it"; done
    else
        say "installing: ${want[*]} (apt-get install -y)"
        if ! try_install "${want[@]}"; then
            say "apt-get install failed; running apt-get update, then installing one by one"
            DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$install_log" 2>&1 || say "apt-get update failed too"
            for p in "${want[@]}"; do
                : >"$install_log"
                try_install "$p" || { rc=$?; why[$p]="apt-get install $p failed: $(apt_error $rc)"; }
            done
        fi
    fi
fi

skip_reasons=""
for p in "${asked[@]}"; do
    [[ -n $p ]] || continue
    if have "$p"; then
        say "peer $p: $(command -v "$p")"
    else
        reason=${why[$p]:-"not installed, and apt-get install $p did not provide it"}
        say "SKIP peer $p: $reason"
        skip_reasons+="$p=$reason"$'\n'
    fi
done
export BENCH_SKIP_REASONS=$skip_reasons
[[ -x /bin/busybox ]] || { say "mydocker's default image needs /bin/busybox (package busybox-static)"; exit 1; }

# Python in the foreground (exec): it gets Ctrl-C directly and cleans up.
trap - EXIT
rm -f "$install_log"
exec python3 "$here/compare.py" --mydocker "$bin" "$@"
