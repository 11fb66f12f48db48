#!/usr/bin/env python3
"""Where a mydocker command's wall-clock time goes, phase by phase.

    benches/profile.sh [-n 20] [--containers 50] [--ops run,rund,exec,ps,ps50,stop,rm]

How: uprobes (entry and return) on the functions that delimit the phases of
a command in the `profiling` build (release code generation plus symbols),
and kernel tracepoints for process exec/exit and for the expensive syscalls
(fsync, mount, umount, clone3, wait4), recorded system-wide with
`perf record -a` while the command runs N times (system-wide, because
per-task recording clones every event into every forked task, which made
fork/clone-heavy commands several ms slower), keeping only our processes. Every interval is attributed exclusively (a phase's
time excludes the phases nested in it), per process, and averaged.

Phases:
  process start        exec() to main(): kernel exec, dynamic loading, relocation, libc/Rust init
  cli                  main() to the engine: clap parsing, finding the script
  engine construction  mydocker::engine::build (Engine::new, registering every module)
  compile              Engine::compile of the command script and of each imported stdlib module
  stdlib module eval   running a stdlib module's top level (Module::eval_ast_as_new)
  primitive X          a Rust primitive called by the script (cgroup::create, state::create...)
  syscall X            fsync, mount, umount2, clone3, wait4 inside those
  script interpretation  what is left in engine::run: the Rhai interpreter running the script
  teardown             dropping the Engine and the AST
  exit                 engine::run's return to the process's exit
The container's own processes (the init after clone, until it execs the
command) are reported separately, as they run in parallel with the parent.

Needs root, perf (package linux-perf), tracefs at /sys/kernel/tracing and
uprobes. Cleans up its probes, containers and temp dirs on exit and Ctrl-C.
"""

import argparse
import collections
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TRACEFS = "/sys/kernel/tracing"

# Demangled names (hash suffix removed) whose every copy gets an entry and a return probe.
FUNCS = {
    "mydocker::main": "main",
    "mydocker::cli::main": "cli",
    "mydocker::engine::build": "build",
    "mydocker::engine::run": "run",
    "rhai::parser::<impl rhai::engine::Engine>::parse": "compile",
    "rhai::module::Module::eval_ast_as_new_raw": "modeval",
    "core::ptr::drop_in_place<rhai::engine::Engine>": "drop_engine",
    "core::ptr::drop_in_place<rhai::ast::ast::AST>": "drop_ast",
    "mydocker::runtime::process::child_setup_and_exec": "child_setup",
}
# The primitives worth a probe of their own (each probe costs: a command that
# forks or clones pays for every probe installed in its memory). The cheap
# ones (sys::*, state::dir...) stay in "script interpretation".
PRIMITIVES = {
    "container::create", "container::start", "container::wait", "container::exec", "container::signal",
    "container::wait_gone", "container::alive", "cgroup::create", "cgroup::remove", "rootfs::mount_overlay",
    "rootfs::remove", "state::create", "state::update", "state::remove", "state::list", "state::load",
    "state::record_exit", "image::exists",
}
PRIMITIVE = re.compile(r"^<mydocker::engine::(\w+)::(?:api|log_api)::(\w+)_token as rhai::func::plugin::PluginFunc>::call$")
SYSCALLS = ["fsync", "fdatasync", "mount", "umount", "clone3", "wait4", "rmdir", "renameat2", "rename"]

OPS = {
    # name: (description, argv after the global options, setup)
    "run": ("run --rm true", ["run", "--rm", "true"], None),
    "rund": ("run -d sleep 1000, the n-th with n-1 running", ["run", "-d", "--name", "{name}", "sleep", "1000"], "rm_after"),
    "exec": ("exec C true", ["exec", "px", "true"], "one"),
    "ps": ("ps, 1 running", ["ps"], "one"),
    "ps50": ("ps, {K} running", ["ps"], "many"),
    "rund50": ("run -d sleep 1000 with {K}+n-1 running", ["run", "-d", "--name", "{name}", "sleep", "1000"], "many+rm_after"),
    "stop": ("stop C (SIGTERM trapped)", ["stop", "{name}"], "trap_before"),
    "rm": ("rm C (ended)", ["rm", "{name}"], "ended_before"),
}


def sh(cmd, **kw):
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


class Probes:
    def __init__(self, binary):
        self.binary = binary
        self.group = f"mdbprof{os.getpid()}"
        self.events = []

    def offsets(self):
        segs = []
        for line in sh(["readelf", "-lW", self.binary]).stdout.splitlines():
            f = line.split()
            if f and f[0] == "LOAD":
                off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
                segs.append((vaddr, vaddr + filesz, off))
        found = collections.defaultdict(list)
        for line in sh(["nm", "-C", self.binary]).stdout.splitlines():
            m = re.match(r"^([0-9a-f]+) [tT] (.*)$", line)
            if not m:
                continue
            addr, name = int(m.group(1), 16), re.sub(r"::h[0-9a-f]{16}$", "", m.group(2))
            name = re.sub(r"\.\d+$", "", name)
            short = FUNCS.get(name)
            m = PRIMITIVE.match(name)
            if m and f"{m.group(1)}::{m.group(2)}" in PRIMITIVES:
                short = f"p_{m.group(1)}__{m.group(2)}"
            if not short:
                continue
            for lo, hi, off in segs:
                if lo <= addr < hi:
                    found[short].append(addr - lo + off)
        return found

    def add(self):
        lines = []
        for short, offs in sorted(self.offsets().items()):
            for i, off in enumerate(sorted(set(offs))):
                ev = f"{short}_{i}"
                lines.append(f"p:{self.group}/{ev} {self.binary}:{off:#x}")
                lines.append(f"r:{self.group}/{ev}_r {self.binary}:{off:#x}")
        fd = os.open(f"{TRACEFS}/uprobe_events", os.O_WRONLY | os.O_APPEND)
        try:
            for ln in lines:  # one write per line: tracefs parses each write on its own
                os.write(fd, (ln + "\n").encode())
                self.events.append(ln.split()[0].split("/", 1)[1])
        finally:
            os.close(fd)
        return len(lines)

    def remove(self):
        if not self.events:
            return
        fd = os.open(f"{TRACEFS}/uprobe_events", os.O_WRONLY | os.O_APPEND)
        try:
            for ev in self.events:
                try:
                    os.write(fd, f"-:{self.group}/{ev}\n".encode())
                except OSError:
                    pass
        finally:
            os.close(fd)
        self.events = []


def category(ev):
    """Map a probe's short name to a phase."""
    base = re.sub(r"_\d+$", "", ev)
    if base.startswith("p_"):
        mod, fn = base[2:].split("__", 1)
        return f"primitive {mod}::{fn}"
    return {
        "main": "cli", "cli": "cli", "build": "engine construction", "run": "script interpretation",
        "compile": "compile", "modeval": "stdlib module eval", "drop_engine": "teardown",
        "drop_ast": "teardown", "child_setup": "container init setup",
    }[base]


LINE = re.compile(r"^\s*(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s?(.*)$")


def analyse(script_text, binary):
    """Per mydocker process: exclusive ms per phase. Returns list of dicts."""
    procs = {}  # pid -> {"exec": t, "exit": t, "stack": {tid: [...]}, "ex": Counter, "parent": pid}
    forked_by = {}  # every fork seen: child pid -> parent pid
    parent_of = {}
    out = []

    def proc(pid):
        return procs.get(pid)

    for line in script_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid, tid, t, ev, rest = int(m.group(1)), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
        if ev == "sched:sched_process_fork":
            cm = re.search(r"child_pid=(\d+)", rest)
            if cm:
                forked_by[int(cm.group(1))] = pid
            if cm and pid in procs:
                parent_of[int(cm.group(1))] = pid
                procs[int(cm.group(1))] = {"exec": t, "child": True, "parent": pid, "stack": {}, "ex": collections.Counter()}
            continue
        if ev == "sched:sched_process_exec":
            fn = re.search(r"filename=(\S+)", rest).group(1)
            if fn == binary:
                procs[pid] = {"exec": t, "child": False, "stack": {}, "ex": collections.Counter(), "main": None,
                              "forked_by": forked_by.get(pid)}
            elif pid in procs and procs[pid].get("child") and not procs[pid].get("done"):
                # A child of the command exec()s: the container's init (or an exec'd
                # process) running its command, or the monitor starting.
                p = procs[pid]
                what = "monitor: fork to exec" if fn.endswith("-monitor") else "container process: clone to exec of its command"
                p["ex"][what] += (t - p["exec"]) * 1000
                p["done"] = True
            continue
        p = proc(pid)
        if p is None:
            continue
        if ev == "sched:sched_process_exit":
            if p.get("child"):
                continue
            if "group_dead=true" not in rest:
                continue
            p["exit"] = t
            total = (t - p["exec"]) * 1000
            ex = p["ex"]
            if p.get("main") is not None:
                ex["process start (exec to main)"] += (p["main"] - p["exec"]) * 1000
            end = p.get("cli_ret") or p.get("run_ret")
            if end is not None:
                ex["exit (after cli::main returns)"] += (t - end) * 1000
            accounted = sum(ex.values())
            ex["other"] += max(0.0, total - accounted)
            children = [q for q in procs.values() if q.get("child") and q.get("parent") == pid and q.get("done")]
            cex = collections.Counter()
            for q in children:
                cex.update(q["ex"])
            out.append({"pid": pid, "total": total, "ex": ex, "child": cex, "forked_by": p["forked_by"]})
            continue
        if p.get("child"):
            continue  # probes in the container's init before exec: covered by clone-to-exec
        stack = p["stack"].setdefault(tid, [])
        if ev.startswith("syscalls:sys_enter_"):
            stack.append(["syscall " + ev.split("sys_enter_")[1], t, 0.0])
            continue
        if ev.startswith("syscalls:sys_exit_"):
            name = "syscall " + ev.split("sys_exit_")[1]
            if stack and stack[-1][0] == name:
                _, t0, inner = stack.pop()
                dur = (t - t0) * 1000
                p["ex"][name] += dur - inner
                if stack:
                    stack[-1][2] += dur
            continue
        grp, _, evname = ev.partition(":")
        if not grp.startswith("mdbprof"):
            continue
        if evname.startswith("main_") and not evname.endswith("_r"):
            p["main"] = t
            continue
        if evname.endswith("_r"):
            base = evname[:-2]
            if stack and stack[-1][0] == base:
                _, t0, inner = stack.pop()
                dur = (t - t0) * 1000
                cat = category(base)
                p["ex"][cat] += dur - inner
                if stack:
                    stack[-1][2] += dur
                if base.startswith("run_"):
                    p["run_ret"] = t
                if base.startswith("cli_"):
                    p["cli_ret"] = t
            continue
        if evname.startswith("cli_"):
            # cli::main's own time is attributed as "cli"; it nests build and run.
            stack.append([evname, t, 0.0])
            continue
        stack.append([evname, t, 0.0])
    # The measured commands are all started by the loop's shell; any other run of the
    # binary is a monitor's `mydocker __monitor-exit` (it records a container's exit).
    if out:
        # (A monitor forked before the recording has no fork event: None.)
        parents = collections.Counter(p["forked_by"] for p in out if p["forked_by"] is not None)
        loop = parents.most_common(1)[0][0] if parents else None
        for p in out:
            p["monitor_exit"] = p["forked_by"] != loop
    return out


def calibrate(probes, binary, script, tmp, op):
    """Run the same loop with one probe (main) only: process start and total
    without the overhead of installing and hitting ~150 uprobes."""
    # Only the events perf opens are enabled: the other uprobes are not installed.
    data = os.path.join(tmp, f"{op}.calib.data")
    r = sh(["perf", "record", "-a", "-q", "-o", data, "-e", f"{probes.group}:main_0", "-e", "sched:sched_process_exec",
            "-e", "sched:sched_process_exit", "--", "/bin/sh", script])
    if r.returncode != 0:
        return None
    ex, starts, totals = {}, [], []
    for line in sh(["perf", "script", "-i", data, "-F", "pid,time,event,trace"]).stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+(\S+):\s?(.*)", line)
        if not m:
            continue
        pid, t, name, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        if name == "sched:sched_process_exec" and f"filename={binary}" in rest:
            ex[pid] = t
        elif name.endswith(":main_0") and pid in ex:
            starts.append((t - ex[pid]) * 1000)
        elif name == "sched:sched_process_exit" and pid in ex and "group_dead=true" in rest:
            totals.append((t - ex.pop(pid)) * 1000)
    if not starts or not totals:
        return None
    return statistics.median(starts), statistics.median(totals)


CG_FUNCS = [
    "mydocker::cli::main",
    "mydocker::engine::run",
    "mydocker::engine::build",
    "rhai::parser::<impl rhai::engine::Engine>::parse",
    "core::ptr::drop_in_place<rhai::engine::Engine>",
    "core::ptr::drop_in_place<rhai::ast::ast::AST>",
]


def callgrind(base, argv, binary, out):
    """User-space instructions of one run, split like the phases (deterministic: no noise).
    callgrind_annotate splits a function's inclusive cost by the source file of
    inlined code; the largest of those lines is the function's whole inclusive cost."""
    r = sh(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + base + argv)
    if r.returncode != 0:
        return None
    ann = sh(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out]).stdout
    inc = {}
    total = below = 0
    for line in ann.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if not m:
            continue
        n, rest = int(m.group(1).replace(",", "")), m.group(2)
        if rest.startswith("PROGRAM TOTALS"):
            total = n
            continue
        fn = re.sub(r" \[[^\]]*\]$", "", rest)
        fn = fn.split(":", 1)[1] if ":" in fn.split("::")[0] else fn
        fn = re.sub(r"\.\d+$", "", fn)
        if fn == "(below main)" and rest.endswith(f"[{binary}]"):
            below = max(below, n)
        if fn in CG_FUNCS:
            inc[fn] = max(inc.get(fn, 0), n)
    return total, below, inc


def print_callgrind(label, res):
    total, below, inc = res
    g = lambda k: inc.get(k, 0)
    run = g("mydocker::engine::run")
    parts = [
        ("before main: dynamic loading, relocation, init", total - below),
        ("cli: clap parsing, script lookup", g("mydocker::cli::main") - run),
        ("engine construction (engine::build)", g("mydocker::engine::build")),
        ("compile: parsing the script and stdlib modules", g("rhai::parser::<impl rhai::engine::Engine>::parse")),
        ("teardown: drop Engine + ASTs", g("core::ptr::drop_in_place<rhai::engine::Engine>") + g("core::ptr::drop_in_place<rhai::ast::ast::AST>")),
    ]
    parts.append(("interpretation, module init, primitives (user)", run - sum(v for _, v in parts[2:])))
    print(f"\n== callgrind, {label}: {total / 1e6:.2f} M instructions in user space")
    for k, v in parts:
        print(f"  {k:<50} {v / 1e6:7.2f} M  {100 * v / total:5.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="runs per operation (default 20)")
    ap.add_argument("--containers", type=int, default=50, help="running containers for ps50 (default 50)")
    ap.add_argument("--ops", default="run,rund,rund50,exec,ps,ps50,stop,rm")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "profiling", "mydocker"))
    ap.add_argument("--top", type=int, default=14, help="phases shown per operation")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the callgrind instruction split")
    a = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root")
    for tool in ("perf", "nm", "readelf"):
        if not shutil.which(tool):
            sys.exit(f"profile: {tool} is missing (packages linux-perf, binutils)")
    if not os.path.exists(f"{TRACEFS}/uprobe_events"):
        sys.exit(f"profile: no {TRACEFS}/uprobe_events (tracefs/uprobes)")
    binary = os.path.realpath(a.binary)
    ops = [o for o in a.ops.split(",") if o]
    for o in ops:
        if o not in OPS:
            ap.error(f"unknown op {o}")

    tmp = tempfile.mkdtemp(prefix="mydocker-prof-")
    base = [binary, "--root", f"{tmp}/root", "--data-root", f"{tmp}/data"]
    probes = Probes(binary)
    interrupted = []

    def on_signal(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    def md(*args, check=True):
        r = sh(base + list(args))
        if check and r.returncode != 0:
            raise SystemExit(f"profile: mydocker {' '.join(args)}: {r.stderr.strip()}")
        return r

    results = []
    cg = []
    try:
        md("run", "--rm", "true")  # builds the image
        n_probes = probes.add()
        print(f"[profile] {n_probes} uprobes on {binary}", file=sys.stderr)
        rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        print(f"profile of {binary} (git {rev}{'+dirty' if dirty else ''}), {a.n} runs per operation, "
              f"load {' '.join(open('/proc/loadavg').read().split()[:3])}")
        events = [f"{probes.group}:*", "sched:sched_process_exec", "sched:sched_process_exit", "sched:sched_process_fork"]
        for s in SYSCALLS:
            if os.path.isdir(f"{TRACEFS}/events/syscalls/sys_enter_{s}"):
                events += [f"syscalls:sys_enter_{s}", f"syscalls:sys_exit_{s}"]
        for op in ops:
            desc, argv, setup = OPS[op]
            desc = desc.format(K=a.containers)
            if setup == "one":
                md("run", "-d", "--name", "px", "sleep", "1000")
            if setup and setup.startswith("many"):
                for j in range(a.containers):
                    md("run", "-d", "--name", f"pm{j}", "sleep", "1000")
                setup = setup.split("+", 1)[1] if "+" in setup else "many"
            lines = []
            for i in range(a.n):
                name = f"c{i}"
                if setup == "trap_before":
                    md("run", "-d", "--name", name, "sh", "-c", 'trap "exit 0" TERM; sleep 1000 & wait')
                    pid = int(re.search(r'"pid":\s*(\d+)', md("inspect", name).stdout).group(1))
                    for _ in range(2000):  # until the trap is set
                        st = open(f"/proc/{pid}/status").read()
                        if int(re.search(r"SigCgt:\s*([0-9a-f]+)", st).group(1), 16) & (1 << 14):
                            break
                if setup == "ended_before":
                    md("run", "-d", "--name", name, "true")
                    md("wait", name)
                lines.append(shlex.join([x.format(name=name) for x in base + argv]) + " >/dev/null")
            # Setups are done up front (N containers to stop or rm); removals after the loop.
            script = os.path.join(tmp, f"{op}.sh")
            with open(script, "w") as f:
                f.write("\n".join(lines) + "\n")
            data = os.path.join(tmp, f"{op}.data")
            rec = sh(["perf", "record", "-a", "-q", "-o", data] + sum([["-e", e] for e in events], []) + ["--", "/bin/sh", script])
            if rec.returncode != 0:
                raise SystemExit(f"profile: perf record failed: {rec.stderr.strip()[-500:]}")
            text = sh(["perf", "script", "-i", data, "-F", "pid,tid,time,event,trace"]).stdout
            procs = analyse(text, binary)
            calib = None
            if setup in ("rm_after", "trap_before"):
                for i in range(a.n):
                    md("rm", "-f", f"c{i}", check=False)
            if setup not in ("trap_before", "ended_before"):  # those need a fresh setup per run
                calib = calibrate(probes, binary, script, tmp, op)
                if setup == "rm_after":
                    for i in range(a.n):
                        md("rm", "-f", f"c{i}", check=False)
            measured = [p for p in procs if not p["monitor_exit"]]
            mon_exit = [p["total"] for p in procs if p["monitor_exit"]]
            results.append((op, desc, measured, calib, mon_exit))
            if setup == "one":
                md("rm", "-f", "px")
            if OPS[op][2] and OPS[op][2].startswith("many"):
                for j in range(a.containers):
                    md("rm", "-f", f"pm{j}")
            print(f"[profile] {op}: {len(measured)} runs", file=sys.stderr)
        cg = []
        if not a.no_callgrind and shutil.which("valgrind") and shutil.which("callgrind_annotate"):
            md("run", "-d", "--name", "cg", "sleep", "1000")
            for label, argv in (("run --rm true", ["run", "--rm", "true"]), ("ps, 1 running", ["ps"])):
                res = callgrind(base, argv, binary, os.path.join(tmp, "cg.out"))
                if res:
                    cg.append((label, res))
            md("rm", "-f", "cg")
    except KeyboardInterrupt:
        print("\n[profile] interrupted; cleaning up", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        probes.remove()
        r = sh(base + ["ps", "--format", "records"])
        for name in re.findall(r'"name":\s*"([^"]+)"', r.stdout):
            sh(base + ["rm", "-f", name])
        shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        return 130

    for op, desc, procs, calib, mon_exit in results:
        if not procs:
            continue
        totals = [p["total"] for p in procs]
        mean_total = statistics.mean(totals)
        cats = collections.defaultdict(list)
        for p in procs:
            for k in set(p["ex"]) | set(cats):
                cats[k].append(p["ex"].get(k, 0.0))
        child = collections.defaultdict(list)
        for p in procs:
            for k, v in p["child"].items():
                child[k].append(v)
        print(f"\n== {op}: mydocker {desc} -- {len(procs)} runs, wall {statistics.median(totals):.2f} ms median, "
              f"{mean_total:.2f} ms mean, under uprobes")
        # Medians per phase: robust to a noisy neighbour; their sum is shown next to the median wall time.
        rows = sorted(((statistics.median(v), k) for k, v in cats.items()), reverse=True)
        shown = rows[: a.top]
        rest = sum(v for v, _ in rows[a.top:])
        summed = sum(v for v, _ in rows)
        print(f"  {'phase (exclusive)':<46} {'median ms':>9} {'share':>6}")
        for v, k in shown:
            print(f"  {k:<46} {v:9.2f} {100 * v / summed:5.1f}%")
        if rest:
            print(f"  {'(other phases)':<46} {rest:9.2f} {100 * rest / summed:5.1f}%")
        print(f"  {'sum of the medians':<46} {summed:9.2f}")
        for k, v in sorted(child.items()):
            print(f"  in parallel, in a child: {k}: {statistics.median(v):.2f} ms")
        if mon_exit:
            print(f"  in parallel: the monitor's `mydocker __monitor-exit` (records the exit; stop waits for it): "
                  f"{statistics.median(mon_exit):.2f} ms median, {len(mon_exit)} runs")
        if calib:
            start, total = calib
            print(f"  same loop without the probes: exec to main {start:.2f} ms, exec to exit {total:.2f} ms (medians)")
    for label, res in cg:
        print_callgrind(label, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
