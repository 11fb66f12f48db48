#!/usr/bin/env python3
"""mydocker side by side with crun, runc and Podman, on one busybox rootfs.

Driven by benches/compare.sh (which builds mydocker and installs the peers);
run that, not this. Progress goes to stderr, results to stdout.

Method, in short (docs/performance.md has the long version):
  * every operation is run for each tool in the same iteration, tools in a
    rotating order; warm-up iterations are discarded;
  * the ratio mydocker/tool is computed per iteration, then its median is
    reported, so drift of a shared machine cancels out;
  * every command is started the same way for every tool (fork + exec from
    this process, stdin/stdout on /dev/null) and timed from fork to wait4(),
    which also gives the command's peak RSS (what `/usr/bin/time -f %M` shows).

The daily verbs (op verbs; issue 16): start of an ended container, restart
-t 0, stats --no-stream and ps --filter name=N, each with --containers
running, against Podman.

Data (ops volumes, cp; issue 14): run --rm true with 0, 1 and 10 read-only
binds (and podman with 0 and 10); cp of a --cp-mib tree (1 MiB files and
2000 small ones) into and out of a running container vs tar | tar of the same
tree on the host, the floor.

The OCI face (ops oci, podman-oci): mydocker-runc, crun and runc driven the
same way on bundles of one config, verb by verb as conmon and containerd's shim
call them (create+start, run = create+start+wait+delete of `true`, exec, state,
delete), each warm (back to back) and cold (alone after --cold-gap idle: a
cgroup v1 migration pays an RCU grace period then); and `podman run --rm` with
mydocker-runc vs with runc. Ratios there are mydocker-runc/tool. A
mydocker-runc that fails its smoke test is skipped and reported, not fatal.

Images (ops load, layers, commit, save; issue 12): one Debian image per run
(mmdebstrap --variant=minbase bookworm, else --image-tar, else the host's
/usr/lib and /usr/share), imported into Podman's private store and saved as a
docker-archive. load: mydocker into a fresh data root vs podman load into a
store of its own (rmi after) vs tar -x of the archive's layer tars (the
floor); what an iteration wrote is removed and synced, untimed. layers: run
--rm of the 1-layer image vs one with 10 more (built by podman run + commit).
commit: a container with a few MB of changes. save: the Debian image.

Registries (op pull; issue 13): the Debian image pushed by Podman (gzip) to
a docker-registry on 127.0.0.1 started for the run. pull-cold: mydocker into
a fresh data root vs podman pull into a store of its own (rmi after) vs
skopeo copy to an OCI layout dir (no unpacking: a lower bound of the
transfer). pull-present: the same pull with every layer already stored.
"""

import argparse
import ctypes
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# What the containers run.
CMDS = {
    "true": ["true"],
    "sleep": ["sleep", "1000"],
    # Reacts to SIGTERM at once: `wait` is interrupted by a trapped signal,
    # where a foreground `sleep` would delay the trap until it returns.
    "trap": ["sh", "-c", 'trap "exit 0" TERM; sleep 1000 & wait'],
}

OPS = ["lifecycle", "detached", "exec", "ps", "stop", "rm", "bulk", "verbs", "oci", "podman-oci",
       "load", "layers", "commit", "save", "pull", "network", "net-throughput", "volumes", "cp",
       "scale", "dying"]
# At scale (issue 17): they start hundreds of containers (--scale N) or leave
# dying memory cgroups on the host (until the kernel reclaims them): only when asked for.
SCALE_OPS = ("scale", "dying")
# /proc/meminfo fields whose growth, per running container, tells where the
# host's memory goes (MemAvailable is the total the host lost).
MEMINFO = ("MemAvailable", "Slab", "SUnreclaim", "KernelStack", "PageTables", "Shmem", "AnonPages")
# They make bridges, NAT rules and veths in the host's network namespace
# (mydocker's, pruned after; Podman's netavark's): only when asked for.
NET_OPS = ("network", "net-throughput")

# Data (issue 14): bind mounts per run, and cp of a tree of this shape.
BIND_COUNTS = (0, 1, 10)
CP_FILE_KIB = 1024  # most of the tree: 1 MiB files, 100 to a directory
CP_SMALL_FILES = 2000  # and as many small ones

# Images (issue 12): these ops share one Debian image, made once per run (Bench.setup_images).
IMAGE_OPS = ("load", "layers", "commit", "save", "pull")
IMAGE_KEYS = ("load", "layers", "commit", "save", "pull-cold", "pull-present")
DEBIAN = "localhost/bench-debian:1"
LAYERED = "localhost/bench-layers:10"
LAYER_COMMITS = 10  # the layered image: the Debian layer + this many small ones
# A few MB of changes for commit: 4 MiB of random bytes and 200 small files.
CHANGES = "head -c 4194304 /dev/urandom > /blob && mkdir /many && for i in $(seq 200); do echo $i > /many/$i; done"

# The OCI face (op "oci"): each verb as conmon and containerd's shim call it,
# mydocker-runc against crun and runc on the same bundle, warm and cold.
OCI_VERBS = ["create-start", "run", "exec", "state", "delete"]


# Set by SIGINT/SIGTERM/SIGHUP. Acted on between commands (Spawner.run), never
# in the middle of one, so a command is never left half-done or half-read.
INTERRUPTED = False


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


class Result:
    __slots__ = ("ms", "rc", "rss", "out", "err")

    def __init__(self, ms, rc, rss, out="", err=""):
        self.ms, self.rc, self.rss, self.out, self.err = ms, rc, rss, out, err


# --------------------------------------------------------------------------
# Process spawning, timing and reaping


class Spawner:
    """Runs every command, of every tool, timed or not, through benches/spawn.c:
    fork+exec+wait4 from a ~1 MiB process, so wait4's peak RSS is the
    command's own (as /usr/bin/time's), and the harness floor is small. The
    helper is also the child subreaper that reaps orphans (see spawn.c)."""

    MAGIC = 0x6D646231

    def __init__(self, tmp, ns_fd):
        self.errpath = os.path.join(tmp, "last-stderr")
        self.outpath = os.path.join(tmp, "last-stdout")
        helper = os.path.join(tmp, "spawn")
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            raise Failed("a C compiler (cc) is needed to build benches/spawn.c")
        r = subprocess.run([cc, "-O2", "-Wall", "-o", helper, os.path.join(HERE, "spawn.c")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed(f"building benches/spawn.c failed: {r.stderr.strip()}")
        fds = (ns_fd,) if ns_fd is not None else ()
        self.proc = subprocess.Popen([helper, str(ns_fd if ns_fd is not None else -1)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, pass_fds=fds, bufsize=0)
        self.seq = 0
        self.cleaning = False  # run commands even after an interrupt

    def run(self, argv, ns=False, capture=False, timeout=120.0):
        """Run argv to completion; ms is from fork to wait4 in the helper."""
        if INTERRUPTED and not self.cleaning:
            raise KeyboardInterrupt
        self.seq += 1
        payload = b"".join(s.encode() + b"\0" for s in [self.outpath if capture else "", self.errpath] + list(argv))
        hdr = struct.pack("=6I", self.MAGIC, self.seq, 1 if ns else 0, int(timeout * 1000), len(argv), len(payload))
        self.proc.stdin.write(hdr + payload)
        while True:
            seq, rc, timed_out, _, rss, ns_elapsed = struct.unpack("=IiiIqq", self._read(32))
            if seq == self.seq:
                break
        out = err = ""
        if capture:
            with open(self.outpath, errors="replace") as f:
                out = f.read()
        if rc != 0 or timed_out:
            try:
                with open(self.errpath, errors="replace") as f:
                    err = f.read()[-2000:]
            except OSError:
                pass
            if timed_out:
                err = f"timed out after {timeout:.0f} s; " + err
        return Result(ns_elapsed / 1e6, rc, rss, out, err)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            b = self.proc.stdout.read(n - len(buf))
            if not b:
                raise Failed("the spawn helper died")
            buf += b
        return buf

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------
# Small helpers


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def kib(field):
    try:
        return int(field.split()[0])
    except (AttributeError, IndexError, ValueError):
        return None


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def wait_pidfd(pid, timeout):
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(timeout * 1000))
    finally:
        os.close(fd)


def sigterm_caught(pid):
    mask = proc_status(pid).get("SigCgt")
    return mask is not None and int(mask, 16) & (1 << (signal.SIGTERM - 1)) != 0


def mountinfo():
    with open("/proc/self/mountinfo") as f:
        return [line.split() for line in f]


def unescape_mount(p):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p)


def is_hybrid():
    """cgroup v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified."""
    for f in mountinfo():
        sep = f.index("-")
        if unescape_mount(f[4]) == "/sys/fs/cgroup/unified" and f[sep + 1] == "cgroup2":
            return True
    return False


def make_crun_namespace():
    """A private mount namespace whose /sys/fs/cgroup/unified is a small
    throwaway tmpfs instead of the cgroup2 mount, so crun sees plain cgroup v1
    (it refuses hybrid). A tmpfs rather than the bare directory underneath,
    because crun writes <unified>/<id>/cgroup.procs there and would otherwise
    leave files in the host's /sys/fs/cgroup tmpfs. Returns an fd for setns();
    the namespace lives as long as the fd, no process holds it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            ok = (
                libc.unshare(CLONE_NEWNS) == 0
                and libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0
                and libc.umount2(b"/sys/fs/cgroup/unified", MNT_DETACH) == 0
                and libc.mount(b"mydocker-bench", b"/sys/fs/cgroup/unified", b"tmpfs", 0, b"size=128m,mode=0755") == 0
            )
            os.write(w, b"1" if ok else b"0")
            if ok:
                signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    ok = os.read(r, 1) == b"1"
    os.close(r)
    fd = None
    if ok:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not ok:
        raise Failed("could not set up a private mount namespace without the cgroup2 mount")
    return fd


def first_line(s):
    return s.strip().splitlines()[0] if s.strip() else ""


# --------------------------------------------------------------------------
# The tools. Timed methods return (ms, peak RSS KiB) and raise Failed.


class Tool:
    name = ""
    ns = False  # run inside the crun mount namespace
    has_monitor = False

    def __init__(self, bench):
        self.b = bench
        self.argv = []

    def x(self, *args, timeout=120.0):
        return self.b.sp.run(self.argv + list(args), ns=self.ns, timeout=timeout)

    def q(self, *args, timeout=60.0):
        """Untimed query with captured stdout; raises on failure."""
        r = self.b.sp.run(self.argv + list(args), ns=self.ns, capture=True, timeout=timeout)
        if r.rc != 0:
            raise Failed(f"{self.name} {' '.join(args)}: exit {r.rc}: {r.err.strip()}")
        return r.out

    def ok(self, r, what):
        if r.rc != 0:
            raise Failed(f"{self.name} {what}: exit {r.rc}: {r.err.strip()}")
        return r.ms, r.rss

    def monitor_pids(self):
        return []


class DockerLike(Tool):
    """A tool with Docker's verbs for stop, wait and rm (mydocker, Podman)."""

    def stop(self, name):
        return self.ok(self.x("stop", name, timeout=30), "stop")

    def wait_ended(self, name):
        self.ok(self.x("wait", name, timeout=30), "wait")

    def rm(self, name):
        return self.ok(self.x("rm", name), "rm")

    # The daily verbs (op "verbs", issue 16): the same spelling in both tools.
    def start_again(self, name):
        return self.ok(self.x("start", name, timeout=30), "start")

    def stop_now(self, name):
        return self.ok(self.x("stop", "-t", "0", name, timeout=30), "stop -t 0")

    def restart(self, name):
        return self.ok(self.x("restart", "-t", "0", name, timeout=30), "restart -t 0")

    def stats(self):
        return self.ok(self.x("stats", "--no-stream", timeout=60), "stats --no-stream")

    def ps_filter(self, name):
        return self.ok(self.x("ps", "-a", "--filter", f"name={name}"), "ps --filter")


class MyDocker(DockerLike):
    name = "mydocker"
    has_monitor = True

    def __init__(self, bench, binary):
        super().__init__(bench)
        self.binary = binary
        self.root = os.path.join(bench.tmp, "mydocker-root")
        self.data = os.path.join(bench.tmp, "mydocker-data")
        self.argv = [binary, "--root", self.root, "--data-root", self.data]

    def version(self):
        v = first_line(self.b.sp.run([self.binary, "--version"], capture=True).out)
        git = shutil.which("git")
        if not git:
            return v
        rev = self.b.sp.run([git, "-C", REPO, "rev-parse", "--short", "HEAD"], capture=True).out.strip()
        dirty = self.b.sp.run([git, "-C", REPO, "status", "--porcelain", "--untracked-files=no"], capture=True).out.strip()
        return f"{v} (git {rev}{'+dirty' if dirty else ''}, release build)" if rev else v

    def prepare(self):
        # First run builds the busybox image from /bin/busybox (untimed).
        r = self.x("run", "--rm", "--network", "none", "true")
        self.ok(r, "run --rm true (image build)")
        # A one-layer image: its layer dir is the rootfs the other runtimes use too.
        info = json.loads(self.q("image", "inspect", "busybox"))
        top = info[0]["layers"][-1].split(":", 1)[-1]
        self.rootfs = os.path.join(self.data, "layers", top, "diff")
        if not os.path.isdir(os.path.join(self.rootfs, "bin")):
            raise Failed(f"no busybox rootfs at {self.rootfs}")

    # --network none, as the Podman rows: networking has its own op ("network").
    def lifecycle(self, i):
        return self.ok(self.x("run", "--rm", "--network", "none", "true"), "run --rm true")

    def start(self, name, kind):
        return self.ok(self.x("run", "-d", "--network", "none", "--name", name, *CMDS[kind]), "run -d")

    def rm_force(self, name):
        return self.ok(self.x("rm", "-f", name), "rm -f")

    def exec_true(self, name):
        return self.ok(self.x("exec", name, "true"), "exec")

    def ps(self):
        return self.ok(self.x("ps"), "ps")

    def records(self):
        out = self.q("ps", "--format", "records")
        return json.loads(out) if out.strip() else []

    def pid_of(self, name):
        rec = json.loads(self.q("inspect", name))
        if isinstance(rec, list):
            rec = rec[0]
        return int(rec.get("pid") or 0)

    def monitor_pids(self):
        pids = []
        for rec in self.records():
            p = int(rec.get("monitor_pid") or 0)
            # The record's monitor, if it is alive and is ours (its arguments name our state dir).
            if p and any(self.root in a for a in cmdline(p)):
                pids.append(p)
        return pids

    def cleanup(self):
        leftovers = []
        try:
            recs = self.records()
        except Failed as e:
            return [f"mydocker ps failed during cleanup: {e}"]
        for rec in recs:
            name = rec.get("name") or rec.get("id")
            r = self.x("rm", "-f", name, timeout=30)
            if r.rc != 0:
                leftovers.append(f"mydocker rm -f {name}: {r.err.strip()}")
                for key in ("pid", "monitor_pid"):
                    p = int(rec.get(key) or 0)
                    if p:
                        try:
                            os.kill(p, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        return leftovers


class Oci(Tool):
    """crun or runc, driven directly with OCI bundles."""

    def __init__(self, bench, name, binary, ns=False):
        super().__init__(bench)
        self.name = name
        self.binary = binary
        self.ns = ns
        self.state = os.path.join(bench.tmp, f"{name}-state")
        self.argv = [binary, "--root", self.state]
        self.bundles = {}

    def version(self):
        return first_line(self.b.sp.run([self.binary, "--version"], capture=True).out)

    def prepare(self, spec_from=None):
        """One bundle per kind of command. spec_from: another Oci tool whose
        `spec` output to use, so that two runtimes run the very same config."""
        os.makedirs(self.state, exist_ok=True)
        rootfs = os.path.join(self.b.tmp, "oci-rootfs")
        src = spec_from or self
        for kind, args in CMDS.items():
            d = os.path.join(self.b.tmp, f"{self.name}-bundle-{kind}")
            os.makedirs(d, exist_ok=True)
            r = self.b.sp.run([src.binary, "spec", "-b", d], ns=src.ns)
            src.ok(r, "spec")
            path = os.path.join(d, "config.json")
            with open(path) as f:
                cfg = json.load(f)
            cfg["process"]["args"] = args
            cfg["process"]["terminal"] = False
            cfg["root"] = {"path": rootfs, "readonly": False}
            with open(path, "w") as f:
                json.dump(cfg, f, indent=1)
            self.bundles[kind] = d

    def cid(self, name):
        return name

    def lifecycle(self, i):
        cid = f"{self.b.tag}-{self.name}-lc{i}"
        ms, rss = self.ok(self.x("run", "-b", self.bundles["true"], cid), "run")
        if os.path.exists(os.path.join(self.state, cid)):  # run deletes it itself
            self.x("delete", "-f", cid)
        return ms, rss

    def start(self, name, kind):
        ms1, rss1 = self.ok(self.x("create", "-b", self.bundles[kind], name), "create")
        ms2, rss2 = self.ok(self.x("start", name), "start")
        return ms1 + ms2, max(rss1, rss2)

    def rm_force(self, name):
        return self.ok(self.x("delete", "-f", name), "delete -f")

    def exec_true(self, name):
        return self.ok(self.x("exec", name, "true"), "exec")

    def ps(self):
        return self.ok(self.x("list"), "list")

    def status(self, name):
        return json.loads(self.q("state", name))

    def pid_of(self, name):
        return int(self.status(name).get("pid") or 0)

    def stop(self, name):
        """kill TERM, wait for the process to end, then `state` until it
        says stopped (one call, normally). Timed as a whole."""
        pid = self.pid_of(name)
        t0 = time.perf_counter()
        _, rss = self.ok(self.x("kill", name, "TERM"), "kill TERM")
        if not wait_pidfd(pid, 30):
            raise Failed(f"{self.name}: container did not end within 30 s of SIGTERM")
        for _ in range(200):
            r = self.b.sp.run(self.argv + ["state", name], ns=self.ns, capture=True)
            self.ok(r, "state")
            rss = max(rss, r.rss)
            if json.loads(r.out).get("status") == "stopped":
                break
        else:
            raise Failed(f"{self.name}: state never said stopped")
        return (time.perf_counter() - t0) * 1000.0, rss

    def kill_stop(self, name):
        """kill KILL, then `state` until it says stopped: the OCI spelling of
        `stop -t 0`. Timed as a whole."""
        pid = self.pid_of(name)
        t0 = time.perf_counter()
        _, rss = self.ok(self.x("kill", name, "KILL"), "kill KILL")
        if not wait_pidfd(pid, 30):
            raise Failed(f"{self.name}: container did not end within 30 s of SIGKILL")
        while json.loads(self.q("state", name)).get("status") != "stopped":
            time.sleep(0.001)
        return (time.perf_counter() - t0) * 1000.0, rss

    def wait_ended(self, name):
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            if self.status(name).get("status") == "stopped":
                return
            time.sleep(0.002)
        raise Failed(f"{self.name}: {name} did not stop")

    def rm(self, name):
        return self.ok(self.x("delete", name), "delete")

    # The OCI face, verb by verb. `pause` is an idle gap taken right before the
    # timed part: 0 = warm (right after other containers' calls), > 0 = cold.

    def oci_create_start(self, name, kind, pause=0.0):
        time.sleep(pause)
        return self.start(name, kind)

    def oci_run(self, name, pause=0.0):
        """create + start + wait for the exit + delete of `true`, as a caller
        like conmon or the shim does it: the init is not our child, so wait on
        its pidfd (the spawn helper, a subreaper, reaps it)."""
        pidfile = os.path.join(self.b.tmp, f"{name}.pid")
        time.sleep(pause)
        t0 = time.perf_counter()
        _, rss1 = self.ok(self.x("create", "-b", self.bundles["true"], "--pid-file", pidfile, name), "create")
        _, rss2 = self.ok(self.x("start", name), "start")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError) as e:
            raise Failed(f"{self.name}: no pid file after create: {e}")
        finally:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
        if pid and not wait_pidfd(pid, 30):
            raise Failed(f"{self.name}: `true` did not end within 30 s")
        _, rss3 = self.ok(self.x("delete", name), "delete")
        return (time.perf_counter() - t0) * 1000.0, max(rss1, rss2, rss3)

    def oci_exec(self, name, pause=0.0):
        time.sleep(pause)
        return self.exec_true(name)

    def oci_state(self, name, pause=0.0):
        time.sleep(pause)
        return self.ok(self.x("state", name), "state")

    def oci_delete(self, name, pause=0.0):
        """delete of a container whose `true` has ended."""
        self.start(name, "true")
        try:
            self.wait_ended(name)
        except Failed:
            self.x("delete", "-f", name)
            raise
        time.sleep(pause)
        return self.rm(name)

    def cleanup(self):
        leftovers = []
        try:
            ids = self.q("list", "-q").split()
        except Failed as e:
            return [str(e)]
        for cid in ids:
            r = self.x("delete", "-f", cid, timeout=30)
            if r.rc != 0:
                leftovers.append(f"{self.name} delete -f {cid}: {r.err.strip()}")
        return leftovers


class Podman(DockerLike):
    name = "podman"
    has_monitor = True
    image = "localhost/bench-busybox"

    def __init__(self, bench, binary):
        super().__init__(bench)
        self.binary = binary
        self.base = os.path.join(bench.tmp, "podman")
        self.argv = [
            binary,
            "--root", os.path.join(self.base, "root"),
            "--runroot", os.path.join(self.base, "run"),
            "--tmpdir", os.path.join(self.base, "tmp"),
            # Else netavark's config dir is /etc/containers/networks, whatever --root says.
            "--network-config-dir", os.path.join(self.base, "net"),
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            "--runtime", "runc",
        ]
        self.cgroup_parent = f"/{bench.tag}-podman"
        self.runflags = [
            "--network", "none",
            "--ulimit", "nofile=20000:20000",
            "--ulimit", "nproc=32768:32768",
            "--cgroup-parent", self.cgroup_parent,
            "--pull", "never",
        ]

    def version(self):
        v = first_line(self.b.sp.run([self.binary, "--version"], capture=True).out)
        conmon = shutil.which("conmon")
        if conmon:
            v += ", " + first_line(self.b.sp.run([conmon, "--version"], capture=True).out)
        return v + ", OCI runtime runc"

    def prepare(self):
        rootfs = self.b.md.rootfs
        cmd = f"tar -C {shlex.quote(rootfs)} -c . | {shlex.join(self.argv)} import - {self.image}"
        r = self.b.sp.run(["/bin/sh", "-c", cmd], timeout=300)
        self.ok(r, "import")

    def lifecycle(self, i):
        return self.ok(self.x("run", "--rm", *self.runflags, self.image, "true"), "run --rm")

    def start(self, name, kind):
        return self.ok(self.x("run", "-d", "--name", name, *self.runflags, self.image, *CMDS[kind]), "run -d")

    def rm_force(self, name):
        return self.ok(self.x("rm", "-f", "-t", "0", name), "rm -f -t 0")

    def exec_true(self, name):
        return self.ok(self.x("exec", name, "true"), "exec")

    def ps(self):
        return self.ok(self.x("ps"), "ps")

    def pid_of(self, name):
        return int(self.q("inspect", "--format", "{{.State.Pid}}", name).strip() or 0)

    def monitor_pids(self):
        marker = os.path.join(self.base, "root")
        out = []
        for p in all_pids():
            c = cmdline(p)
            if c and os.path.basename(c[0]) == "conmon" and any(marker in a for a in c):
                out.append(p)
        return out

    def cleanup(self):
        leftovers = []
        r = self.x("rm", "-a", "-f", "-t", "0", timeout=120)
        if r.rc != 0:
            leftovers.append(f"podman rm -af: {r.err.strip()}")
        self.x("rmi", "-a", "-f", timeout=120)
        return leftovers


class PodmanWith(Podman):
    """Podman on the same store as `base` (the image is there), with the OCI
    runtime `runtime` (a path). Run through `env CONTAINERS_CONF=...` so that
    runtime_supports_json names mydocker-runc (Podman then passes it --log and
    --log-format json, as it does runc); both variants go through the same env."""

    def __init__(self, bench, base, label, runtime):
        super().__init__(bench, base.binary)
        self.name = f"podman/{label}"
        self.runtime = runtime
        self.base = base.base
        conf = os.path.join(self.base, "containers.conf")
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write('[engine]\nruntime_supports_json = ["crun", "runc", "kata", "mydocker-runc"]\n')
        i = self.argv.index("--runtime")
        self.argv[i + 1] = runtime
        self.argv = ["/usr/bin/env", f"CONTAINERS_CONF={conf}"] + self.argv
        self.cgroup_parent = base.cgroup_parent
        self.runflags = base.runflags

    def version(self):
        return f"{super().version().rsplit(', OCI runtime', 1)[0]}, OCI runtime {self.runtime}"

    def prepare(self):
        pass  # the image is in base's store

    def cleanup(self):
        return []  # base's cleanup removes every container of the store


class Variant:
    """One row of an image op that is not a tool of its own (the tar floor, an
    image of a tool): a name for the tables, nothing to clean up."""

    def __init__(self, name):
        self.name = name

    def cleanup(self):
        return []


# --------------------------------------------------------------------------
# Statistics and tables


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}x"


class Series:
    """Samples of one operation: {tool: {iteration: (ms, rss)}}. Ratios are
    ref/tool: ref is mydocker, or mydocker-runc for the OCI face."""

    def __init__(self, key, title, what, ref="mydocker"):
        self.key, self.title, self.what, self.ref = key, title, what, ref
        self.samples = {}
        self.failed = {}
        self.tools = []  # names, in the order of the report
        self.n = 0
        self.warmup = 0

    def add(self, tool, i, ms, rss):
        self.samples.setdefault(tool, {})[i] = (ms, rss)

    def ms(self, tool):
        return [v[0] for v in self.samples.get(tool, {}).values()]

    def rss(self, tool):
        return [v[1] for v in self.samples.get(tool, {}).values()]

    def ratio(self, tool):
        md = self.samples.get(self.ref, {})
        other = self.samples.get(tool, {})
        rs = [md[i][0] / other[i][0] for i in md if i in other and other[i][0] > 0]
        return med(rs), len(rs)


def render(rows, header, markdown):
    if markdown:
        def numeric(i):
            cells = [r[i] for r in rows if r[i] not in ("-", "")]
            return bool(cells) and all(re.fullmatch(r"[\d.]+x?", c) for c in cells)
        align = ["---:" if numeric(i) else ":---" for i in range(len(header))]
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


# --------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = f"mdb{os.getpid()}"
        self.tmp = tempfile.mkdtemp(prefix="mydocker-bench-")  # short: podman wants runroot < 50 chars
        self.crun_ns = None
        if "crun" in args.peers and shutil.which("crun") and is_hybrid():
            try:
                self.crun_ns = make_crun_namespace()
            except Failed as e:
                self.crun_ns_error = str(e)
        try:
            self.sp = Spawner(self.tmp, self.crun_ns)
        except Failed:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.tools = []
        self.skipped = []  # (tool, reason)
        self.series = []
        self.memory = {}  # (tool, label) -> dict
        self.failed_mydocker = []
        self.md = None
        self.oci_tools = []  # the OCI face: mydocker-runc, crun, runc on bundles
        self.podman_oci = []  # podman with mydocker-runc, with runc
        self.leftovers = []
        self.cg_snapshot = self.mydocker_cgroups()
        self.baseline_ms = None
        self.versions = []
        self.img_podman = None  # Podman's tool for the image ops, and its load-only twin
        self.extra_podmans = []
        self.registry_proc = None
        self.layered_archive = None

    # ---- setup

    def setup(self):
        a = self.args
        self.md = MyDocker(self, a.mydocker)
        log(f"[setup] private dirs under {self.tmp}")
        self.md.prepare()
        shutil.copytree(self.md.rootfs, os.path.join(self.tmp, "oci-rootfs"), symlinks=True)
        self.tools = [self.md]
        for peer in a.peers:
            binary = shutil.which(peer)
            if not binary:
                reasons = dict(ln.split("=", 1) for ln in os.environ.get("BENCH_SKIP_REASONS", "").splitlines() if "=" in ln)
                self.skipped.append((peer, reasons.get(peer, "not installed")))
                continue
            try:
                if peer == "crun":
                    if is_hybrid() and self.crun_ns is None:
                        raise Failed(getattr(self, "crun_ns_error", "no private mount namespace for crun"))
                    tool = Oci(self, "crun", binary, ns=self.crun_ns is not None)
                elif peer == "runc":
                    tool = Oci(self, "runc", binary)
                else:
                    if not shutil.which("runc"):
                        raise Failed("podman is run with --runtime runc, and runc is missing")
                    tool = Podman(self, binary)
                log(f"[setup] {peer}: preparing")
                tool.prepare()
                # Smoke test: one full lifecycle.
                tool.lifecycle(0)
                self.tools.append(tool)
            except Failed as e:
                self.skipped.append((peer, f"smoke test failed: {e}"))
                log(f"[setup] SKIP {peer}: {e}")
        # The harness floor: fork+exec+wait4 of /bin/true from here.
        t = [self.sp.run(["/bin/true"]).ms for _ in range(20)]
        self.baseline_ms = med(t)
        if "oci" in a.ops or "podman-oci" in a.ops:
            self.setup_oci()
        if any(o in IMAGE_OPS for o in a.ops):
            self.setup_images()
        self.versions = [(t.name, t.version()) for t in self.all_tools()]

    def all_tools(self):
        return list(dict.fromkeys(self.tools + self.oci_tools + self.podman_oci))

    def setup_oci(self):
        """mydocker-runc (the built binary through a symlink of that name: it
        picks its face by argv[0]) beside the crun and runc tools, and Podman
        with each as its runtime. mydocker-runc failing is a skip, reported."""
        a = self.args
        link = a.mydocker_runc
        if not link:
            d = os.path.join(self.tmp, "bin")
            os.makedirs(d, exist_ok=True)
            link = os.path.join(d, "mydocker-runc")
            os.symlink(os.path.abspath(a.mydocker), link)
        peers = {t.name: t for t in self.tools if isinstance(t, Oci)}
        if "oci" in a.ops:
            md = Oci(self, "mydocker-runc", link)
            try:
                log("[setup] mydocker-runc: preparing")
                # crun's (else runc's) spec: the runtimes compared run one config.
                md.prepare(spec_from=peers.get("crun") or peers.get("runc"))
                md.oci_run(f"{self.tag}-mydocker-runc-smoke")
                self.oci_tools.append(md)
            except Failed as e:
                self.skipped.append(("mydocker-runc", f"smoke test failed: {first_line(str(e))[:300]}"))
                log(f"[setup] SKIP mydocker-runc: {e}")
                md.x("delete", "-f", f"{self.tag}-mydocker-runc-smoke")
            self.oci_tools += [peers[n] for n in ("crun", "runc") if n in peers]
        if "podman-oci" in a.ops:
            base = next((t for t in self.tools if t.name == "podman"), None)
            if base is None:
                self.skipped.append(("podman-oci", "podman is not among the peers set up"))
                return
            for label, runtime in (("mydocker-runc", link), ("runc", shutil.which("runc"))):
                t = PodmanWith(self, base, label, runtime)
                try:
                    t.lifecycle(0)
                    self.podman_oci.append(t)
                except Failed as e:
                    self.skipped.append((t.name, f"smoke test failed: {first_line(str(e))[:300]}"))
                    log(f"[setup] SKIP {t.name}: {e}")

    # ---- running

    def paired(self, key, title, what, fn, n=None, warmup=None, tools=None, ref="mydocker"):
        """Run fn(tool, i) for every tool in every iteration, rotating the order."""
        a = self.args
        n = a.n if n is None else n
        warmup = a.warmup if warmup is None else warmup
        s = Series(key, title, what, ref)
        s.n, s.warmup = n, warmup
        tools = list(tools if tools is not None else self.tools)
        s.tools = [t.name for t in tools]
        log(f"[{key}] {title}: {n} iterations after {warmup} warm-up")
        for i in range(warmup + n):
            k = i % len(tools)
            for t in tools[k:] + tools[:k]:
                if t.name in s.failed:
                    continue
                try:
                    ms, rss = fn(t, i)
                except Failed as e:
                    self.fail(s, t, e)
                    continue
                if i >= warmup:
                    s.add(t.name, i, ms, rss)
        self.series.append(s)
        return s

    def fail(self, series, tool, err):
        msg = str(err).strip().replace("\n", " ")[:400]
        series.failed[tool.name] = msg
        log(f"[{series.key}] {tool.name} FAILED: {msg}")
        if tool.name == "mydocker":  # mydocker-runc failing is reported, not fatal (see op_oci)
            self.failed_mydocker.append(f"{series.key}: {msg}")
        try:
            tool.cleanup()
        except Failed:
            pass

    def name(self, t, what, i):
        return f"{self.tag}-{t.name}-{what}{i}"

    def setup_containers(self, what, count, kind="sleep", tools=None):
        """Start `count` containers per tool (untimed); returns {tool: [names]} for those that worked."""
        started = {}
        for t in tools or self.tools:
            names = []
            try:
                for j in range(count):
                    nm = self.name(t, what, j)
                    t.start(nm, kind)
                    names.append(nm)
                started[t.name] = names
            except Failed as e:
                log(f"[{what}] {t.name}: could not start containers: {e}")
                self.skipped_op(t, what, e)
                for nm in names:
                    self.quiet_rm(t, nm)
        return started

    def skipped_op(self, t, what, e):
        if t.name == "mydocker":
            self.failed_mydocker.append(f"{what}: {e}")

    def quiet_rm(self, t, name):
        try:
            t.rm_force(name)
        except Failed as e:
            log(f"  warning: {t.name}: removing {name}: {e}")

    def teardown(self, started):
        for t in self.tools:
            for nm in started.get(t.name, []):
                self.quiet_rm(t, nm)

    def op_lifecycle(self):
        self.paired("lifecycle", "full lifecycle of `true`",
                    {"mydocker": "mydocker run --rm --network none true",
                     "crun": "crun run -b BUNDLE ID (run deletes it on exit)",
                     "runc": "runc run -b BUNDLE ID (run deletes it on exit)",
                     "podman": "podman run --rm --network none IMAGE true"},
                    lambda t, i: t.lifecycle(i))

    def op_detached(self):
        def fn(t, i):
            nm = self.name(t, "d", i)
            try:
                return t.start(nm, "sleep")
            finally:
                self.quiet_rm(t, nm)
        self.paired("detached", "detached start of `sleep 1000`, until the command returns", {
            "mydocker": "mydocker run -d --network none --name N sleep 1000",
            "crun": "crun create -b BUNDLE ID + crun start ID",
            "runc": "runc create -b BUNDLE ID + runc start ID",
            "podman": "podman run -d --name N IMAGE sleep 1000"}, fn)

    def op_exec(self):
        started = self.setup_containers("x", 1)
        try:
            live = [t for t in self.tools if t.name in started]
            self.paired("exec", "exec `true` in a running container", {
                "mydocker": "mydocker exec N true", "crun": "crun exec ID true",
                "runc": "runc exec ID true", "podman": "podman exec N true"},
                lambda t, i: t.exec_true(started[t.name][0]), tools=live)
        finally:
            self.teardown(started)

    def sample_monitors(self, label, count):
        for t in self.tools:
            if not t.has_monitor:
                continue
            pids = t.monitor_pids()
            if not pids:
                continue
            rss = [kib(proc_status(p).get("VmRSS")) for p in pids]
            pss = [pss_kib(p) for p in pids]
            rss = [v for v in rss if v is not None]
            pss = [v for v in pss if v is not None]
            try:
                comm = os.path.basename(os.readlink(f"/proc/{pids[0]}/exe"))
            except OSError:
                comm = "?"
            self.memory[(t.name, label)] = {
                "count": len(pids), "containers": count, "comm": comm,
                "rss_med": med(rss), "pss_med": med(pss), "pss_sum": sum(pss),
            }

    def op_ps(self):
        K = self.args.containers
        started = self.setup_containers("p", 1)
        try:
            live = [t for t in self.tools if t.name in started]
            desc = {"mydocker": "mydocker ps", "crun": "crun list", "runc": "runc list", "podman": "podman ps"}
            self.paired("ps1", "ps with 1 running container", desc, lambda t, i: t.ps(), tools=live)
            self.sample_monitors("1 running", 1)
            for t in live:
                try:
                    for j in range(1, K):
                        nm = self.name(t, "p", j)
                        t.start(nm, "sleep")
                        started[t.name].append(nm)
                except Failed as e:
                    log(f"[ps] {t.name}: could not start {K} containers: {e}")
                    self.skipped_op(t, "ps", e)
            live = [t for t in live if len(started[t.name]) == K]
            self.sample_monitors(f"{K} running", K)
            self.paired(f"ps{K}", f"ps with {K} running containers", desc, lambda t, i: t.ps(), tools=live)
        finally:
            self.teardown(started)

    def op_stop(self):
        def fn(t, i):
            nm = self.name(t, "s", i)
            t.start(nm, "trap")
            try:
                pid = t.pid_of(nm)
                deadline = time.perf_counter() + 10
                while not sigterm_caught(pid):  # the trap is set: TERM will be acted on
                    if time.perf_counter() > deadline:
                        raise Failed(f"{t.name}: container never trapped SIGTERM")
                    time.sleep(0.001)
                return t.stop(nm)
            finally:
                self.quiet_rm(t, nm)
        self.paired("stop", "stop a container that exits on SIGTERM", {
            "mydocker": "mydocker stop N",
            "crun": "crun kill ID TERM, wait for exit, crun state ID until stopped",
            "runc": "runc kill ID TERM, wait for exit, runc state ID until stopped",
            "podman": "podman stop N"}, fn)

    def op_rm(self):
        def fn(t, i):
            nm = self.name(t, "r", i)
            t.start(nm, "true")
            try:
                t.wait_ended(nm)
            except Failed:
                self.quiet_rm(t, nm)
                raise
            return t.rm(nm)
        self.paired("rm", "rm of a container that has ended", {
            "mydocker": "mydocker rm N", "crun": "crun delete ID",
            "runc": "runc delete ID", "podman": "podman rm N"}, fn)

    def op_verbs(self):
        """start, restart and stats --no-stream (issue 16), with K containers
        running: the tools with Docker's verbs (mydocker, Podman)."""
        K = self.args.containers
        tools = [t for t in self.tools if isinstance(t, DockerLike)]
        started = self.setup_containers("v", K, tools=tools)
        try:
            live = [t for t in tools if len(started.get(t.name, [])) == K]

            def start(t, i):
                nm = started[t.name][0]
                t.stop_now(nm)  # untimed: the container to start is an ended one
                return t.start_again(nm)
            self.paired("start", f"start of an ended container ({K} running)", {
                "mydocker": "mydocker start N (after stop -t 0, untimed)",
                "podman": "podman start N (after stop -t 0, untimed)"}, start, tools=live)
            self.paired("restart", f"restart -t 0 of a running container ({K} running)", {
                "mydocker": "mydocker restart -t 0 N", "podman": "podman restart -t 0 N"},
                lambda t, i: t.restart(started[t.name][1 % K]), tools=live)
            self.paired("stats", f"stats --no-stream with {K} running containers", {
                "mydocker": "mydocker stats --no-stream (two samples 1 s apart)",
                "podman": "podman stats --no-stream"},
                lambda t, i: t.stats(), tools=live, n=max(3, self.args.n // 5), warmup=1)
            # crun and runc have no filters (`list` lists all): Docker's verb only.
            self.paired("ps-filter", f"ps --filter name=N with {K} containers", {
                "mydocker": "mydocker ps -a --filter name=N", "podman": "podman ps -a --filter name=N"},
                lambda t, i: t.ps_filter(started[t.name][i % K]), tools=live)
        finally:
            self.teardown(started)

    def op_oci(self):
        tools = self.oci_tools
        if not tools:
            log("[oci] no OCI runtime set up: nothing to measure")
            return
        gap = self.args.cold_gap
        started = {}  # one running container per runtime, for exec and state

        def create_start(t, i, pause, what):
            nm = self.name(t, what, i)
            try:
                return t.oci_create_start(nm, "sleep", pause)
            finally:
                self.quiet_rm(t, nm)

        verbs = {
            "create-start": ("create + start of `sleep 1000`", "create -b BUNDLE ID + start ID",
                             lambda t, i, p, w: create_start(t, i, p, w)),
            "run": ("run `true`: create + start + wait + delete",
                    "create -b BUNDLE --pid-file F ID + start ID + wait for the pid + delete ID",
                    lambda t, i, p, w: t.oci_run(self.name(t, w, i), p)),
            "exec": ("exec `true` in a running container", "exec ID true",
                     lambda t, i, p, w: t.oci_exec(started[t.name], p)),
            "state": ("state of a running container", "state ID",
                      lambda t, i, p, w: t.oci_state(started[t.name], p)),
            "delete": ("delete of a container whose `true` has ended", "delete ID",
                       lambda t, i, p, w: t.oci_delete(self.name(t, w, i), p)),
        }
        try:
            for t in tools:
                nm = self.name(t, "o", 0)
                try:
                    t.start(nm, "sleep")
                    started[t.name] = nm
                except Failed as e:
                    log(f"[oci] {t.name}: could not start a container for exec/state: {e}")
            for verb in OCI_VERBS:
                title, cmd, fn = verbs[verb]
                live = [t for t in tools if verb not in ("exec", "state") or t.name in started]
                for cold in (False, True):
                    pause = gap if cold else 0.0
                    mode = (f"cold: each call alone, after {gap * 1000:.0f} ms idle" if cold
                            else "warm: back to back with the other runtimes' calls")
                    self.paired(f"oci-{verb}{'-cold' if cold else ''}", f"OCI {title} ({mode})",
                                {t.name: f"{t.name} {cmd}" for t in live},
                                lambda t, i, fn=fn, pause=pause, w=f"o{verb[0]}{'c' if cold else 'w'}":
                                    fn(t, i, pause, w),
                                tools=live, ref="mydocker-runc")
        finally:
            for t in tools:
                if t.name in started:
                    self.quiet_rm(t, started[t.name])

    def op_podman_oci(self):
        if not self.podman_oci:
            log("[podman-oci] podman with mydocker-runc / runc not set up: nothing to measure")
            return
        self.paired("podman-run", "podman run --rm of `true`, with mydocker-runc or runc as its OCI runtime",
                    {t.name: f"podman --runtime {t.runtime} run --rm --network none IMAGE true" for t in self.podman_oci},
                    lambda t, i: t.lifecycle(i), tools=self.podman_oci, ref="podman/mydocker-runc")

    def op_bulk(self):
        K = self.args.containers
        rm_series = Series(f"bulk-rm{K}", f"remove {K} running containers one after another (total)", {
            "mydocker": f"{K} x mydocker rm -f N", "crun": f"{K} x crun delete -f ID",
            "runc": f"{K} x runc delete -f ID", "podman": f"{K} x podman rm -f -t 0 N"})
        rm_series.n, rm_series.warmup = self.args.bulk_n, 0

        def fn(t, i):
            names = [self.name(t, f"b{i}-", j) for j in range(K)]
            total, rss, done = 0.0, 0, []
            try:
                for nm in names:
                    ms, r = t.start(nm, "sleep")
                    done.append(nm)
                    total += ms
                    rss = max(rss, r)
                rt = 0.0
                while done:
                    ms, _ = t.rm_force(done[0])
                    done.pop(0)
                    rt += ms
                rm_series.add(t.name, i, rt, 0)
                return total, rss
            finally:
                for nm in done:
                    self.quiet_rm(t, nm)

        s = self.paired(f"bulk{K}", f"start {K} detached containers one after another (total)", {
            "mydocker": f"{K} x mydocker run -d --name N sleep 1000", "crun": f"{K} x crun create + start",
            "runc": f"{K} x runc create + start", "podman": f"{K} x podman run -d IMAGE sleep 1000"},
            fn, n=self.args.bulk_n, warmup=0)
        rm_series.failed = dict(s.failed)
        self.series.append(rm_series)

    # ---- at scale (issue 17)

    @staticmethod
    def meminfo():
        out = {}
        with open("/proc/meminfo") as f:
            for line in f:
                k, v = line.split(":", 1)
                if k in MEMINFO:
                    out[k] = int(v.split()[0])
        return out

    @staticmethod
    def slabinfo():
        """Bytes per slab cache (active objects x object size)."""
        out = {}
        try:
            with open("/proc/slabinfo") as f:
                for line in f.readlines()[2:]:
                    c = line.split()
                    out[c[0]] = int(c[1]) * int(c[3])
        except OSError:
            pass
        return out

    @staticmethod
    def memory_cgroups():
        """(memory cgroups the kernel has, directories of the memory
        hierarchy): the difference is the dying ones, removed but still
        holding charged memory."""
        total = 0
        with open("/proc/cgroups") as f:
            for line in f:
                c = line.split()
                if c and c[0] == "memory":
                    total = int(c[2])
        base = "/sys/fs/cgroup/memory"
        if not os.path.isdir(base):
            base = "/sys/fs/cgroup"
        dirs = sum(1 for _ in os.walk(base))
        return total, dirs

    def op_scale(self):
        """Issue 17: with hundreds of containers running. Per tool in turn
        (mydocker, crun; Podman at --scale-podman): N `sleep` containers
        started one after another, each start timed (is the last tenth as
        fast as the first?), the host's memory before and after (per
        container: MemAvailable, and where it went: slab, kernel stacks,
        page tables, tmpfs). Then, with all of them running, the lifecycle,
        a detached start, exec, ps and stop, paired; then every container
        removed, each rm timed."""
        a = self.args
        tools = [t for t in self.tools if t.name in ("mydocker", "crun", "podman")]
        counts = {t.name: (a.scale_podman if t.name == "podman" else a.scale) for t in tools}
        N = a.scale
        starts = Series("scale-start", f"each start of {N} in a row (Podman: {a.scale_podman})", {
            "mydocker": "mydocker run -d --name N sleep 1000", "crun": "crun create + start",
            "podman": "podman run -d IMAGE sleep 1000"})
        starts.n, starts.warmup, starts.tools = N, 0, [t.name for t in tools]
        started = {}
        self.scale_memory = {}
        for t in tools:
            names = []
            gc_before = self.memory_cgroups()
            m0, slab0 = self.meminfo(), self.slabinfo()
            log(f"[scale] {t.name}: starting {counts[t.name]} containers")
            try:
                for j in range(counts[t.name]):
                    if INTERRUPTED:
                        raise KeyboardInterrupt
                    nm = self.name(t, "n", j)
                    ms, rss = t.start(nm, "sleep")
                    names.append(nm)
                    starts.add(t.name, j, ms, rss)
            except Failed as e:
                self.fail(starts, t, e)
            started[t.name] = names
            time.sleep(1)  # let the monitors settle into their sleep
            m1, slab1 = self.meminfo(), self.slabinfo()
            n = max(1, len(names))
            per = {k: (m0[k] - m1[k] if k == "MemAvailable" else m1[k] - m0[k]) / n for k in m0}
            grew = sorted(((slab1.get(c, 0) - slab0.get(c, 0)) / n / 1024, c) for c in slab1)[-6:]
            self.scale_memory[t.name] = {"count": len(names), "per": per, "slabs": grew[::-1],
                                         "memcg": (gc_before, self.memory_cgroups())}
        self.series.append(starts)
        live = [t for t in tools if len(started.get(t.name, [])) == counts[t.name] and counts[t.name] > 0]
        try:
            if live:
                self.sample_monitors(f"{N} running (scale)", N)
                self.paired("scale-lifecycle", f"full lifecycle of `true` with {N} running", {
                    "mydocker": "mydocker run --rm --network none true", "crun": "crun run -b BUNDLE ID",
                    "podman": "podman run --rm IMAGE true"}, lambda t, i: t.lifecycle(i), tools=live)

                def detached(t, i):
                    nm = self.name(t, "nd", i)
                    try:
                        return t.start(nm, "sleep")
                    finally:
                        self.quiet_rm(t, nm)
                self.paired("scale-detached", f"detached start of `sleep` with {N} running", {
                    "mydocker": "mydocker run -d --name N sleep 1000", "crun": "crun create + start",
                    "podman": "podman run -d IMAGE sleep 1000"}, detached, tools=live)
                self.paired("scale-exec", f"exec `true` with {N} running", {
                    "mydocker": "mydocker exec N true", "crun": "crun exec ID true", "podman": "podman exec N true"},
                    lambda t, i: t.exec_true(started[t.name][0]), tools=live)
                self.paired("scale-ps", f"ps with {N} running (Podman: {a.scale_podman})", {
                    "mydocker": "mydocker ps", "crun": "crun list", "podman": "podman ps"},
                    lambda t, i: t.ps(), tools=live)

                # `sleep` ignores TERM as PID 1: stop is the grace period
                # cut short by -t 0 for the Docker-like tools; crun's is kill KILL.
                self.paired("scale-stop", f"stop -t 0 (kill KILL for crun) with {N} running", {
                    "mydocker": "mydocker stop -t 0 N", "crun": "crun kill ID KILL, then state until stopped",
                    "podman": "podman stop -t 0 N"},
                    lambda t, i: t.stop_now(started[t.name][-1 - i]) if isinstance(t, DockerLike)
                    else t.kill_stop(started[t.name][-1 - i]),
                    tools=live, n=min(a.n, max(1, min(counts.values()) // 4)), warmup=0)
        finally:
            rms = Series("scale-rm", f"rm -f of each of the {N} (Podman: {a.scale_podman})", {
                "mydocker": "mydocker rm -f N", "crun": "crun delete -f ID", "podman": "podman rm -f N"})
            rms.n, rms.warmup, rms.tools = N, 0, [t.name for t in tools]
            for t in tools:
                for j, nm in enumerate(started.get(t.name, [])):
                    try:
                        ms, rss = t.rm_force(nm)
                        rms.add(t.name, j, ms, rss)
                    except Failed as e:
                        log(f"  warning: {t.name}: removing {nm}: {e}")
            self.series.append(rms)

    def op_dying(self):
        """Issue 17: a host that has run many containers. Each tool runs and
        removes --dying containers (`true`); the memory cgroups the kernel
        still keeps for them (dying: removed, but holding charged memory) are
        counted; then the lifecycle is measured with them there."""
        a = self.args
        tools = [t for t in self.tools if t.name in ("mydocker", "crun")]
        self.dying = {}
        for t in tools:
            before = self.memory_cgroups()
            for i in range(a.dying):
                if INTERRUPTED:
                    raise KeyboardInterrupt
                try:
                    t.lifecycle(10_000 + i)
                except Failed as e:
                    log(f"[dying] {t.name}: {e}")
                    break
            time.sleep(1)
            after = self.memory_cgroups()
            self.dying[t.name] = ((before[0] - before[1]), (after[0] - after[1]))
            log(f"[dying] {t.name}: dying memory cgroups {before[0] - before[1]} -> {after[0] - after[1]}")
        self.paired("dying-lifecycle", f"full lifecycle of `true` after {a.dying} runs of each tool", {
            "mydocker": "mydocker run --rm --network none true", "crun": "crun run -b BUNDLE ID"},
            lambda t, i: t.lifecycle(i), tools=tools)

    # ---- images (issue 12)

    def setup_images(self):
        """The Debian image, made once per run (untimed): a minbase rootfs
        from mmdebstrap (else --image-tar, else host dirs), imported into
        Podman's private store and saved as a docker-archive; the layered one
        built with Podman (run + commit, LAYER_COMMITS times). mydocker loads
        both into its data root for layers, commit and save."""
        a = self.args
        d = os.path.join(self.tmp, "img")
        os.makedirs(d, exist_ok=True)
        self.img_dir = d
        rootfs = a.image_tar or os.path.join(d, "rootfs.tar")
        if not a.image_tar:
            mm = shutil.which("mmdebstrap")
            r = None
            if mm:
                log("[images] mmdebstrap --variant=minbase bookworm (needs a Debian mirror; ~1 min)")
                r = self.sp.run([mm, "--variant=minbase", "--quiet", "bookworm", rootfs], timeout=900)
            if r is None or r.rc != 0:
                why = "mmdebstrap is not installed" if r is None else f"mmdebstrap failed: {first_line(r.err)[:200]}"
                log(f"[images] {why}; a rootfs tar of the host's /usr/lib and /usr/share instead")
                self.image_source = f"host dirs /usr/lib, /usr/share ({why})"
                r = self.sp.run([shutil.which("tar") or "/bin/tar", "-C", "/", "-cf", rootfs, "usr/lib", "usr/share"],
                                timeout=900)
                if r.rc not in (0, 1):  # 1: a file changed while read
                    raise Failed(f"tar of host dirs: exit {r.rc}: {r.err.strip()}")
            else:
                self.image_source = "mmdebstrap --variant=minbase bookworm"
        else:
            self.image_source = f"--image-tar {a.image_tar}"
        self.archive = os.path.join(d, "debian.docker.tar")
        pd = next((t for t in self.tools if t.name == "podman"), None)
        self.img_podman = pd
        if pd is not None:
            log(f"[images] podman import + save --format docker-archive of {DEBIAN}")
            pd.ok(pd.x("import", rootfs, DEBIAN, timeout=900), "import")
            pd.ok(pd.x("save", "--format", "docker-archive", "-o", self.archive, DEBIAN, timeout=900), "save")
        else:
            # Without Podman the archive comes from mydocker itself.
            log(f"[images] no podman: mydocker image import + save of {DEBIAN}")
            self.md.ok(self.md.x("image", "import", rootfs, DEBIAN, timeout=900), "image import")
            self.md.ok(self.md.x("save", "-o", self.archive, DEBIAN, timeout=900), "save")
            self.md.ok(self.md.x("rmi", DEBIAN), "rmi")
        self.archive_mib = os.path.getsize(self.archive) / 2**20
        # The floor's input: the archive's own layer tars, extracted (untimed).
        import tarfile
        with tarfile.open(self.archive) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))
            self.layer_tars = []
            for k, name in enumerate(manifest[0]["Layers"]):
                out = os.path.join(d, f"layer{k}.tar")
                with tf.extractfile(name) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                self.layer_tars.append(out)
        log(f"[images] {DEBIAN}: {self.archive_mib:.0f} MiB docker-archive, {len(self.layer_tars)} layer(s)")
        self.md.ok(self.md.x("load", "-q", "-i", self.archive, timeout=900), "load")
        self.layered_archive = None
        if pd is not None and "layers" in a.ops:
            log(f"[images] {LAYERED}: {LAYER_COMMITS} x podman run + commit, each adding a small file")
            prev = DEBIAN
            for k in range(1, LAYER_COMMITS + 1):
                nm = f"{self.tag}-layer{k}"
                img = f"localhost/bench-layers:{k}"
                pd.ok(pd.x("run", "--name", nm, *pd.runflags, prev, "sh", "-c", f"echo {k} > /layer-{k}"), "run")
                pd.ok(pd.x("commit", "-q", nm, img, timeout=300), "commit")
                pd.ok(pd.x("rm", nm), "rm")
                prev = img
            self.layered_archive = os.path.join(d, "layers.docker.tar")
            pd.ok(pd.x("save", "--format", "docker-archive", "-o", self.layered_archive, LAYERED, timeout=900), "save")
            self.md.ok(self.md.x("load", "-q", "-i", self.layered_archive, timeout=900), "load")
            n = len(json.loads(self.md.q("image", "inspect", LAYERED))[0]["layers"])
            log(f"[images] {LAYERED}: {n} layers in mydocker")
            self.layered_count = n

    def fresh(self, path):
        """Remove what an iteration made, then flush it to disk (untimed), so
        one iteration's writeback does not land in the next one's time."""
        shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(path):
            raise Failed(f"could not remove {path}")
        os.sync()

    def private_podman(self, sub):
        """A Podman with a store of its own (`sub` under the run's dir): the
        main store has the Debian layer already, and a layer Podman has is
        not fetched or unpacked again."""
        pd = self.img_podman
        if pd is None:
            return None
        pl = Podman(self, pd.binary)
        pl.name = "podman"
        pl.base = os.path.join(self.tmp, sub)
        for flag, sub_dir in (("--root", "root"), ("--runroot", "run"), ("--tmpdir", "tmp"), ("--network-config-dir", "net")):
            pl.argv[pl.argv.index(flag) + 1] = os.path.join(pl.base, sub_dir)
        self.extra_podmans.append(pl)
        return pl

    def start_registry(self):
        """docker-registry on 127.0.0.1, storage in the run's dir (killed by
        cleanup, which kills whatever names that dir)."""
        exe = shutil.which("docker-registry")
        if exe is None:
            raise Failed("docker-registry is not installed (apt-get install docker-registry)")
        import socket
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        d = os.path.join(self.tmp, "registry")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "config.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {d}/store\n"
                    f"http:\n  addr: 127.0.0.1:{port}\n")
        self.registry_proc = subprocess.Popen([exe, "serve", conf], stdin=subprocess.DEVNULL,
                                              stdout=open(os.path.join(d, "log"), "w"), stderr=subprocess.STDOUT)
        addr = f"127.0.0.1:{port}"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return addr
            except OSError:
                time.sleep(0.05)
        raise Failed("docker-registry did not listen")

    def op_pull(self):
        pd = self.img_podman
        if pd is None:
            self.skipped.append(("pull", "the image is pushed with podman, which is not set up"))
            return
        addr = self.start_registry()
        ref = f"{addr}/bench/debian:12"
        log(f"[pull] podman push {DEBIAN} to {ref} (gzip)")
        pd.ok(pd.x("push", "-q", "--tls-verify=false", "--compression-format", "gzip", DEBIAN, f"docker://{ref}", timeout=900), "push")
        pl = self.private_podman("pp")
        skopeo = shutil.which("skopeo")
        md = Variant("mydocker")
        tools = [md, pl]
        if skopeo:
            sk = Variant("skopeo")
            tools.append(sk)
        else:
            self.skipped.append(("skopeo", "not installed (apt-get install skopeo)"))

        def cold(t, i):
            if t is md:
                root = os.path.join(self.tmp, f"md-pull{i}")
                try:
                    r = self.sp.run([self.md.binary, "--root", self.md.root, "--data-root", root, "pull", "-q", ref], timeout=900)
                    return self.md.ok(r, "pull")
                finally:
                    self.fresh(root)
            if t.name == "skopeo":
                out = os.path.join(self.tmp, f"skopeo{i}")
                try:
                    r = self.sp.run([skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:12"], timeout=900)
                    if r.rc != 0:
                        raise Failed(f"skopeo copy: exit {r.rc}: {r.err.strip()[:200]}")
                    return r.ms, r.rss
                finally:
                    self.fresh(out)
            try:
                return t.ok(t.x("pull", "-q", "--tls-verify=false", ref, timeout=900), "pull")
            finally:
                r = t.x("rmi", "-a", "-f", timeout=300)
                if r.rc != 0:
                    raise Failed(f"podman rmi -a -f after pull: {r.err.strip()}")
                os.sync()

        self.paired("pull-cold", f"pull of {DEBIAN} ({self.archive_mib:.0f} MiB uncompressed, gzip) from a local docker-registry, nothing stored", {
            "mydocker": "mydocker --data-root FRESH pull -q REF",
            "podman": "podman pull -q --tls-verify=false REF (own store; rmi -a -f after, untimed)",
            "skopeo": "skopeo copy docker://REF oci:FRESH (no unpacking)"},
            cold, warmup=min(self.args.warmup, 1), tools=tools)
        # Every layer present: mydocker's store has the image after one pull; Podman's too.
        self.md.ok(self.md.x("pull", "-q", ref, timeout=900), "pull")
        pl.ok(pl.x("pull", "-q", "--tls-verify=false", ref, timeout=900), "pull")

        def present(t, i):
            if t is md:
                return self.md.ok(self.md.x("pull", "-q", ref), "pull")
            return t.ok(t.x("pull", "-q", "--tls-verify=false", ref), "pull")

        self.paired("pull-present", "pull of the same image with every layer already stored", {
            "mydocker": "mydocker pull -q REF", "podman": "podman pull -q --tls-verify=false REF"},
            present, tools=[md, pl])

    def op_load(self):
        pd = self.img_podman
        # Podman loads into a store of its own: its main store has the layer already (import), and
        # a layer it has is not unpacked again. Emptied with rmi after each load.
        pl = self.private_podman("pl")
        floor = Variant("tar")
        tar = shutil.which("tar")  # the spawn helper execs a path, not a name
        if tar is None:
            raise Failed("tar is needed for the load floor")
        md = Variant("mydocker")

        def fn(t, i):
            if t is md:
                root = os.path.join(self.tmp, f"md-load{i}")  # a fresh data root: every layer is unpacked
                try:
                    r = self.sp.run([self.md.binary, "--root", self.md.root, "--data-root", root,
                                     "load", "-q", "-i", self.archive], timeout=900)
                    return self.md.ok(r, "load")
                finally:
                    self.fresh(root)
            if t is floor:
                out = os.path.join(self.tmp, f"tar-x{i}")
                os.makedirs(out)
                try:
                    ms, rss = 0.0, 0
                    for lt in self.layer_tars:
                        r = self.sp.run([tar, "-x", "-f", lt, "-C", out], timeout=900)
                        if r.rc != 0:
                            raise Failed(f"tar -x: exit {r.rc}: {r.err.strip()}")
                        ms, rss = ms + r.ms, max(rss, r.rss)
                    return ms, rss
                finally:
                    self.fresh(out)
            try:
                return t.ok(t.x("load", "-q", "-i", self.archive, timeout=900), "load")
            finally:
                r = t.x("rmi", "-a", "-f", timeout=300)
                if r.rc != 0:
                    raise Failed(f"podman rmi -a -f after load: {r.err.strip()}")
                os.sync()

        tools = [md] + ([pl] if pl is not None else []) + [floor]
        self.paired("load", f"load of a {self.archive_mib:.0f} MiB docker-archive ({self.image_source}), every layer unpacked", {
            "mydocker": "mydocker --data-root FRESH load -q -i ARCHIVE",
            "podman": "podman load -q -i ARCHIVE (own store; rmi -a -f after, untimed)",
            "tar": "tar -x -f LAYER.tar -C FRESH, each layer of the archive (the floor)"},
            fn, warmup=min(self.args.warmup, 1), tools=tools)

    def op_layers(self):
        if self.layered_archive is None:
            self.skipped.append(("layers", "the layered image is built with podman, which is not set up"))
            return
        pd = self.img_podman
        n = self.layered_count
        many, one = f"mydocker/{n} layers", "mydocker/1 layer"
        variants = {many: (self.md, LAYERED), one: (self.md, DEBIAN),
                    f"podman/{n} layers": (pd, LAYERED), "podman/1 layer": (pd, DEBIAN)}
        tools = [Variant(k) for k in variants]

        def fn(t, i):
            tool, img = variants[t.name]
            if tool is self.md:
                return tool.ok(tool.x("run", "--rm", img, "true"), "run --rm")
            return tool.ok(tool.x("run", "--rm", *tool.runflags, img, "true"), "run --rm")

        self.paired("layers", f"run --rm IMAGE true: the Debian image (1 layer) vs it + {LAYER_COMMITS} small layers", {
            many: f"mydocker run --rm {LAYERED} true",
            one: f"mydocker run --rm {DEBIAN} true",
            f"podman/{n} layers": f"podman run --rm --network none {LAYERED} true",
            "podman/1 layer": f"podman run --rm --network none {DEBIAN} true"},
            fn, tools=tools, ref=many)

    def op_network(self):
        """What networking adds to `run --rm true`: the default bridge network
        (veth, address, route; the bridge and NAT table exist after the first
        run) against --network none, for mydocker and for Podman (netavark).
        On the host's network, as Podman's rows must be: mydocker's bridge
        and table are pruned afterwards."""
        md = self.md
        pd = next((t for t in self.tools if t.name == "podman"), None)
        variants = {"mydocker/bridge": (md, "bridge"), "mydocker/none": (md, "none")}
        if pd is not None:
            variants.update({"podman/bridge": (pd, "bridge"), "podman/none": (pd, "none")})
        tools = [Variant(k) for k in variants]

        def fn(t, i):
            tool, net = variants[t.name]
            if tool is md:
                return md.ok(md.x("run", "--rm", "--network", net, "true"), f"run --rm --network {net}")
            flags = list(tool.runflags)
            flags[flags.index("--network") + 1] = net
            return tool.ok(tool.x("run", "--rm", *flags, tool.image, "true"), f"run --rm --network {net}")

        try:
            self.paired("network", "run --rm true: the default bridge network vs --network none", {
                "mydocker/bridge": "mydocker run --rm --network bridge true",
                "mydocker/none": "mydocker run --rm --network none true",
                "podman/bridge": "podman run --rm --network bridge IMAGE true (netavark)",
                "podman/none": "podman run --rm --network none IMAGE true"},
                fn, tools=tools, ref="mydocker/bridge")
        finally:
            md.x("network", "prune")

    def op_net_throughput(self):
        """256 MiB from the host to a container: through a published port
        (127.0.0.1:PORT, DNAT and masquerade) against straight to its bridge
        address, mydocker and Podman. The kernel's NAT either way: within 10 %."""
        size = 256 << 20
        sink = ["sh", "-c", "while true; do nc -l -p 80 > /dev/null; done"]
        md = self.md
        pd = next((t for t in self.tools if t.name == "podman"), None)
        servers = {}  # tool name -> (tool, container name, bridge ip, host port)
        try:
            md.ok(md.x("run", "-d", "--name", f"{self.tag}-tp", "--network", "bridge", "-p", "18931:80", *sink),
                  "run -d -p")
            rec = json.loads(md.q("inspect", f"{self.tag}-tp"))[0]
            servers["mydocker"] = (md, f"{self.tag}-tp", rec["net"]["endpoints"][0]["ip"], 18931)
            if pd is not None:
                flags = list(pd.runflags)
                flags[flags.index("--network") + 1] = "bridge"
                try:
                    pd.ok(pd.x("run", "-d", "--name", f"{self.tag}-tp", *flags, "-p", "18932:80", pd.image, *sink),
                          "run -d -p")
                    ip = pd.q("inspect", "--format", "{{.NetworkSettings.IPAddress}}", f"{self.tag}-tp").strip()
                    servers["podman"] = (pd, f"{self.tag}-tp", ip, 18932)
                except Failed as e:
                    log(f"[net-throughput] podman: {e}")
            variants = {}
            for name, (tool, _, ip, port) in servers.items():
                variants[f"{name}/published"] = ("127.0.0.1", port)
                variants[f"{name}/bridge ip"] = (ip, 80)
            tools = [Variant(k) for k in variants]
            chunk = b"\0" * (1 << 20)

            def fn(t, i):
                host, port = variants[t.name]
                deadline = time.monotonic() + 10
                while True:
                    try:
                        c = socket.create_connection((host, port), timeout=10)
                        break
                    except OSError as e:
                        if time.monotonic() > deadline:
                            raise Failed(f"connect {host}:{port}: {e}")
                        time.sleep(0.05)
                t0 = time.perf_counter()
                with c:
                    for _ in range(size >> 20):
                        c.sendall(chunk)
                    c.shutdown(socket.SHUT_WR)
                    while c.recv(4096):
                        pass
                ms = (time.perf_counter() - t0) * 1000
                time.sleep(0.05)  # the sink's loop listens again
                return ms, 0  # no command ran: no peak RSS (the table leaves this op out)

            self.paired("net-throughput", "256 MiB host -> container: published port vs the bridge address", {
                "mydocker/published": "mydocker run -d -p 18931:80; send to 127.0.0.1:18931",
                "mydocker/bridge ip": "the same container's bridge address, port 80",
                "podman/published": "podman run -d --network bridge -p 18932:80; send to 127.0.0.1:18932",
                "podman/bridge ip": "the same container's bridge address, port 80"},
                fn, tools=tools, ref="mydocker/published")
        finally:
            for tool, name, _, _ in servers.values():
                self.quiet_rm(tool, name)
            md.x("network", "prune")

    def op_commit(self):
        pd = self.img_podman
        tools = [self.md] + ([pd] if pd is not None else [])

        def fn(t, i):
            nm = self.name(t, "c", i)
            img = f"localhost/bench-commit:{i}"
            flags = t.runflags if t is pd else []
            t.ok(t.x("run", "--name", nm, *flags, DEBIAN, "sh", "-c", CHANGES), "run (the changes)")
            try:
                return t.ok(t.x("commit", nm, img, timeout=300), "commit")
            finally:
                self.quiet_rm(t, nm)
                t.x("rmi", "-f", img)
                os.sync()

        self.paired("commit", "commit of a container with 4 MiB + 200 small files of changes", {
            "mydocker": "mydocker commit N IMAGE", "podman": "podman commit N IMAGE"},
            fn, warmup=min(self.args.warmup, 1), tools=tools)

    def op_save(self):
        pd = self.img_podman
        tools = [self.md] + ([pd] if pd is not None else [])

        def fn(t, i):
            out = os.path.join(self.tmp, f"save-{t.name}-{i}.tar")
            try:
                return t.ok(t.x("save", "-o", out, DEBIAN, timeout=900), "save")
            finally:
                try:
                    os.unlink(out)
                except OSError:
                    pass
                os.sync()

        self.paired("save", f"save of the {self.archive_mib:.0f} MiB Debian image to a file", {
            "mydocker": "mydocker save -o FILE IMAGE (OCI layout + manifest.json)",
            "podman": "podman save -o FILE IMAGE (docker-archive)"},
            fn, warmup=min(self.args.warmup, 1), tools=tools)

    # ---- data (issue 14)

    def op_volumes(self):
        """run --rm true with 0, 1 and 10 read-only binds: what a mount adds."""
        dirs = []
        for j in range(max(BIND_COUNTS)):
            d = os.path.join(self.tmp, f"bind{j}")
            os.makedirs(d, exist_ok=True)
            dirs.append(d)
        pd = next((t for t in self.tools if t.name == "podman"), None)
        variants = {}
        for n in BIND_COUNTS:
            variants[f"mydocker/{n} binds"] = (self.md, n)
        if pd is not None:
            for n in (0, max(BIND_COUNTS)):
                variants[f"podman/{n} binds"] = (pd, n)
        tools = [Variant(k) for k in variants]

        def fn(t, i):
            tool, n = variants[t.name]
            flags = [f for d in dirs[:n] for f in ("-v", f"{d}:/m{dirs.index(d)}:ro")]
            if tool is self.md:
                return tool.ok(tool.x("run", "--rm", *flags, "true"), "run --rm -v")
            return tool.ok(tool.x("run", "--rm", *tool.runflags, *flags, tool.image, "true"), "run --rm -v")

        top = max(BIND_COUNTS)
        self.paired("volumes", f"run --rm true with 0, 1 and {top} read-only bind mounts",
                    {k: ("mydocker" if v[0] is self.md else "podman") + f" run --rm" +
                     (f" -v DIR:/mJ:ro x{v[1]}" if v[1] else "") + " true" for k, v in variants.items()},
                    fn, tools=tools, ref=f"mydocker/{top} binds")

    def cp_tree(self):
        """The tree cp copies (made once, untimed): 1 MiB files and small ones."""
        src = os.path.join(self.tmp, "cp-tree")
        if os.path.isdir(src):
            return src
        mib = self.args.cp_mib
        log(f"[cp] making a {mib} MiB tree of {mib * 1024 // CP_FILE_KIB} files + {CP_SMALL_FILES} small ones")
        block = os.urandom(CP_FILE_KIB * 1024)
        for j in range(mib * 1024 // CP_FILE_KIB):
            d = os.path.join(src, f"d{j // 100}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{j}"), "wb") as f:
                f.write(block)
        for j in range(CP_SMALL_FILES):
            d = os.path.join(src, "small", f"s{j // 200}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"s{j}"), "w") as f:
                f.write(f"{j}\n")
        os.symlink("d0/f0", os.path.join(src, "link"))
        os.sync()
        return src

    def op_cp(self):
        """cp of the tree into a running container and out of it, vs tar | tar on the host."""
        src = self.cp_tree()
        md = self.md
        holder = f"{self.tag}-cp"
        md.ok(md.x("run", "-d", "--name", holder, *CMDS["sleep"]), "run -d (cp holder)")
        md.ok(md.x("cp", src, f"{holder}:/tree", timeout=900), "cp (the tree to copy out)")
        out = os.path.join(self.tmp, "cp-out")
        sh = shutil.which("sh") or "/bin/sh"
        tar = shutil.which("tar") or "tar"

        def clean(path):
            shutil.rmtree(path, ignore_errors=True)
            os.sync()

        try:
            for key, title in (("cp-in", "into a running container"), ("cp-out", "out of a running container")):
                rows = {"mydocker": Variant("mydocker"), "tar | tar": Variant("tar | tar")}

                def fn(t, i, key=key):
                    dest = f"{out}-{i}"
                    try:
                        if t.name == "tar | tar":
                            os.makedirs(dest)
                            # The same tree on the host, both ways: the floor of a copy.
                            r = self.sp.run([sh, "-c", f'{tar} -C "$1" -cf - . | {tar} -C "$2" -xf -', "sh", src, dest],
                                            timeout=900)
                            if r.rc != 0:
                                raise Failed(f"tar | tar: exit {r.rc}: {r.err.strip()}")
                            return r.ms, r.rss
                        if key == "cp-in":
                            return md.ok(md.x("cp", src, f"{holder}:/in{i}", timeout=900), "cp in")
                        return md.ok(md.x("cp", f"{holder}:/tree", dest, timeout=900), "cp out")
                    finally:
                        if t.name == "mydocker" and key == "cp-in":
                            md.x("exec", holder, "rm", "-rf", f"/in{i}", timeout=300)
                            os.sync()
                        else:
                            clean(dest)

                self.paired(key, f"cp of a {self.args.cp_mib} MiB tree {title} vs tar | tar on the host (the floor)", {
                    "mydocker": f"mydocker cp {'DIR N:/inI' if key == 'cp-in' else 'N:/tree DIR'}",
                    "tar | tar": "tar -C SRC -cf - . | tar -C DST -xf -"},
                    fn, n=min(self.args.n, 5), warmup=min(self.args.warmup, 1), tools=list(rows.values()))
        finally:
            self.quiet_rm(md, holder)
            clean(out)

    # ---- cleanup

    @staticmethod
    def mydocker_cgroups():
        out = set()
        base = "/sys/fs/cgroup"
        try:
            hier = os.listdir(base)
        except OSError:
            return out
        for h in hier:
            d = os.path.join(base, h, "mydocker")
            if os.path.isdir(d):
                out |= {os.path.join(d, e) for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))}
        return out

    def own_cgroup_dirs(self):
        """Where cgroups named after our tag may be: the root of every
        hierarchy, and our own cgroup in each (runc creates relative ones)."""
        dirs = set()
        base = "/sys/fs/cgroup"
        own = {}
        try:
            with open("/proc/self/cgroup") as f:
                for line in f:
                    _, ctrls, path = line.rstrip("\n").split(":", 2)
                    own[ctrls] = path
        except OSError:
            pass
        for h in os.listdir(base):
            hd = os.path.join(base, h)
            if not os.path.isdir(hd):
                continue
            dirs.add(hd)
            for ctrls, path in own.items():
                names = ctrls.split(",") if ctrls else ["unified"]
                names = [n.replace("name=", "") for n in names]
                if h in names and path != "/":
                    dirs.add(os.path.join(hd, path.lstrip("/")))
        return dirs

    def sweep_cgroups(self, report):
        for d in self.own_cgroup_dirs():
            try:
                entries = os.listdir(d)
            except OSError:
                continue
            for e in entries:
                if not e.startswith(self.tag):
                    continue
                top = os.path.join(d, e)
                subdirs = [root for root, _, _ in os.walk(top)]
                for sub in sorted(subdirs, key=len, reverse=True):
                    try:
                        with open(os.path.join(sub, "cgroup.procs")) as f:
                            for p in f.read().split():
                                try:
                                    os.kill(int(p), signal.SIGKILL)
                                    report.append(f"killed pid {p} left in cgroup {sub}")
                                except ProcessLookupError:
                                    pass
                    except OSError:
                        pass
                    for _ in range(50):
                        try:
                            os.rmdir(sub)
                            break
                        except FileNotFoundError:
                            break
                        except OSError:
                            time.sleep(0.02)
                    else:
                        report.append(f"could not remove cgroup {sub}")
                # Podman's parent (--cgroup-parent) is expected to stay; the rest is a leak.
                if not e.endswith("-podman"):
                    report.append(f"removed leftover cgroup {top}")

    def cleanup(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("[cleanup] removing every container, mount and cgroup this run made")
        report = []
        # Commands still running (after Ctrl-C): give them a moment, then kill their group.
        self.sp.cleaning = True
        for t in reversed(self.all_tools() + self.extra_podmans):
            try:
                report += t.cleanup()
            except Exception as e:  # noqa: BLE001 - keep cleaning
                report.append(f"{t.name} cleanup: {e}")
        # Processes whose command line names our private dirs: monitors, conmon.
        for p in all_pids():
            if p in (os.getpid(), self.sp.proc.pid):
                continue
            if any(self.tmp in a for a in cmdline(p)):
                try:
                    os.kill(p, signal.SIGKILL)
                    report.append(f"killed leftover process {p}: {' '.join(cmdline(p))[:120]}")
                except ProcessLookupError:
                    pass
        time.sleep(0.1)
        self.sweep_cgroups(report)
        # Mounts under our private dirs (container rootfs overlays...).
        for f in sorted(mountinfo(), key=lambda f: -len(f[4])):
            mp = unescape_mount(f[4])
            if mp.startswith(self.tmp + "/"):
                r = libc.umount2(mp.encode(), MNT_DETACH)
                report.append(f"unmounted leftover {mp}" + ("" if r == 0 else " (failed)"))
        new_md = {d for d in self.mydocker_cgroups() - self.cg_snapshot if os.path.isdir(d)}
        if new_md and self.md is not None:
            # mydocker names cgroups mydocker/<id>; those of ours are gone with
            # our containers. Others may belong to someone else's run: report only.
            report.append("cgroups under mydocker/ that appeared during the run and are still there "
                          f"(maybe another user's): {sorted(new_md)[:5]}")
        self.sp.close()
        if self.crun_ns is not None:
            os.close(self.crun_ns)
            self.crun_ns = None
        if self.args.keep:
            log(f"[cleanup] keeping {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if os.path.exists(self.tmp):
                report.append(f"could not remove {self.tmp}")
        self.leftovers = report
        for line in report:
            log(f"[cleanup] {line}")
        if not report:
            log("[cleanup] nothing left behind")

    # ---- output

    def machine(self):
        info = []
        uname = platform.uname()
        info.append(("date", time.strftime("%Y-%m-%d %H:%M %Z")))
        info.append(("kernel", f"{uname.system} {uname.release} ({uname.machine})"))
        info.append(("nproc", str(os.cpu_count())))
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
        except OSError:
            pass
        info.append(("cpu", cpu or "?"))
        try:
            with open("/proc/meminfo") as f:
                mem = int(f.readline().split()[1]) // 1024
            info.append(("memory", f"{mem} MiB"))
        except OSError:
            pass
        try:
            with open("/etc/debian_version") as f:
                info.append(("os", "Debian " + f.read().strip()))
        except OSError:
            pass
        info.append(("cgroups", "hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified)" if is_hybrid() else "not hybrid"))
        info.append(("load at start", self.load_start))
        info.append(("load at end", " ".join(open("/proc/loadavg").read().split()[:3])))
        info += self.versions
        for name, why in self.skipped:
            info.append((name, f"SKIPPED: {why}"))
        info.append(("harness floor", f"{fmt_ms(self.baseline_ms)} ms median to fork+exec+wait /bin/true"))
        return info

    def report(self, markdown):
        names = [t.name for t in self.tools]
        out = []
        h = (lambda s: f"### {s}") if markdown else (lambda s: f"== {s}")
        a = self.args
        out.append(h("Machine"))
        rows = [[k, v] for k, v in self.machine()]
        out.append(render(rows, ["", ""], markdown) if markdown else "\n".join(f"{k:>14}: {v}" for k, v in rows))
        out.append("")
        out.append(f"N = {a.n} paired iterations after {a.warmup} warm-up (bulk: {a.bulk_n}, no warm-up); "
                   f"{a.containers} containers for ps/bulk. Ratio = median over iterations of "
                   "mydocker_ms / tool_ms in the same iteration (OCI face: mydocker-runc_ms / tool_ms; "
                   "podman-run: with mydocker-runc / with runc; layers: mydocker's many-layer run / each "
                   "row); < 1 means mydocker is faster. Image ops (load, commit, save) take 1 warm-up.")
        out.append("")
        for s in self.series:
            out.append(h(s.title))
            rows = []
            for nm in s.tools or names:
                ms = s.ms(nm)
                if nm in s.failed and not ms:
                    rows.append([nm, "-", "-", "-", f"failed: {s.failed[nm][:120]}"])
                    continue
                if not ms:
                    continue
                ratio = "1.00x" if nm == s.ref else fmt_ratio(s.ratio(nm)[0])
                rows.append([nm, fmt_ms(med(ms)), fmt_ms(min(ms)), ratio, s.what.get(nm, "")])
            out.append(render(rows, ["tool", "median ms", "min ms", "mydocker/tool", "command"], markdown))
            out.append("")
        # Memory
        out.append(h("Peak RSS of the CLI per command (KiB, median; wait4 ru_maxrss = /usr/bin/time %M)"))
        rows = []
        rss_names = list(dict.fromkeys(names + [nm for s in self.series for nm in s.tools]))
        for s in self.series:
            if s.key.startswith("bulk-rm") or s.key.endswith("-cold") or s.key == "net-throughput":
                continue
            rows.append([s.key] + [str(int(med(s.rss(nm)))) if s.rss(nm) else "-" for nm in rss_names])
        out.append(render(rows, ["operation"] + rss_names, markdown))
        out.append("")
        out.append(h("Resident memory per running container beyond its own processes (KiB)"))
        rows = []
        for (tool, label), m in sorted(self.memory.items()):
            who = f"monitor ({m['comm']})" if tool == "mydocker" else m["comm"]
            rows.append([tool, who, label, str(m["count"]), fmt_kib(m["rss_med"]), fmt_kib(m["pss_med"]),
                         fmt_kib(m["pss_sum"] / max(1, m["containers"]))])
        for t in self.tools:
            if not t.has_monitor:
                rows.append([t.name, "none (no per-container process)", "-", "0", "0", "0", "0"])
        out.append(render(rows, ["tool", "process", "when", "count", "RSS med", "PSS med", "PSS total/container"], markdown))
        out.append("")
        scale = getattr(self, "scale_memory", None)
        if scale:
            out.append(h("Host memory per running container at scale (KiB; /proc/meminfo before and after the starts)"))
            rows = [[tool, str(m["count"])] + [fmt_kib(m["per"].get(k)) for k in MEMINFO]
                    for tool, m in scale.items()]
            out.append(render(rows, ["tool", "containers", "MemAvailable drop"] + [f"+{k}" for k in MEMINFO[1:]], markdown))
            out.append("")
            for tool, m in scale.items():
                slabs = ", ".join(f"{c} {v:.1f}" for v, c in m["slabs"] if v > 0.05)
                (b_total, b_dirs), (a_total, a_dirs) = m["memcg"]
                out.append(("- " if markdown else "  ") + f"{tool}: slab caches that grew most (KiB per container): "
                           f"{slabs or 'none'}; memory cgroups {b_total} -> {a_total} "
                           f"(directories {b_dirs} -> {a_dirs})")
            out.append("")
        dying = getattr(self, "dying", None)
        if dying:
            out.append(h("Dying memory cgroups (kernel's memory cgroups minus directories)"))
            for tool, (before, after) in dying.items():
                out.append(("- " if markdown else "  ") + f"{tool}: {before} before its {a.dying} runs, {after} after")
            out.append("")
        out.append(h("Targets"))
        out += [("- " if markdown else "  ") + line for line in self.targets()]
        if self.leftovers:
            out.append("")
            out.append(h("Cleanup"))
            out += [("- " if markdown else "  ") + line for line in self.leftovers]
        return "\n".join(out)

    def find(self, key):
        return next((s for s in self.series if s.key == key), None)

    def targets(self):
        lines = []
        K = self.args.containers

        def vs(key, peer, label, limit):
            s = self.find(key)
            if s is None:
                lines.append(f"NOT RUN: {label}")
                return
            if not s.ms(s.ref) or not s.ms(peer):
                lines.append(f"NOT MEASURED: {label} (a tool was skipped or failed)")
                return
            r, _ = s.ratio(peer)
            verdict = "MET" if r <= limit else "MISSED"
            lines.append(f"{verdict}: {label}: {r:.3f}x ({s.ref} {fmt_ms(med(s.ms(s.ref)))} ms vs "
                         f"{peer} {fmt_ms(med(s.ms(peer)))} ms median; target <= {limit:.2f}x)")

        vs("lifecycle", "crun", "lifecycle <= 1.0x crun", 1.0)
        if self.find("scale-lifecycle") is not None or self.find("dying-lifecycle") is not None:
            N = self.args.scale
            vs("lifecycle", "crun", "lifecycle <= 0.85x crun warm, nothing running", 0.85)
            vs("scale-lifecycle", "crun", f"lifecycle <= 1.0x crun with {N} running", 1.0)
            vs("scale-detached", "crun", f"detached start <= 1.0x crun with {N} running", 1.0)
            vs("scale-exec", "crun", f"exec <= 1.0x crun with {N} running", 1.0)
            vs("scale-ps", "crun", f"ps <= 0.75x crun list with {N} running", 0.75)
            vs("scale-stop", "crun", f"stop <= 1.0x crun with {N} running", 1.0)
            vs("scale-rm", "crun", f"rm -f <= 1.0x crun delete -f with {N} running", 1.0)
            s = self.find("scale-ps")
            if s is not None and s.rss("mydocker"):
                peak = med(s.rss("mydocker"))
                lines.append(f"{'MET' if peak <= 4096 else 'MISSED'}: ps peak RSS <= 4 MiB with {N} running: "
                             f"{peak / 1024:.1f} MiB")
            m = getattr(self, "scale_memory", {})
            if "mydocker" in m and "crun" in m:
                mine, theirs = m["mydocker"]["per"]["MemAvailable"], m["crun"]["per"]["MemAvailable"]
                if theirs > 0:
                    r = mine / theirs
                    lines.append(f"{'MET' if r <= 2.0 else 'MISSED'}: host memory per running container <= 2x crun's: "
                                 f"{r:.2f}x ({mine:.0f} vs {theirs:.0f} KiB)")
            s = self.find("scale-start")
            if s is not None:
                for tool in s.tools:
                    xs = [s.samples[tool][j][0] for j in sorted(s.samples.get(tool, {}))]
                    k = max(1, len(xs) // 10)
                    if len(xs) >= 2 * k and med(xs[:k]):
                        r = med(xs[-k:]) / med(xs[:k])
                        label = "MET" if tool != "mydocker" or r <= 1.2 else "MISSED"
                        if tool != "mydocker":
                            label = "INFO"
                        lines.append(f"{label}: {tool}'s start cost flat as containers are added: last tenth / "
                                     f"first tenth {r:.2f}x ({fmt_ms(med(xs[-k:]))} vs {fmt_ms(med(xs[:k]))} ms)")
            vs("dying-lifecycle", "crun", "lifecycle <= 1.0x crun on a host with dying memory cgroups", 1.0)
            d, f = self.find("dying-lifecycle"), self.find("lifecycle")
            if d is not None and f is not None and d.ms("mydocker") and f.ms("mydocker"):
                for tool in ("mydocker", "crun"):
                    if d.ms(tool) and f.ms(tool):
                        lines.append(f"INFO: {tool}'s lifecycle, dying cgroups / fresh: "
                                     f"{med(d.ms(tool)) / med(f.ms(tool)):.2f}x")
        vs("detached", "crun", "detached start <= 1.0x crun create+start", 1.0)
        vs("exec", "crun", "exec <= 1.0x crun exec", 1.0)
        vs(f"ps{K}", "crun", f"ps with {K} <= 1.0x crun list", 1.0)
        for s in self.series:
            if s.ref == "mydocker" and s.key not in IMAGE_KEYS and s.key not in ("cp-in", "cp-out"):
                vs(s.key, "podman", f"{s.key} >= 10x faster than podman", 0.1)
        # Images (issue 12).
        if self.find("pull-cold") is not None:
            vs("pull-cold", "podman", "pull (cold) >= 2x faster than podman pull", 0.5)
            vs("pull-cold", "skopeo", "INFO: pull (cold, unpacked) vs skopeo copy (not unpacked)", 99.0)
        s = self.find("pull-present")
        if s is not None and s.ms("mydocker"):
            m = med(s.ms("mydocker"))
            lines.append(f"{'MET' if m <= 50 else 'MISSED'}: pull with every layer present <= 50 ms: {fmt_ms(m)} ms median")
            if s.ms("podman"):
                r, _ = s.ratio("podman")
                lines.append(f"INFO: pull with every layer present vs podman's: {r:.3f}x")
        if self.find("load") is not None:
            vs("load", "podman", "load >= 3x faster than podman load", 0.33)
            vs("load", "tar", "load within 1.5x of tar -x of the same layers", 1.5)
        s = self.find("layers")
        if s is not None:
            one = "mydocker/1 layer"
            vs("layers", one, f"run --rm of the {self.layered_count}-layer image <= 1.1x the 1-layer one", 1.1)
            pm, p1 = f"podman/{self.layered_count} layers", "podman/1 layer"
            r = pair_ratio(s, pm, p1)
            if r is not None:
                lines.append(f"INFO: podman run --rm, {self.layered_count} layers / 1 layer: {r:.3f}x")
            for p in (pm, p1):
                r = pair_ratio(s, one, p)
                if r is not None:
                    lines.append(f"INFO: mydocker/1 layer / {p}: {r:.3f}x")
        s = self.find("network")
        if s is not None:
            def added(a, b):
                x, y = s.samples.get(a, {}), s.samples.get(b, {})
                return med([x[i][0] - y[i][0] for i in x if i in y])
            d = added("mydocker/bridge", "mydocker/none")
            if d is not None:
                verdict = "MET" if d <= 1.5 else "MISSED"
                lines.append(f"{verdict}: the bridge network adds <= 1.5 ms to run --rm true: {d:.2f} ms "
                             f"(median of paired differences; bridge/none "
                             f"{pair_ratio(s, 'mydocker/bridge', 'mydocker/none'):.3f}x)")
            p = added("podman/bridge", "podman/none")
            if p is not None:
                lines.append(f"INFO: podman's bridge network (netavark) adds {p:.1f} ms to run --rm true "
                             f"(bridge/none {pair_ratio(s, 'podman/bridge', 'podman/none'):.3f}x)")
            r = pair_ratio(s, "mydocker/bridge", "podman/bridge")
            if r is not None:
                lines.append(f"INFO: run --rm --network bridge true, mydocker/podman: {r:.3f}x")
        s = self.find("net-throughput")
        if s is not None:
            for tool in ("mydocker", "podman"):
                r = pair_ratio(s, f"{tool}/published", f"{tool}/bridge ip")
                if r is None:
                    continue
                if tool == "mydocker":
                    verdict = "MET" if r <= 1.1 else "MISSED"
                    lines.append(f"{verdict}: a published port within 10 % of the bridge address: {r:.3f}x")
                else:
                    lines.append(f"INFO: podman published / bridge address: {r:.3f}x")
        for key in ("commit", "save"):
            s = self.find(key)
            if s is not None and s.ms("mydocker") and s.ms("podman"):
                r, _ = s.ratio("podman")
                lines.append(f"INFO: {key} mydocker/podman: {r:.3f}x ({fmt_ms(med(s.ms('mydocker')))} vs "
                             f"{fmt_ms(med(s.ms('podman')))} ms median)")
        s = self.find("volumes")
        if s is not None:
            top = max(BIND_COUNTS)
            zero, many = s.samples.get("mydocker/0 binds", {}), s.samples.get(f"mydocker/{top} binds", {})
            per = med([(many[i][0] - zero[i][0]) / top for i in many if i in zero])
            if per is not None:
                verdict = "MET" if per <= 0.1 else "MISSED"
                lines.append(f"{verdict}: each bind mount adds <= 0.1 ms to run --rm: {per:.3f} ms per mount "
                             f"(median over iterations of ({top} binds - 0 binds) / {top})")
            for other in ("mydocker/0 binds", "mydocker/1 binds", f"podman/{top} binds"):
                r = pair_ratio(s, f"mydocker/{top} binds", other)
                if r is not None:
                    lines.append(f"INFO: mydocker run --rm with {top} binds / {other}: {r:.3f}x")
        for key in ("cp-in", "cp-out"):
            s = self.find(key)
            if s is not None and s.ms("mydocker") and s.ms("tar | tar"):
                r, _ = s.ratio("tar | tar")
                lines.append(f"INFO: {key} mydocker / tar | tar: {r:.3f}x ({fmt_ms(med(s.ms('mydocker')))} vs "
                             f"{fmt_ms(med(s.ms('tar | tar')))} ms median)")
        for s in self.series:
            if s.key.startswith("oci-"):
                vs(s.key, "crun", f"OCI {s.key[4:]} <= 1.0x crun", 1.0)
        s = self.find("podman-run")
        if s is not None and s.ms(s.ref) and s.ms("podman/runc"):
            r, _ = s.ratio("podman/runc")
            lines.append(f"INFO: podman run --rm with mydocker-runc / with runc: {r:.3f}x "
                         f"({fmt_ms(med(s.ms(s.ref)))} vs {fmt_ms(med(s.ms('podman/runc')))} ms median)")
        peaks = [(s.key, med(s.rss(s.ref))) for s in self.series
                 if s.rss(s.ref) and not s.key.startswith("bulk-rm") and not s.key.endswith("-cold")
                 and s.key not in IMAGE_KEYS
                 and s.ref in ("mydocker", "mydocker-runc")]
        if peaks:
            worst = max(peaks, key=lambda p: p[1])
            verdict = "MET" if worst[1] <= 4096 else "MISSED"
            lines.append(f"{verdict}: CLI peak RSS <= 4 MiB: worst {worst[1] / 1024:.1f} MiB ({worst[0]}); "
                         f"best {min(p[1] for p in peaks) / 1024:.1f} MiB")
        mons = [(label, m) for (tool, label), m in self.memory.items() if tool == "mydocker"]
        if mons:
            for label, m in sorted(mons):
                verdict = "MET" if m["rss_med"] <= 1024 else "MISSED"
                lines.append(f"{verdict}: monitor <= 1 MiB resident ({label}): RSS {m['rss_med']:.0f} KiB, "
                             f"PSS {m['pss_med']:.0f} KiB per monitor ({m['comm']})")
        return lines


def pair_ratio(s, a, b):
    """Median over iterations of a_ms / b_ms, for two rows of one series."""
    x, y = s.samples.get(a, {}), s.samples.get(b, {})
    return med([x[i][0] / y[i][0] for i in x if i in y and y[i][0] > 0])


def fmt_kib(v):
    return "-" if v is None else str(int(round(v)))


def write_doc(path, text):
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    body = f"{begin}\n<!-- Generated by benches/compare.sh --write-doc; edits here are overwritten. -->\n\n{text}\n\n{end}"
    if os.path.exists(path):
        with open(path) as f:
            doc = f.read()
        if begin in doc and end in doc:
            doc = doc[: doc.index(begin)] + body + doc[doc.index(end) + len(end):]
        else:
            doc = doc.rstrip("\n") + "\n\n## Results\n\n" + body + "\n"
    else:
        doc = "# Performance\n\n## Results\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(doc)
    log(f"[doc] wrote results into {path}")


def main():
    # Containers of the ops that are not about networking get no network (as
    # the Podman rows), so a run never makes a bridge or NAT table on the host;
    # the network ops say --network themselves.
    os.environ.setdefault("MYDOCKER_NETWORK", "none")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: N=3, 1 warm-up, 3 containers, 1 bulk round")
    ap.add_argument("-n", type=int, help="paired iterations per operation (default 30)")
    ap.add_argument("--warmup", type=int, help="warm-up iterations, discarded (default 3)")
    ap.add_argument("--containers", type=int, help="containers for `ps` and bulk start/rm (default 50)")
    ap.add_argument("--bulk-n", type=int, help="rounds of bulk start/rm (default 5)")
    ap.add_argument("--ops", default=",".join(o for o in OPS if o not in NET_OPS + SCALE_OPS),
                    help=f"comma-separated subset of: {','.join(OPS)} "
                         f"(default: all but {','.join(NET_OPS + SCALE_OPS)})")
    ap.add_argument("--scale", type=int, default=300,
                    help="containers running for the scale op (default 300; --quick: 5)")
    ap.add_argument("--scale-podman", type=int, default=50,
                    help="Podman's count in the scale op, as it is much slower (default 50)")
    ap.add_argument("--dying", type=int, default=90,
                    help="containers run and removed by each tool to leave dying memory cgroups (default 90)")
    ap.add_argument("--peers", default="crun,runc,podman", help="comma-separated subset of crun,runc,podman ('' for none)")
    ap.add_argument("--mydocker", default=os.path.join(REPO, "target", "release", "mydocker"))
    ap.add_argument("--write-doc", action="store_true", help="regenerate the results section of docs/performance.md")
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "performance.md"))
    ap.add_argument("--keep", action="store_true", help="keep the private temp dir (debugging)")
    ap.add_argument("--mydocker-runc", default=os.environ.get("MYDOCKER_RUNC") or None,
                    help="the OCI face to measure (default $MYDOCKER_RUNC, else a mydocker-runc symlink to --mydocker)")
    ap.add_argument("--image-tar", help="a rootfs tar for the image ops (default: made with mmdebstrap)")
    ap.add_argument("--cp-mib", type=int, help="size of the tree the cp op copies (default 1024; --quick: 32)")
    ap.add_argument("--cold-gap", type=float, default=0.25,
                    help="idle seconds before each call of the OCI face's cold rows (default 0.25)")
    a = ap.parse_args()
    q = a.quick
    a.n = a.n if a.n is not None else (3 if q else 30)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 3)
    a.containers = a.containers if a.containers is not None else (3 if q else 50)
    a.bulk_n = a.bulk_n if a.bulk_n is not None else (1 if q else 5)
    a.cp_mib = a.cp_mib if a.cp_mib is not None else (32 if q else 1024)
    if q:
        a.scale, a.scale_podman, a.dying = min(a.scale, 5), min(a.scale_podman, 3), min(a.dying, 5)
    a.peers = [p for p in a.peers.split(",") if p]
    a.ops = [o.strip() for o in a.ops.split(",") if o.strip()]
    for o in a.ops:
        if o not in OPS:
            ap.error(f"unknown op {o!r}; choose from {','.join(OPS)}")
    for p in a.peers:
        if p not in ("crun", "runc", "podman"):
            ap.error(f"unknown peer {p!r}")
    if os.geteuid() != 0:
        ap.error("must run as root (containers, mounts, cgroups)")
    if not os.access(a.mydocker, os.X_OK):
        ap.error(f"no mydocker binary at {a.mydocker} (cargo build --release)")

    def on_signal(signum, frame):
        global INTERRUPTED
        if not INTERRUPTED:
            log(f"\n[signal {signum}] stopping after the current command, then cleaning up")
        INTERRUPTED = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        b = Bench(a)
    except Failed as e:
        print(f"compare: {e}", file=sys.stderr)
        return 1
    b.load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    interrupted = False
    try:
        b.setup()
        for op in a.ops:
            getattr(b, f"op_{op.replace('-', '_')}")()
    except KeyboardInterrupt:
        interrupted = True
        log("\ninterrupted")
    except Failed as e:
        b.failed_mydocker.append(str(e))
        log(f"FAILED: {e}")
    finally:
        b.cleanup()
    if interrupted:
        return 130
    text = b.report(markdown=False)
    print(text)
    if b.skipped:
        print()
        for name, why in b.skipped:
            print(f"skipped {name}: {why}")
    if a.write_doc:
        write_doc(a.doc, b.report(markdown=True))
    if b.failed_mydocker:
        print("\nmydocker FAILED:\n  " + "\n  ".join(b.failed_mydocker))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
