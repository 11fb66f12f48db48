//! `ps` as a Docker user writes it: filters, Go templates (and `table`,
//! `json`), -n/-l/--no-trunc/-s, a command with newlines; `inspect -f` and
//! `--type`. Bad input is one line and exit 125.

mod common;
use common::*;

fn names(env: &Env, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "--format", "{{.Names}}"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = env.ok(&a).lines().map(String::from).collect();
    v.sort();
    v
}

fn bad(env: &Env, args: &[&str], needle: &str) {
    let o = env.run(args);
    assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{args:?}: one line: {}", o.stderr);
    assert!(o.stderr.starts_with("mydocker: ") && o.stderr.contains(needle), "{args:?}: {}", o.stderr);
}

/// Three containers: web (running, labels), job (exited 3), idle (created).
fn three(env: &Env) {
    env.ok(&["run", "-d", "--name", "web", "--label", "tier=front", "--label", "solo", "sleep", "100"]);
    env.fails(&["run", "--name", "job", "sh", "-c", "exit 3"]);
    env.ok(&["create", "--name", "idle", "true"]);
}

#[test]
fn filters_by_each_key() {
    let env = Env::new();
    three(&env);
    assert_eq!(names(&env, &["--filter", "name=we"]), ["web"]);
    assert_eq!(names(&env, &["--filter", "name=^j"]), ["job"]);
    assert_eq!(names(&env, &["--filter", "name=web", "--filter", "name=job"]), ["job", "web"], "one key ORs");
    let id = env.record("job")["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(names(&env, &["--filter", &format!("id={}", &id[..6])]), ["job"]);
    assert_eq!(names(&env, &["--filter", "label=tier"]), ["web"]);
    assert_eq!(names(&env, &["--filter", "label=tier=front"]), ["web"]);
    assert_eq!(names(&env, &["--filter", "label=solo"]), ["web"]);
    assert!(names(&env, &["--filter", "label=tier=back"]).is_empty());
    assert_eq!(names(&env, &["--filter", "status=running"]), ["web"]);
    assert_eq!(names(&env, &["--filter", "status=exited"]), ["job"]);
    assert_eq!(names(&env, &["--filter", "status=created"]), ["idle"]);
    assert_eq!(names(&env, &["--filter", "exited=3"]), ["job"]);
    assert!(names(&env, &["--filter", "exited=0"]).is_empty());
    assert_eq!(names(&env, &["--filter", "ancestor=busybox"]), ["idle", "job", "web"]);
    assert!(names(&env, &["--filter", "ancestor=alpine"]).is_empty());
    assert_eq!(names(&env, &["--filter", "before=job"]), ["web"]);
    assert_eq!(names(&env, &["--filter", "since=job"]), ["idle"]);
    // Different keys AND.
    assert_eq!(names(&env, &["--filter", "status=running", "--filter", "name=job"]), Vec::<String>::new());
    assert_eq!(names(&env, &["--filter", "ancestor=busybox", "--filter", "label=tier"]), ["web"]);

    let before = env.ok(&["ps"]);
    bad(&env, &["ps", "--filter", "colour=red"], "unknown key \"colour\"");
    bad(&env, &["ps", "--filter", "status=sleepy"], "invalid status \"sleepy\"");
    bad(&env, &["ps", "--filter", "exited=x"], "invalid exited \"x\"");
    bad(&env, &["ps", "--filter", "since=nosuch"], "no such container: nosuch");
    bad(&env, &["ps", "--filter", "name"], "use KEY=VALUE");
    assert_eq!(env.ok(&["ps"]), before, "bad input changed nothing");
    env.ok(&["rm", "-f", "web", "job", "idle"]);
    env.finish();
}

#[test]
fn templates_table_and_json() {
    let env = Env::new();
    three(&env);
    let web = env.record("web");
    let id = web["id"].as_str().unwrap_or_default().to_string();
    let line = env.ok(&[
        "ps",
        "--filter",
        "name=web",
        "--format",
        "{{.ID}} {{.Image}} {{.State}} {{.Label \"tier\"}} {{.Labels}}",
    ]);
    assert_eq!(line.trim(), format!("{} busybox running front solo=,tier=front", &id[..12]));
    let st = env.ok(&["ps", "--filter", "name=web", "--format", "{{.Status}}|{{.RunningFor}}|{{.Command}}"]);
    assert!(st.starts_with("Up ") && st.contains(" ago|\"sleep 100\""), "{st}");
    let job = env.ok(&["ps", "--filter", "name=job", "--format", "{{.Status}}"]);
    assert!(job.starts_with("Exited (3) ") && job.trim().ends_with(" ago"), "{job}");
    assert_eq!(env.ok(&["ps", "--filter", "name=idle", "--format", "{{.Status}}"]).trim(), "Created");
    assert_eq!(
        env.ok(&[
            "ps",
            "--filter",
            "name=idle",
            "--format",
            "{{if eq .State \"created\"}}new{{else}}old{{end}}"
        ])
        .trim(),
        "new"
    );

    // `table`: Docker's header names, aligned columns; `\t` typed as two characters.
    let t = env.ok(&["ps", "--filter", "name=web", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 2, "{t}");
    assert!(lines[0].starts_with("CONTAINER ID   NAMES     STATUS"), "{t}");
    assert_eq!(lines[0].find("NAMES"), lines[1].find("web"), "aligned: {t}");

    // json: one object per line, Docker's field names.
    let js = env.ok(&["ps", "--format", "json"]);
    let objs: Vec<serde_json::Value> =
        js.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    assert_eq!(objs.len(), 3);
    let w = objs.iter().find(|o| o["Names"] == "web").cloned().unwrap_or_default();
    assert_eq!(w["ID"], &id[..12]);
    assert_eq!(w["State"], "running");
    assert_eq!(w["Image"], "busybox");
    assert_eq!(w["Command"], "\"sleep 100\"");
    assert!(w["Status"].as_str().is_some_and(|s| s.starts_with("Up ")), "{w}");
    let whole = env.ok(&["ps", "--filter", "name=web", "--format", "{{json .Names}}"]);
    assert_eq!(whole.trim(), "\"web\"");

    let before = env.ok(&["ps"]);
    bad(&env, &["ps", "--format", "{{.ID"], "unclosed action");
    bad(&env, &["ps", "--format", "{{.Nope}}"], "\"Nope\"");
    bad(&env, &["ps", "--format", "{{frob .ID}}"], "\"frob\" not defined");
    assert_eq!(env.ok(&["ps"]), before);
    env.ok(&["rm", "-f", "web", "job", "idle"]);
    env.finish();
}

#[test]
fn last_latest_no_trunc_size_and_the_default_table() {
    let env = Env::new();
    three(&env);
    assert_eq!(env.ok(&["ps", "-l", "--format", "{{.Names}}"]).trim(), "idle");
    assert_eq!(names(&env, &["-n", "2"]), ["idle", "job"]);
    assert_eq!(env.ok(&["ps", "-q", "-n", "1"]).trim().len(), 12);
    let full = env.ok(&["ps", "-q", "--no-trunc", "-l"]);
    assert_eq!(full.trim(), env.record("idle")["id"].as_str().unwrap_or_default());

    let table = env.ok(&["ps"]);
    let head: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        head,
        ["ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED", "IMAGE"],
        "the seed's columns, then IMAGE"
    );
    let web = env.ps_row("web").unwrap_or_default();
    assert!(web.contains("Running") && web.trim_end().ends_with("busybox"), "{web}");

    let sized = env.ok(&["ps", "-s"]);
    assert!(sized.lines().next().unwrap_or("").trim_end().ends_with("SIZE"), "{sized}");
    assert!(sized.contains("(virtual "), "{sized}");
    let s = env.ok(&["ps", "-s", "--filter", "name=web", "--format", "{{.Size}}"]);
    assert!(s.contains("B (virtual ") && s.trim().ends_with("B)"), "{s}");
    bad(&env, &["ps", "-n", "many"], "invalid number \"many\"");
    env.ok(&["rm", "-f", "web", "job", "idle"]);
    env.finish();
}

#[test]
fn a_command_with_newlines_keeps_the_table_whole() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "multi", "sh", "-c", "echo one\necho two; sleep 100"]);
    let table = env.ok(&["ps"]);
    assert_eq!(table.lines().count(), 2, "one header, one row: {table}");
    let row = env.ps_row("multi").unwrap_or_default();
    assert!(row.contains("sh -c echo one\\necho…"), "escaped and cut at 20: {row}");
    let full = env.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
    assert_eq!(full.trim(), "\"sh -c echo one\\necho two; sleep 100\"");
    assert_eq!(env.ok(&["ps", "--format", "{{.Command}}"]).trim(), "\"sh -c echo one\\necho…\"");
    env.ok(&["rm", "-f", "multi"]);
    env.finish();
}

#[test]
fn inspect_format_and_type() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "svc", "--label", "k=v", "sleep", "100"]);
    env.fails(&["run", "--name", "gone", "sh", "-c", "exit 4"]);
    let pid = env.record("svc")["pid"].as_i64().unwrap_or(0);
    let o = env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}} {{.State.Running}} {{.Config.Image}} {{.Name}} {{index .Config.Labels \"k\"}}", "svc"]);
    assert_eq!(o.trim(), format!("running {pid} true busybox /svc v"));
    let o = env.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "gone", "svc"]);
    assert_eq!(o.lines().collect::<Vec<_>>(), ["exited 4", "running 0"]);
    let id = env.record("svc")["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(env.ok(&["inspect", "-f", "{{.Id}}", "svc"]).trim(), id);
    // Without -f: the records as today.
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "gone"])).expect("json");
    assert_eq!(v[0]["status"], "Exited (4)");
    // --type: an image by name; a container name is not an image.
    assert_eq!(
        env.ok(&["inspect", "--type", "image", "-f", "{{.RepoTags}}", "busybox"]).trim(),
        "[docker.io/library/busybox:latest]"
    );
    assert!(
        env.ok(&["inspect", "-f", "{{.Id}}", "busybox"]).starts_with("sha256:"),
        "the first kind with the name"
    );
    let o = env.fails(&["inspect", "--type", "image", "svc"]);
    assert!(o.stderr.contains("no such image: svc"), "{}", o.stderr);
    bad(&env, &["inspect", "--type", "pod", "svc"], "unknown type \"pod\"");
    bad(&env, &["inspect", "-f", "{{if}}", "svc"], "--format");
    env.ok(&["rm", "-f", "svc", "gone"]);
    env.finish();
}
