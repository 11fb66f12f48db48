//! The verbs about mydocker itself (issue 16): `events` from the journal,
//! `info`, `version`, `system df`, `system prune`, `container prune`.

mod common;
use common::*;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The recorded events as JSON; `extra` may bring its own --since.
fn events_json(env: &Env, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["events", "--until", "0s", "--format", "json"];
    if !extra.contains(&"--since") {
        args.extend(["--since", "1h"]);
    }
    args.extend_from_slice(extra);
    env.ok(&args).lines().map(|l| serde_json::from_str(l).expect("one JSON event per line")).collect()
}

fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().map(|e| e["Action"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn every_lifecycle_step_is_an_event_with_dockers_shape() {
    let env = Env::new();
    // PID 1 ignores what it has no handler for: USR1 (trapped) and TERM leave it running.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ev",
        "--label",
        "team=a",
        "sh",
        "-c",
        "trap '' USR1; while :; do sleep 1; done",
    ]);
    env.ok(&["pause", "ev"]);
    env.ok(&["unpause", "ev"]);
    env.ok(&["exec", "ev", "true"]);
    env.ok(&["kill", "-s", "USR1", "ev"]);
    env.ok(&["rename", "ev", "ev2"]);
    env.ok(&["stop", "-t", "0", "ev2"]);
    env.ok(&["rm", "ev2"]);
    assert_eq!(env.run(&["run", "--name", "one", "sh", "-c", "exit 3"]).code, 3);
    let all = events_json(&env, &["--filter", "type=container"]);
    let ev: Vec<&serde_json::Value> =
        all.iter().filter(|e| e["Actor"]["Attributes"]["team"] == "a").collect();
    let got: Vec<String> = ev.iter().map(|e| e["Action"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(
        got,
        [
            "create",
            "start",
            "pause",
            "unpause",
            "exec_start: true",
            "exec_die",
            "kill",
            "rename",
            "kill",
            "kill",
            "die",
            "stop",
            "destroy"
        ],
        "{all:#?}"
    );
    let start = ev[1];
    assert_eq!(start["Type"], "container");
    assert_eq!(start["status"], "start");
    assert_eq!(start["from"], "busybox");
    assert_eq!(ev[8]["Actor"]["Attributes"]["signal"], "15", "stop: TERM, then KILL");
    assert_eq!(ev[9]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(start["Actor"]["Attributes"]["name"], "ev");
    assert_eq!(start["Actor"]["ID"].as_str().map(str::len), Some(64));
    assert!(start["timeNano"].as_i64().unwrap_or(0) / 1_000_000_000 == start["time"].as_i64().unwrap_or(-1));
    assert_eq!(ev[6]["Actor"]["Attributes"]["signal"], "10", "kill names its signal");
    assert_eq!(ev[7]["Actor"]["Attributes"]["oldName"], "ev");
    let die =
        all.iter().find(|e| e["Action"] == "die" && e["Actor"]["Attributes"]["name"] == "one").expect("die");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    // The journal is owner-only: events carry names and labels.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.root().join(".events.log")).expect("journal").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    env.finish();
}

#[test]
fn events_filter_format_and_time_bounds() {
    let env = Env::new();
    env.ok(&["run", "--name", "early", "true"]);
    std::thread::sleep(Duration::from_millis(1100));
    let between = format!(
        "{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs()
    );
    std::thread::sleep(Duration::from_millis(1100));
    env.ok(&["run", "--name", "late", "true"]);
    env.ok(&["volume", "create", "vol1"]);

    let names = |evs: Vec<serde_json::Value>| -> Vec<String> {
        evs.iter()
            .map(|e| e["Actor"]["Attributes"]["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let after = names(events_json(&env, &["--since", &between, "--filter", "event=start"]));
    assert_eq!(after, ["late"]);
    let before = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        &between,
        "--filter",
        "event=start",
        "--format",
        "json",
    ]);
    assert!(before.contains("\"early\"") && !before.contains("\"late\""), "{before}");
    // Two values of one key: either; two keys: both.
    let two = events_json(
        &env,
        &["--filter", "container=early", "--filter", "container=late", "--filter", "event=die"],
    );
    assert_eq!(actions(&two), ["die", "die"]);
    let vols = events_json(&env, &["--filter", "type=volume"]);
    assert_eq!(actions(&vols), ["create"]);
    let t = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "-f",
        "type=volume",
        "--format",
        "{{.Type}}/{{.Action}}/{{.Actor.ID}}",
    ]);
    assert_eq!(t.trim(), "volume/create/vol1");
    assert_eq!(vols[0]["Actor"]["ID"], "vol1");
    // Docker's line: time, type, action, id, sorted attributes.
    let text = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--filter",
        "container=late",
    ]);
    let line = text.lines().next().unwrap_or_default();
    let fields: Vec<&str> = line.splitn(5, ' ').collect();
    assert!(fields[0].ends_with('Z') && fields[0].contains('T'), "{line}");
    assert_eq!(&fields[1..3], ["container", "die"], "{line}");
    assert!(fields[4] == "(exitCode=0, image=busybox, name=late)", "{line}");
    env.ok(&["tag", "busybox", "mine:1"]);
    env.ok(&["rmi", "mine:1"]);
    let imgs = events_json(&env, &["--filter", "type=image"]);
    assert_eq!(actions(&imgs), ["tag", "untag"], "{imgs:?}");
    assert_eq!(imgs[0]["Actor"]["Attributes"]["name"], "mine:1");
    env.ok(&["volume", "rm", "vol1"]);
    let vols = events_json(&env, &["--filter", "type=volume"]);
    assert_eq!(actions(&vols), ["create", "destroy"]);
    env.finish();
}

#[test]
fn events_follows_new_ones_until_until() {
    let env = Env::new();
    env.ok(&["run", "--name", "old", "true"]);
    // No --since: only what happens from now on, as Docker; --until ends it.
    let until =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() + 4;
    let until = until.to_string();
    let mut follower = env
        .command(&["events", "--until", &until, "--filter", "event=destroy"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("events");
    std::thread::sleep(Duration::from_millis(500));
    let began = Instant::now();
    env.ok(&["rm", "old"]);
    let mut out = String::new();
    let mut stdout = follower.stdout.take().expect("stdout");
    // It exits by itself at --until; what it printed is the rm's event only.
    let status = follower.wait().expect("wait");
    stdout.read_to_string(&mut out).expect("read");
    assert!(status.success());
    assert!(began.elapsed() < Duration::from_secs(10));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("container destroy") && lines[0].contains("name=old"), "{out}");
    env.finish();
}

#[test]
fn info_and_version_describe_this_host() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "up", "top"]);
    env.ok(&["run", "--name", "down", "true"]);
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "--format", "json"])).expect("info json");
    assert_eq!(info["Containers"], 2);
    assert_eq!(info["ContainersRunning"], 1);
    assert_eq!(info["ContainersStopped"], 1);
    assert_eq!(info["Images"], 1);
    assert_eq!(info["Driver"], "overlay2");
    assert_eq!(info["CgroupDriver"], "cgroupfs");
    // This host: v1 controllers beside a cgroup2 mount.
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified").exists();
    if hybrid {
        assert_eq!(info["CgroupVersion"], "hybrid");
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(info["KernelVersion"], release.trim());
    assert_eq!(info["NCPU"].as_i64().map(|n| n > 0), Some(true));
    assert!(info["MemTotal"].as_i64().unwrap_or(0) > 1 << 20);
    assert_eq!(info["DockerRootDir"], env.data.path().display().to_string());
    let text = env.ok(&["info"]);
    for want in
        ["Containers: 2", "  Running: 1", "Storage Driver: overlay2", "Total Memory: ", "Kernel Version: "]
    {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(env.ok(&["system", "info", "--format", "json"]).lines().count(), 1);

    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["version", "--format", "json"])).expect("version json");
    assert_eq!(v["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    assert!(v["Client"]["RhaiVersion"].as_str().is_some_and(|r| r.starts_with("1.")), "{v}");
    assert!(v["Client"]["RustVersion"].as_str().is_some_and(|r| r.starts_with("rustc ")), "{v}");
    assert_eq!(v["Client"]["Os"], "linux");
    // Go templates over the same fields, as Docker's -f.
    assert_eq!(env.ok(&["info", "-f", "{{.Containers}} {{.Driver}}"]).trim(), "2 overlay2");
    assert_eq!(env.ok(&["version", "-f", "{{.Client.Version}}"]).trim(), env!("CARGO_PKG_VERSION"));
    let o = env.run(&["info", "-f", "{{.Containers"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    let text = env.ok(&["version"]);
    assert!(text.contains(&format!("Version:      {}", env!("CARGO_PKG_VERSION"))), "{text}");
    env.finish();
}

#[test]
fn system_df_counts_what_is_used_and_what_a_prune_frees() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "busy", "top"]);
    env.ok(&["run", "--name", "wrote", "sh", "-c", "head -c 200000 /dev/zero > /blob"]);
    env.ok(&["volume", "create", "idle"]);
    let rows: Vec<serde_json::Value> = env
        .ok(&["system", "df", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json row"))
        .collect();
    let row = |t: &str| rows.iter().find(|r| r["Type"] == t).cloned().unwrap_or_default();
    assert_eq!(row("Images")["TotalCount"], 1);
    assert_eq!(row("Images")["Active"], 1);
    assert_eq!(row("Containers")["TotalCount"], 2);
    assert_eq!(row("Containers")["Active"], 1);
    assert_eq!(row("Containers")["Size"], "200kB", "{rows:?}");
    assert_eq!(row("Containers")["Reclaimable"], "200kB (100%)", "the stopped one's layer: {rows:?}");
    assert_eq!(row("Local Volumes")["TotalCount"], 1);
    assert_eq!(row("Local Volumes")["Active"], 0);
    let table = env.ok(&["system", "df", "-v"]);
    assert!(table.lines().next().unwrap_or_default().starts_with("TYPE"), "{table}");
    assert!(table.contains("Containers space usage:") && table.contains("wrote"), "{table}");
    env.ok(&["volume", "rm", "idle"]);
    env.finish();
}

#[test]
fn container_prune_asks_then_removes_only_what_is_not_running() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "live", "top"]);
    env.ok(&["run", "--name", "dead", "--label", "keep=no", "sh", "-c", "head -c 5000 /dev/zero > /f"]);
    env.ok(&["run", "--name", "kept", "--label", "keep=yes", "true"]);
    env.ok(&["create", "--name", "fresh", "true"]);
    // No answer (stdin is not a terminal, nothing typed): nothing goes.
    let o = env.run(&["container", "prune"]);
    assert_eq!(o.code, 0);
    assert!(o.stderr.contains("Are you sure you want to continue? [y/N]"), "{}", o.stderr);
    assert_eq!(env.ps_json().len(), 4);
    // A "y" on stdin is a yes, as Docker reads it.
    let mut c = env.command(&["container", "prune", "--filter", "label=keep=no"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("prune");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"y\n").expect("answer");
    let out = child.wait_with_output().expect("prune");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let dead_gone = text.contains("Deleted Containers:") && text.contains("Total reclaimed space: 5kB");
    assert!(dead_gone, "{text}");
    let names = || -> Vec<String> {
        env.ps_json().iter().map(|r| r["name"].as_str().unwrap_or_default().to_string()).collect()
    };
    assert_eq!(names(), ["live", "kept", "fresh"]);
    // label!= and until: created more than an hour ago is none of them.
    env.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(names().len(), 3);
    env.ok(&["container", "prune", "-f", "--filter", "label!=keep=yes"]);
    assert_eq!(names(), ["live", "kept"]);
    env.ok(&["container", "prune", "-f"]);
    assert_eq!(names(), ["live"]);
    let destroyed = events_json(&env, &["--filter", "event=destroy"]);
    assert_eq!(destroyed.len(), 3);
    env.finish();
}

#[test]
fn system_prune_takes_containers_images_and_anonymous_volumes() {
    let env = Env::new();
    env.ok(&["run", "--name", "old", "-v", "/anon", "true"]);
    env.ok(&["volume", "create", "named"]);
    env.ok(&["system", "prune", "-f"]);
    assert!(env.ps_json().is_empty());
    // Without -a the image stays (it has a name); without --volumes so do volumes.
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    let out = env.ok(&["system", "prune", "-f", "-a", "--volumes"]);
    assert!(out.contains("Deleted Images:") && out.contains("Deleted Volumes:"), "{out}");
    assert!(env.ok(&["images", "-q"]).trim().is_empty());
    // Named volumes stay, as Docker since 23.0.
    assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), "named");
    env.ok(&["volume", "rm", "named"]);
    env.finish();
}

#[test]
fn bad_input_to_the_system_verbs_is_one_line_and_changes_nothing() {
    let env = Env::new();
    env.ok(&["run", "--name", "stays", "true"]);
    for (args, says) in [
        (vec!["events", "--since", "yesterday"], "invalid time \"yesterday\""),
        (vec!["events", "--until", "10x"], "invalid time \"10x\""),
        (vec!["events", "--filter", "colour=red"], "unknown key \"colour\""),
        (vec!["events", "--filter", "type"], "invalid \"type\""),
        (vec!["container", "prune", "-f", "--filter", "size=1"], "invalid \"size=1\""),
        (vec!["container", "prune", "-f", "--filter", "until=later"], "invalid time \"later\""),
        (vec!["system", "prune", "-f", "--filter", "nope"], "invalid \"nope\""),
        (vec!["system", "df", "--format", "xml"], "unknown format \"xml\""),
    ] {
        let o = env.run(&args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("mydocker: ") && o.stderr.contains(says), "{args:?}: {}", o.stderr);
    }
    assert_eq!(env.ps_json().len(), 1, "nothing was pruned");
    env.finish();
}
