//! mydocker: a container runtime whose every command is a Rhai script.
//!
//! `runtime/` does the work (namespaces, cgroups, rootfs, state), `engine/`
//! exposes it to Rhai, `cli.rs` picks the script, `scripts/` decide the order.

mod cli;
mod engine;
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
    let argv: Vec<String> = std::env::args().collect();
    // The per-container monitor re-execs us with this hidden verb: keep it lean,
    // no argument parser, no engine.
    if argv.get(1).map(String::as_str) == Some("__monitor") {
        std::process::exit(monitor(&argv[2..]));
    }
    std::process::exit(cli::main(argv));
}

/// `__monitor STATE_ROOT DATA_ROOT NAME PID [--rm]`
fn monitor(args: &[String]) -> i32 {
    let (Some(state), Some(data), Some(name), Some(pid)) =
        (args.first(), args.get(1), args.get(2), args.get(3))
    else {
        return 2;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return 2;
    };
    let auto_remove = args.get(4).map(String::as_str) == Some("--rm");
    runtime::process::run_monitor(state.as_ref(), data.as_ref(), name, pid, auto_remove)
}
