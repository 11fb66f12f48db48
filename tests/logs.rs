//! `logs` as Docker's json-file: a record per line with its stream and time
//! (the CRI format), each line written back to its stream, `-t`,
//! `--since`/`--until`, `--details`, and a foreground container's log.

mod common;
use common::*;
use std::time::Duration;

/// The records of container `name`'s current log file.
fn records(env: &Env, name: &str) -> Vec<String> {
    std::fs::read_to_string(env.root().join(name).join("container.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Is `line` a CRI record of `stream` with tag `tag` and text `text`?
fn is_record(line: &str, stream: &str, tag: &str, text: &str) -> bool {
    let mut f = line.splitn(4, ' ');
    let time = f.next().unwrap_or("");
    time.len() == 30
        && time.ends_with('Z')
        && time.as_bytes()[10] == b'T'
        && f.next() == Some(stream)
        && f.next() == Some(tag)
        && f.next().unwrap_or("") == text
}

#[test]
fn streams_stay_apart_in_records_and_in_logs() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "two", "sh", "-c", "echo out1; echo err1 >&2; echo out2; printf end"]);
    assert_eq!(env.ok(&["wait", "two"]).trim(), "0");
    let recs = records(&env, "two");
    assert_eq!(recs.len(), 4, "{recs:?}");
    let find = |stream: &str, tag: &str, text: &str| recs.iter().any(|l| is_record(l, stream, tag, text));
    assert!(find("stdout", "F", "out1") && find("stdout", "F", "out2"), "{recs:?}");
    assert!(find("stderr", "F", "err1"), "{recs:?}");
    assert!(find("stdout", "P", "end"), "output without a newline at exit is a partial record: {recs:?}");
    let o = env.run(&["logs", "two"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "out1\nout2\nend");
    assert_eq!(o.stderr, "err1\n");
    // --tail counts records, of both streams.
    let o = env.run(&["logs", "--tail", "1", "two"]);
    let one = format!("{}{}", o.stdout, o.stderr);
    assert!(["out1\n", "err1\n", "out2\n", "end"].contains(&one.as_str()), "{one:?}");
    let o = env.run(&["logs", "--tail", "2", "two"]);
    assert_eq!(o.stdout.lines().count() + o.stderr.lines().count(), 2);
    env.finish();
}

#[test]
fn timestamps_prefix_each_line_with_its_record_time() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "ts", "sh", "-c", "echo a; echo b >&2"]);
    env.ok(&["wait", "ts"]);
    let o = env.run(&["logs", "-t", "ts"]);
    let line = o.stdout.as_str();
    assert!(line.len() == 33 && line.ends_with("Z a\n"), "{line}");
    assert!(o.stderr.len() == 33 && o.stderr.ends_with("Z b\n"), "{}", o.stderr);
    // The record's own time, as written.
    let rec = records(&env, "ts").into_iter().find(|l| l.contains(" stdout ")).unwrap_or_default();
    assert!(is_record(&rec, "stdout", "F", "a"), "{rec}");
    assert_eq!(line[..30], rec[..30]);
    env.finish();
}

#[test]
fn since_and_until_keep_the_lines_in_between() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "slow", "sh", "-c", "echo early; sleep 2; echo late"]);
    env.ok(&["wait", "slow"]);
    let recs = records(&env, "slow");
    let time_of =
        |text: &str| recs.iter().find(|l| l.ends_with(text)).map(|l| l[..30].to_string()).unwrap_or_default();
    let (early_time, late_time) = (time_of(" early"), time_of(" late"));
    assert!(!late_time.is_empty() && !early_time.is_empty(), "{recs:?}");
    // Unix seconds, one second before the late line: after the early one.
    let date =
        std::process::Command::new("date").args(["-u", "+%s", "-d", &late_time]).output().expect("date");
    let secs: i64 = String::from_utf8_lossy(&date.stdout).trim().parse().unwrap_or(0);
    let cut = (secs - 1).to_string();
    assert_eq!(env.ok(&["logs", "--until", &early_time, "slow"]), "early\n", "RFC 3339, inclusive");
    assert_eq!(env.ok(&["logs", "--since", &cut, "slow"]), "late\n");
    assert_eq!(env.ok(&["logs", "--until", &cut, "slow"]), "early\n");
    assert_eq!(env.ok(&["logs", "--since", &late_time, "slow"]), "late\n", "RFC 3339, inclusive");
    assert_eq!(env.ok(&["logs", "--since", "10m", "slow"]), "early\nlate\n");
    assert_eq!(env.ok(&["logs", "--until", "10m", "slow"]), "");
    env.finish();
}

#[test]
fn bad_since_or_until_is_one_line_naming_the_value() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "b", "true"]);
    env.ok(&["wait", "b"]);
    for (flag, value) in [("--since", "yesterday"), ("--until", "12q")] {
        let o = env.fails(&["logs", flag, value, "b"]);
        assert_eq!(o.code, 125, "{flag} {value}");
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(
            o.stderr.starts_with("mydocker: ") && o.stderr.contains(value) && o.stderr.contains(flag),
            "{}",
            o.stderr
        );
    }
    env.finish();
}

#[test]
fn details_show_the_chosen_labels_and_env() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "d",
        "--label",
        "team=web",
        "--label",
        "other=x",
        "-e",
        "STAGE=prod",
        "--log-opt",
        "labels=team,missing",
        "--log-opt",
        "env=STAGE",
        "sh",
        "-c",
        "echo hi; echo oops >&2",
    ]);
    env.ok(&["wait", "d"]);
    let o = env.run(&["logs", "--details", "d"]);
    assert_eq!(o.stdout, "STAGE=prod,team=web hi\n");
    assert_eq!(o.stderr, "STAGE=prod,team=web oops\n");
    assert_eq!(env.record("d")["log_attrs"]["team"], "web", "recorded once, at create");
    assert!(!records(&env, "d").iter().any(|l| l.contains("team")), "not in every line");
    // Without attributes, --details begins each line with a space, as Docker.
    env.ok(&["run", "-d", "--name", "plain", "echo", "x"]);
    env.ok(&["wait", "plain"]);
    assert_eq!(env.ok(&["logs", "--details", "plain"]), " x\n");
    assert_eq!(
        env.ok(&["logs", "-t", "--details", "d"])
            .split_once(' ')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default(),
        "STAGE=prod,team=web hi\n"
    );
    env.finish();
}

#[test]
fn a_foreground_container_keeps_its_log() {
    let env = Env::new();
    let o = env.run(&["run", "--name", "fg", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(o.code, 3);
    assert_eq!(o.stdout, "out\n", "live, on stdout");
    assert!(o.stderr.ends_with("err\n") && !o.stderr.contains("out"), "live, on stderr: {}", o.stderr);
    let l = env.run(&["logs", "fg"]);
    assert_eq!((l.stdout.as_str(), l.stderr.as_str()), ("out\n", "err\n"));
    // Started again (detached), it appends to the same log.
    env.ok(&["start", "fg"]);
    env.ok(&["wait", "fg"]);
    assert_eq!(env.ok(&["logs", "fg"]), "out\nout\n");
    // With a terminal: still a terminal inside, and the log has what it showed, as stdout.
    let (out, code) = through_pty(
        env.command(&[
            "run",
            "-it",
            "--name",
            "tty",
            "sh",
            "-c",
            "[ -t 1 ] && echo is-a-tty; echo to-err >&2",
        ]),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is-a-tty"), "{out}");
    let l = env.run(&["logs", "tty"]);
    assert!(
        l.stdout.contains("is-a-tty") && l.stdout.contains("to-err") && l.stderr.is_empty(),
        "{}",
        l.stdout
    );
    env.finish();
}

#[test]
fn an_old_log_without_records_prints_as_it_is() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "old", "true"]);
    env.ok(&["wait", "old"]);
    std::fs::write(env.root().join("old/container.log"), "plain line\nanother 2026 stdout F x\nno newline")
        .unwrap();
    let o = env.run(&["logs", "old"]);
    assert_eq!(o.stdout, "plain line\nanother 2026 stdout F x\nno newline");
    assert_eq!(o.stderr, "");
    env.finish();
}
