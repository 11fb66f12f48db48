//! mydocker: a container runtime whose every command is a Rhai script.
//!
//! `runtime/` does the work (namespaces, cgroups, rootfs, state), `engine/`
//! exposes it to Rhai, `cli.rs` picks the script, `scripts/` decide the order.

mod cli;
mod cli_net;
mod completion;
mod engine;
mod oci_cli;
mod repl;
mod runtime;

/// Non-dumpable before main runs: a container that tricks an exec into running
/// this binary (CVE-2019-5736) cannot open its /proc/PID/exe or fds. Runs from
/// .init_array, before main.
extern "C" fn set_non_dumpable() {
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static NON_DUMPABLE: extern "C" fn() = set_non_dumpable;

fn main() {
    // Docker's umask, whatever the caller's: the container's processes start
    // with it, and nothing mydocker makes takes its mode from the caller
    // (private state has explicit modes, see `runtime::sys::private_dir`).
    unsafe {
        libc::umask(0o022);
    }
    let argv: Vec<String> = std::env::args().collect();
    // The per-container monitor's verbs: keep them lean, no argument parser, no engine.
    match argv.get(1).map(String::as_str) {
        Some("__monitor") => std::process::exit(monitor(&argv[2..])),
        Some("__monitor-exit") => std::process::exit(monitor_exit(&argv[2..])),
        Some("__monitor-tty") => std::process::exit(runtime::process::run_tty_monitor(&argv[2..])),
        _ => {}
    }
    // The OCI face: `mydocker-runc VERB` (by argv[0], as Podman and
    // containerd call a runtime) or `mydocker oci VERB`.
    let base = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    if base.ends_with("-runc") {
        std::process::exit(oci_cli::main(argv));
    }
    if argv.get(1).map(String::as_str) == Some("oci") {
        let mut oci = vec!["mydocker-runc".to_string()];
        oci.extend(argv[2..].iter().cloned());
        std::process::exit(oci_cli::main(oci));
    }
    std::process::exit(cli::main(argv));
}

/// The monitor verbs' arguments: `NUMBER STATE_ROOT DATA_ROOT NAME [--rm]`.
fn monitor_args(args: &[String]) -> Option<(i32, &str, &str, &str, bool)> {
    let number = args.first()?.parse::<i32>().ok()?;
    let (state, data, name) = (args.get(1)?, args.get(2)?, args.get(3)?);
    Some((number, state, data, name, args.get(4).map(String::as_str) == Some("--rm")))
}

/// `__monitor PID OUT ERR FILE MAX_SIZE MAX_FILE PATH STATE_ROOT DATA_ROOT NAME [--rm]`
/// (the arguments of `mydocker-monitor`): relay the log, wait for the init, then record.
fn monitor(args: &[String]) -> i32 {
    let (Some(pid), Some(log)) = (args.first(), args.get(1..7)) else { return 2 };
    let log = match (log[0].parse(), log[1].parse(), log[2].parse(), log[3].parse(), log[4].parse()) {
        (Ok(out), Ok(err), Ok(file), Ok(max_size), Ok(max_file)) => Some(runtime::process::MonitorLog {
            pipes: [out, err],
            file,
            path: log[5].clone().into(),
            max_size,
            max_file,
        }),
        _ => None,
    };
    let rest: Vec<String> = std::iter::once(pid.clone()).chain(args[7..].iter().cloned()).collect();
    match monitor_args(&rest) {
        Some((pid, state, data, name, rm)) => {
            runtime::process::run_monitor(state.as_ref(), data.as_ref(), name, pid, rm, log)
        }
        None => 2,
    }
}

/// `__monitor-exit CODE STATE_ROOT DATA_ROOT NAME [--rm]`: what `mydocker-monitor`
/// execs once the init ended.
fn monitor_exit(args: &[String]) -> i32 {
    match monitor_args(args) {
        Some((code, state, data, name, rm)) => {
            runtime::process::record_exit(state.as_ref(), data.as_ref(), name, code, rm)
        }
        None => 2,
    }
}
