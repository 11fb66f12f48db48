//! The daily verbs of Docker users (issue 16): create/start, restart,
//! pause/unpause, rename, update, top, stats, exec -d, stop -s/--timeout, and
//! run's --label, --stop-signal, --stop-timeout, --cidfile, --env-file.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn status(env: &Env, name: &str) -> String {
    let row = env.ps_row(name).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    // ID NAME [PID] STATUS...: the PID column is blank when not running.
    cols.iter().skip(2).find(|c| !c.chars().all(|ch| ch.is_ascii_digit())).unwrap_or(&"").to_string()
}

fn id_of(env: &Env, name: &str) -> String {
    env.record(name)["id"].as_str().unwrap_or_default().to_string()
}

fn pid_of(env: &Env, name: &str) -> i32 {
    env.record(name)["pid"].as_i64().unwrap_or(0) as i32
}

/// The file of a controller in the container's v1 cgroup (this host's layout).
fn cgroup_file(id: &str, controller: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}/mydocker/{id}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn create_makes_a_record_and_start_runs_it_keeping_its_files() {
    let env = Env::new();
    let id = env.ok(&["create", "--name", "c", "sh", "-c", "echo started >> /log; cat /log; sleep 100"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "create prints the full id: {id}");
    assert_eq!(status(&env, "c"), "Created");
    let rec = env.record("c");
    assert_eq!(rec["pid"], 0, "no process yet");
    assert!(cgroup_dirs(id).is_empty(), "no cgroup before start");
    assert!(env.root().join("c/hosts").is_file(), "its /etc files are written");

    assert_eq!(env.ok(&["start", "c"]).trim(), "c");
    assert_eq!(status(&env, "c"), "Running");
    assert!(eventually(Duration::from_secs(5), || env.ok(&["logs", "c"]).contains("started")));
    // start of a running container is a no-op
    let pid = pid_of(&env, "c");
    env.ok(&["start", "c"]);
    assert_eq!(pid_of(&env, "c"), pid);

    env.ok(&["stop", "-t", "0", "c"]);
    assert_eq!(status(&env, "c"), "Stopped");
    env.ok(&["start", "c"]);
    assert_eq!(id_of(&env, "c"), id, "same id");
    // Its layer was kept: the file written by the first run has two lines now.
    assert!(
        eventually(Duration::from_secs(5), || env.ok(&["exec", "c", "cat", "/log"]) == "started\nstarted\n"),
        "{}",
        env.ok(&["exec", "c", "cat", "/log"])
    );
    env.finish();
}

#[test]
fn start_attach_runs_in_the_foreground_with_its_exit_code() {
    let env = Env::new();
    env.ok(&["create", "--name", "fg", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    let o = env.run(&["start", "-a", "fg"]);
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert_eq!(o.stdout, "out\n");
    assert!(o.stderr.contains("err"), "{}", o.stderr);
    assert!(status(&env, "fg").starts_with("Exited"), "{}", status(&env, "fg"));
    // Again: the ended container runs again, attached.
    assert_eq!(env.run(&["start", "-a", "fg"]).code, 7);
    // -i keeps stdin
    env.ok(&["create", "--name", "cat", "-i", "cat"]);
    let mut c = env.command(&["start", "-i", "cat"]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"through\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through\n");
    // Several containers cannot be attached at once.
    let o = env.fails(&["start", "-a", "fg", "cat"]);
    assert!(o.stderr.contains("cannot start and attach multiple"), "{}", o.stderr);
    assert!(env.fails(&["start", "nosuch"]).stderr.contains("no such container: nosuch"));
    env.finish();
}

#[test]
fn create_refuses_bad_options_and_makes_nothing() {
    let env = Env::new();
    for (args, want) in [
        (vec!["create", "-d", "true"], "create has no -d"),
        (vec!["create", "--memory", "lots", "true"], "--memory"),
        (vec!["create", "--name", "bad/name", "true"], "invalid container name"),
        (vec!["create", "--stop-signal", "SIGNOPE", "true"], "--stop-signal"),
        (vec!["create", "--stop-timeout", "soon", "true"], "--stop-timeout"),
        (vec!["create", "--label", "=v", "true"], "--label"),
    ] {
        let o = env.run(&args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "one line: {}", o.stderr);
    }
    assert!(env.ps_json().is_empty());
    env.ok(&["create", "--name", "taken", "true"]);
    let o = env.run(&["create", "--name", "taken", "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("already in use"), "{}", o.stderr);
    env.finish();
}

#[test]
fn restart_stops_and_starts_again_with_the_same_files() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "r", "sh", "-c", "date +%s%N >> /boots; sleep 100"]);
    let pid = pid_of(&env, "r");
    let t = Instant::now();
    assert_eq!(env.ok(&["restart", "-t", "1", "r"]).trim(), "r");
    assert!(t.elapsed() < Duration::from_secs(4), "killed after the grace period: {:?}", t.elapsed());
    assert!(wait_dead(pid, Duration::from_secs(2)));
    assert_eq!(status(&env, "r"), "Running");
    assert_ne!(pid_of(&env, "r"), pid);
    assert!(
        eventually(Duration::from_secs(5), || env.ok(&["exec", "r", "cat", "/boots"]).lines().count() == 2)
    );
    // --timeout is Docker's spelling; a stopped container is just started.
    env.ok(&["stop", "--timeout", "0", "r"]);
    env.ok(&["restart", "--timeout", "0", "r"]);
    assert_eq!(status(&env, "r"), "Running");
    // A --rm container is restarted, not removed.
    env.ok(&["run", "-d", "--rm", "--name", "tmp", "sleep", "100"]);
    env.ok(&["restart", "-t", "0", "tmp"]);
    assert_eq!(status(&env, "tmp"), "Running");
    env.ok(&["stop", "-t", "0", "tmp"]);
    assert!(
        eventually(Duration::from_secs(5), || !env.root().join("tmp").exists()),
        "then removed when it ends"
    );
    env.finish();
}

#[test]
fn stop_timeout_and_stop_signal_come_from_run_or_stop() {
    let env = Env::new();
    // --stop-timeout 1: stop waits 1 s (not 10) for a PID 1 that ignores TERM.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "st",
        "--stop-timeout",
        "1",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 1; done",
    ]);
    let t = Instant::now();
    env.ok(&["stop", "st"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    // --stop-signal USR1: the trap ends it at once, as `stop -s` does.
    let script = "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "sig", "--stop-signal", "USR1", "sh", "-c", script]);
    assert_eq!(env.record("sig")["stop_signal"], "USR1");
    let t = Instant::now();
    env.ok(&["stop", "sig"]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(env.ok(&["logs", "sig"]).contains("got-usr1"));
    let script = "trap 'echo got-hup; exit 0' HUP; while true; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "hup", "sh", "-c", script]);
    env.ok(&["stop", "-s", "HUP", "-t", "5", "hup"]);
    assert!(env.ok(&["logs", "hup"]).contains("got-hup"));
    let o = env.run(&["stop", "-s", "NOPE", "hup"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("NOPE"), "{}", o.stderr);
    env.finish();
}

#[test]
fn pause_stops_the_clock_of_a_counting_loop() {
    let env = Env::new();
    let count = "i=0; while true; do i=$((i+1)); echo $i > /n; sleep 0.05; done";
    env.ok(&["run", "-d", "--name", "p", "sh", "-c", count]);
    let id = id_of(&env, "p");
    let layer = env.data.path().join("containers").join(&id).join("upper/n");
    let read = || std::fs::read_to_string(&layer).unwrap_or_default().trim().parse::<i64>().unwrap_or(0);
    assert!(eventually(Duration::from_secs(5), || read() > 2), "it counts");
    assert_eq!(env.ok(&["pause", "p"]).trim(), "p");
    assert_eq!(status(&env, "p"), "Paused");
    assert_eq!(cgroup_file(&id, "freezer", "freezer.state"), "FROZEN");
    let frozen = read();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(read(), frozen, "the counter does not advance while paused");
    assert!(env.fails(&["pause", "p"]).stderr.contains("already paused"));
    assert!(env.fails(&["exec", "p", "true"]).stderr.contains("paused"));
    env.ok(&["unpause", "p"]);
    assert_eq!(status(&env, "p"), "Running");
    assert!(eventually(Duration::from_secs(5), || read() > frozen + 2), "it counts again");
    assert!(env.fails(&["unpause", "p"]).stderr.contains("not paused"));

    // A paused container can be stopped, killed and removed.
    env.ok(&["pause", "p"]);
    let t = Instant::now();
    env.ok(&["stop", "-t", "1", "p"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status(&env, "p"), "Stopped");
    env.ok(&["start", "p"]);
    env.ok(&["pause", "p"]);
    env.ok(&["kill", "p"]);
    assert!(
        eventually(Duration::from_secs(5), || status(&env, "p").starts_with("Exited")),
        "{}",
        status(&env, "p")
    );
    env.ok(&["start", "p"]);
    env.ok(&["pause", "p"]);
    let t = Instant::now();
    env.ok(&["rm", "-f", "p"]);
    assert!(t.elapsed() < Duration::from_secs(5), "rm -f of a paused container: {:?}", t.elapsed());
    assert!(env.fails(&["pause", "nosuch"]).stderr.contains("no such container"));
    env.ok(&["create", "--name", "idle", "true"]);
    assert!(env.fails(&["pause", "idle"]).stderr.contains("not running"));
    env.finish();
}

#[test]
fn rename_moves_a_running_container_and_keeps_its_files_working() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "old", "-h", "box", "sh", "-c", "echo one; sleep 100"]);
    let id = id_of(&env, "old");
    env.ok(&["rename", "old", "new"]);
    assert!(!env.root().join("old").exists() && env.root().join("new").is_dir());
    assert_eq!(id_of(&env, "new"), id);
    let rec = env.record("new");
    assert!(rec["log"].as_str().unwrap_or_default().contains("/new/"), "{rec}");
    assert_eq!(status(&env, "new"), "Running");
    // The bound files still read inside it, and its log is still written.
    assert!(env.ok(&["exec", "new", "cat", "/etc/hosts"]).contains("box"));
    assert_eq!(env.ok(&["exec", "new", "cat", "/etc/hostname"]), "box\n");
    assert!(env.ok(&["logs", "new"]).contains("one"));
    env.ok(&["exec", "new", "sh", "-c", "echo two > /proc/1/fd/1"]);
    assert!(eventually(Duration::from_secs(5), || env.ok(&["logs", "new"]).contains("two")));
    // Refused: the same name, a taken one, a bad one; nothing changes.
    env.ok(&["create", "--name", "other", "true"]);
    for (to, want) in [("new", "same name"), ("other", "already in use"), ("a/b", "invalid container name")] {
        let o = env.fails(&["rename", "new", to]);
        assert!(o.stderr.contains(want), "{to}: {}", o.stderr);
    }
    assert!(env.fails(&["rename", "nosuch", "x"]).stderr.contains("no such container"));
    assert_eq!(id_of(&env, "new"), id);
    // Its monitor finds it by id: the exit is recorded under the new name.
    env.ok(&["stop", "-t", "0", "new"]);
    assert_eq!(status(&env, "new"), "Stopped");
    env.ok(&["start", "new"]);
    env.ok(&["kill", "new"]);
    assert!(eventually(Duration::from_secs(5), || status(&env, "new").starts_with("Exited")));
    assert_eq!(env.record("new")["exit_code"], 137);
    env.finish();
}

#[test]
fn update_writes_the_cgroup_and_a_restart_keeps_it() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "u", "sleep", "100"]);
    let id = id_of(&env, "u");
    env.ok(&["update", "--memory", "64m", "--pids-limit", "77", "--cpus", "0.5", "--cpu-shares", "512", "u"]);
    assert_eq!(cgroup_file(&id, "memory", "memory.limit_in_bytes"), (64 << 20).to_string());
    assert_eq!(cgroup_file(&id, "pids", "pids.max"), "77");
    assert_eq!(cgroup_file(&id, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file(&id, "cpu", "cpu.shares"), "512");
    env.ok(&["restart", "-t", "0", "u"]);
    assert_eq!(
        cgroup_file(&id, "memory", "memory.limit_in_bytes"),
        (64 << 20).to_string(),
        "kept by restart"
    );
    assert_eq!(cgroup_file(&id, "pids", "pids.max"), "77");
    env.ok(&["update", "--pids-limit", "-1", "u"]);
    assert_eq!(cgroup_file(&id, "pids", "pids.max"), "max");
    // Bad values change nothing.
    for (args, want) in [
        (vec!["update", "--memory", "x", "u"], "--memory"),
        (vec!["update", "--pids-limit", "0", "u"], "--pids-limit"),
        (vec!["update", "u"], "one or more flags"),
    ] {
        let o = env.run(&args);
        assert_eq!(o.code, 125, "{args:?}");
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
    }
    assert_eq!(cgroup_file(&id, "memory", "memory.limit_in_bytes"), (64 << 20).to_string());
    // A stopped container keeps the new limits for its next start.
    env.ok(&["stop", "-t", "0", "u"]);
    env.ok(&["update", "--memory", "32m", "u"]);
    env.ok(&["start", "u"]);
    assert_eq!(cgroup_file(&id, "memory", "memory.limit_in_bytes"), (32 << 20).to_string());
    env.finish();
}

#[test]
fn top_lists_only_the_containers_processes() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "t", "sh", "-c", "sleep 101 & sleep 102; true"]);
    env.ok(&["run", "-d", "--name", "t2", "sleep", "103"]);
    assert!(eventually(Duration::from_secs(5), || env.ok(&["top", "t"]).contains("sleep 101")));
    let out = env.ok(&["top", "t"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("PID") && lines[0].contains("CMD"), "{out}");
    assert!(out.contains("sleep 102") && !out.contains("sleep 103"), "{out}");
    assert_eq!(lines.len(), 4, "sh and two sleeps: {out}");
    let aux = env.ok(&["top", "t", "aux"]);
    assert!(aux.lines().next().unwrap_or_default().contains("USER"), "{aux}");
    assert_eq!(aux.lines().count(), 4, "{aux}");
    let o = env.fails(&["top", "t", "-o", "comm"]);
    assert!(o.stderr.contains("no PID column"), "{}", o.stderr);
    env.ok(&["stop", "-t", "0", "t2"]);
    assert!(env.fails(&["top", "t2"]).stderr.contains("not running"));
    env.finish();
}

#[test]
fn stats_reads_the_cgroup() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "busy", "-m", "64m", "sh", "-c", "while true; do :; done"]);
    env.ok(&["run", "-d", "--name", "idle", "sleep", "100"]);
    let t = Instant::now();
    let out = env.ok(&["stats", "--no-stream"]);
    assert!(t.elapsed() >= Duration::from_millis(900), "two samples a second apart");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID") && lines[0].contains("MEM USAGE / LIMIT"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    let json = env.ok(&["stats", "--no-stream", "--format", "json", "busy", "idle"]);
    let rows: Vec<serde_json::Value> =
        json.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let cpu = |v: &serde_json::Value| {
        v["CPUPerc"].as_str().unwrap_or("").trim_end_matches('%').parse::<f64>().unwrap_or(-1.0)
    };
    assert_eq!(rows[0]["Name"], "busy");
    assert!(cpu(&rows[0]) > 30.0, "a busy loop uses a CPU: {json}");
    assert!(cpu(&rows[1]) < 5.0, "{json}");
    assert!(rows[0]["MemUsage"].as_str().unwrap_or("").ends_with("/ 64MiB"), "{json}");
    assert_eq!(rows[1]["PIDs"], "1");
    assert_eq!(rows[1]["NetIO"], "0B / 0B");
    let tpl = env.ok(&["stats", "--no-stream", "--format", "{{.Name}}:{{.PIDs}}", "idle"]);
    assert_eq!(tpl, "idle:1\n");
    // The same template engine as ps: pipelines, and `table` for Docker's headers.
    let tpl = env.ok(&["stats", "--no-stream", "--format", "table {{.Name | upper}}\t{{.PIDs}}", "idle"]);
    let lines: Vec<&str> = tpl.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("PIDS"), "{tpl}");
    assert!(lines[1].starts_with("IDLE") && lines[1].trim_end().ends_with('1'), "{tpl}");
    let o = env.run(&["stats", "--no-stream", "--format", "{{.Nope}}", "idle"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    let o = env.run(&["stats", "--no-stream", "--format", "yaml"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("yaml"));
    assert!(env.fails(&["stats", "--no-stream", "nosuch"]).stderr.contains("no such container"));
    env.finish();
}

#[test]
fn exec_detached_returns_at_once_and_runs_on() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "e", "sleep", "100"]);
    let t = Instant::now();
    // It writes after exec has returned: its output must not be a pipe to the gone CLI.
    let o =
        env.ok(&["exec", "-d", "e", "sh", "-c", "sleep 0.3; echo hidden; sleep 0.7; echo done > /marker"]);
    assert!(t.elapsed() < Duration::from_millis(900), "returned at once: {:?}", t.elapsed());
    assert_eq!(o, "", "its output is discarded");
    assert!(
        eventually(Duration::from_secs(5), || env.run(&["exec", "e", "cat", "/marker"]).stdout == "done\n")
    );
    assert!(!env.ok(&["logs", "e"]).contains("hidden"));
    let o = env.run(&["exec", "-d", "-t", "e", "true"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    env.finish();
}

#[test]
fn labels_cidfile_and_env_file() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let envf = dir.path().join("app.env");
    std::fs::write(&envf, "# comment\n\nA=1\n  B=two words\nFROM_HOST\nUNSET_ONE\nC==x\n").expect("write");
    let cid = dir.path().join("cid");
    let mut c = env.command(&[
        "run",
        "--rm",
        "--label",
        "tier=web",
        "-l",
        "bare",
        "--cidfile",
        cid.to_str().unwrap_or_default(),
        "--env-file",
        envf.to_str().unwrap_or_default(),
        "-e",
        "A=override",
        "--name",
        "lab",
        "sh",
        "-c",
        "echo A=$A; echo B=$B; echo FROM_HOST=$FROM_HOST; echo C=$C; echo U=${UNSET_ONE-unset}",
    ]);
    c.env("FROM_HOST", "h").env_remove("UNSET_ONE");
    let o: Out = c.output().expect("run").into();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "A=override\nB=two words\nFROM_HOST=h\nC==x\nU=unset\n");
    let written = std::fs::read_to_string(&cid).unwrap_or_default();
    assert_eq!(written.len(), 64, "the id: {written}");
    // An existing cidfile is refused before anything is made.
    let o = env.run(&["run", "--cidfile", cid.to_str().unwrap_or_default(), "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("container ID file found"), "{}", o.stderr);
    assert!(env.ps_json().is_empty());
    // Labels are recorded and shown by inspect.
    env.ok(&["create", "--name", "l2", "--label", "a=b", "--label", "c=d=e", "true"]);
    let ins: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "l2"])).unwrap_or_default();
    assert_eq!(ins[0]["labels"], serde_json::json!({"a": "b", "c": "d=e"}));
    // A bad env file names the file and the line.
    std::fs::write(&envf, "OK=1\nBAD KEY=2\n").expect("write");
    let o = env.run(&["run", "--rm", "--env-file", envf.to_str().unwrap_or_default(), "true"]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr.contains(&format!("{}:2", envf.display())) && o.stderr.contains("BAD KEY"),
        "{}",
        o.stderr
    );
    let o = env.run(&["run", "--rm", "--env-file", "/nonexistent.env", "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("/nonexistent.env"), "{}", o.stderr);
    env.finish();
}

#[test]
fn of_concurrent_starts_one_launches() {
    let env = Env::new();
    env.ok(&["create", "--name", "once", "sh", "-c", "echo up >> /ups; sleep 100"]);
    let kids: Vec<_> = (0..8)
        .map(|_| {
            env.command(&["start", "once"]).stderr(std::process::Stdio::piped()).spawn().expect("spawn start")
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().expect("wait");
        // Each either started it, found it running, or lost the race by name.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() || err.contains("is being started"), "{err}");
    }
    let id = id_of(&env, "once");
    assert_eq!(status(&env, "once"), "Running");
    let procs = cgroup_file(&id, "pids", "cgroup.procs");
    assert_eq!(procs.lines().count(), 1, "one init: {procs}");
    env.finish();
}

#[test]
fn a_rename_cut_short_is_finished_by_the_next_reader() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "half", "sleep", "100"]);
    let id = id_of(&env, "half");
    let o: Out = env
        .command(&["rename", "half", "whole"])
        .env("MYDOCKER_CRASH_AT", "rename:moved")
        .output()
        .expect("run")
        .into();
    assert_ne!(o.code, 0, "crashed");
    assert!(env.root().join("whole/config.json.renamed").exists(), "crashed between the two renames");
    // The next reader puts the staged record in place.
    assert_eq!(status(&env, "whole"), "Running");
    assert_eq!(id_of(&env, "whole"), id);
    assert!(!env.root().join("whole/config.json.renamed").exists());
    env.finish();
}

#[test]
fn stats_streams_a_table_a_second_until_interrupted() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "s1", "sleep", "100"]);
    let child = env.command(&["stats"]).stdout(std::process::Stdio::piped()).spawn().expect("spawn stats");
    std::thread::sleep(Duration::from_millis(2600));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("\x1b[2J").count() >= 2, "redrawn each second: {text:?}");
    assert!(text.matches("CONTAINER ID").count() >= 2 && text.contains("s1"), "{text:?}");
    env.finish();
}
