//! Shell completion: `mydocker completion bash|zsh|fish` prints the shell's
//! registration; at each Tab the shell asks the binary itself (clap_complete's
//! `MYDOCKER_COMPLETE=SHELL mydocker -- ARGS`), which answers with commands,
//! flags, and the names of this host's containers and images.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use std::path::PathBuf;

const VAR: &str = "MYDOCKER_COMPLETE";

/// When the shell is asking for completions, answer and exit; otherwise return.
pub fn answer_if_asked() {
    if std::env::var_os(VAR).is_some_and(|v| !v.is_empty() && v != "0") {
        CompleteEnv::with_factory(command).var(VAR).bin("mydocker").complete();
    }
}

/// `mydocker completion SHELL`: the script that registers completion in SHELL.
pub fn print_registration(shell: &str) -> i32 {
    let shells = Shells::builtins();
    let Some(s) = shells.completer(shell) else {
        let names: Vec<_> = shells.names().collect();
        eprintln!("mydocker: completion: unknown shell {shell:?}: use one of {}", names.join(", "));
        return 125;
    };
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "mydocker".into());
    let mut out = std::io::stdout().lock();
    match s.write_registration(VAR, "mydocker", "mydocker", &exe, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mydocker: completion: {e}");
            1
        }
    }
}

/// The command line as completion sees it: every argument that names a
/// container or an image offers this host's.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(&name, with_names);
    }
    cmd
}

fn with_names(mut sub: clap::Command) -> clap::Command {
    // `mut_arg` moves an argument to the end: every positional is passed
    // through in order, so they keep their places.
    let ids: Vec<String> =
        sub.get_arguments().filter(|a| a.is_positional()).map(|a| a.get_id().to_string()).collect();
    for id in ids {
        let source: Option<fn() -> Vec<CompletionCandidate>> = match id.as_str() {
            "container" | "containers" => Some(containers),
            "image" | "images" | "source" | "reference" => Some(images),
            _ => None,
        };
        sub = sub.mut_arg(&id, |a| match source {
            Some(f) => a.add(ArgValueCandidates::new(f)),
            None => a,
        });
    }
    let nested: Vec<String> = sub.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in nested {
        sub = sub.mut_subcommand(&name, with_names);
    }
    sub
}

fn root(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

/// The containers' names (their state directories).
fn containers() -> Vec<CompletionCandidate> {
    let dir = root("MYDOCKER_ROOT", "/var/run/mydocker");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The images' names as `images` shows them (`docker.io/library/` dropped).
fn images() -> Vec<CompletionCandidate> {
    let store = crate::runtime::image::store::Store::new(&root("MYDOCKER_DATA", "/var/lib/mydocker"));
    let mut names: Vec<String> = store
        .images()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| i.names)
        .map(|n| n.trim_start_matches("docker.io/library/").to_string())
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}
