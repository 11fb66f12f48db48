//! The OCI runtime command line, as runc spells it: what Podman (through
//! conmon) and containerd (through its shim) call. `mydocker-runc VERB …`
//! (the same binary, chosen by argv[0]) or `mydocker oci VERB …`. Parsing
//! only: each verb is a bundled script, `scripts/oci/VERB.rhai`.

use crate::cli::find_command;
use crate::engine;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// Where containers' state lives when `--root` is not given. Podman never
/// passes one (its `state` and cleanup calls could not carry it), so it is fixed.
pub const DEFAULT_ROOT: &str = "/run/mydocker-runc";

#[derive(Parser, Debug)]
#[command(
    name = "mydocker-runc",
    about = "mydocker's OCI runtime command line (runc-compatible), for Podman, containerd and Kubernetes",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct OciCli {
    /// Directory for the containers' state
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Append errors (and, with --debug, the trace) to this file
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Trace what happens (to --log or stderr)
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility; cgroup paths of systemd's form are mapped to cgroupfs
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub verb: Option<Verb>,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Create a container from a bundle; it waits for `start`
    Create(CreateOpts),
    /// Start a created container
    Start(IdOpts),
    /// Print a container's state (runtime-spec JSON)
    State(IdOpts),
    /// Send a signal to a container's init (or every process with --all)
    Kill(KillOpts),
    /// Remove a stopped container (any, with --force)
    Delete(DeleteOpts),
    /// Run a process in a container
    Exec(ExecOpts),
    /// List a container's processes
    Ps(PsOpts),
    /// Freeze every process of a container
    Pause(IdOpts),
    /// Thaw a paused container
    Resume(IdOpts),
    /// Change a container's resource limits
    Update(UpdateOpts),
    /// What this runtime supports (JSON)
    Features,
    /// Write a starting config.json
    Spec(SpecOpts),
    /// List containers
    List(ListOpts),
}

#[derive(Args, Debug, Serialize)]
pub struct CreateOpts {
    /// The bundle: the directory holding config.json (default: the current one)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master to this unix socket
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3 to 3+N-1 on to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility (the root is always pivoted)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is made)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    pub id: String,
}

#[derive(Args, Debug, Serialize)]
pub struct IdOpts {
    pub id: String,
}

#[derive(Args, Debug, Serialize)]
pub struct KillOpts {
    /// Signal every process of the container
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// A number or a name (default TERM)
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Args, Debug, Serialize)]
pub struct DeleteOpts {
    /// Kill it first if it runs; an unknown id is no error
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug, Serialize)]
pub struct ExecOpts {
    /// The process, as the spec's `process` (JSON)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Give the process a terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<String>,
    /// KEY=VALUE, repeatable
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional groups, repeatable
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// A capability to add, repeatable
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Accepted for runc compatibility
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Accepted for runc compatibility
    #[arg(long)]
    pub cgroup: Option<String>,
    pub id: String,
    /// The command, when no --process is given
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct PsOpts {
    /// table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// ps(1) options, for the table
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct UpdateOpts {
    /// LinuxResources JSON from this file, or `-` for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Memory limit (bytes, or 512m)
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    pub id: String,
}

#[derive(Args, Debug, Serialize)]
pub struct SpecOpts {
    /// Where to write config.json
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

#[derive(Args, Debug, Serialize)]
pub struct ListOpts {
    /// table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Only the ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The global options a verb's script sees as `OPTS.global`.
#[derive(Serialize)]
struct Global {
    root: PathBuf,
    log: Option<PathBuf>,
    log_format: String,
    debug: bool,
    systemd_cgroup: bool,
}

/// `mydocker-runc ARGS` (argv[0] included).
pub fn main(argv: Vec<String>) -> i32 {
    let cli = match OciCli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = e.print();
            return code;
        }
    };
    if cli.version {
        println!("mydocker-runc version {}", env!("CARGO_PKG_VERSION"));
        println!("commit: {}", option_env!("MYDOCKER_COMMIT").unwrap_or("unknown"));
        println!("spec: 1.0.2");
        return 0;
    }
    let level = if cli.debug { "debug" } else { "warn" };
    crate::cli::init_logging(level).ok();
    engine::set_context(engine::Context { root: cli.root.clone(), data_root: cli.root.join("data") });
    let global = Global {
        root: cli.root.clone(),
        log: cli.log.clone(),
        log_format: cli.log_format.clone(),
        debug: cli.debug,
        systemd_cgroup: cli.systemd_cgroup,
    };
    let to = |v: &dyn erased::Ser| v.to_dyn();
    let (verb, opts) = match &cli.verb {
        None => {
            use clap::CommandFactory;
            let _ = OciCli::command().print_help();
            return 1;
        }
        Some(Verb::Create(o)) => ("create", to(o)),
        Some(Verb::Start(o)) => ("start", to(o)),
        Some(Verb::State(o)) => ("state", to(o)),
        Some(Verb::Kill(o)) => ("kill", to(o)),
        Some(Verb::Delete(o)) => ("delete", to(o)),
        Some(Verb::Exec(o)) => ("exec", to(o)),
        Some(Verb::Ps(o)) => ("ps", to(o)),
        Some(Verb::Pause(o)) => ("pause", to(o)),
        Some(Verb::Resume(o)) => ("resume", to(o)),
        Some(Verb::Update(o)) => ("update", to(o)),
        Some(Verb::Features) => ("features", Ok(rhai::Dynamic::from_map(rhai::Map::new()))),
        Some(Verb::Spec(o)) => ("spec", to(o)),
        Some(Verb::List(o)) => ("list", to(o)),
    };
    let mut opts = match opts {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mydocker-runc: {e}");
            return 1;
        }
    };
    if let (Some(map), Ok(g)) =
        (opts.write_lock::<rhai::Map>().as_deref_mut(), rhai::serde::to_dynamic(&global))
    {
        map.insert("global".into(), g);
    }
    match find_command(&format!("oci/{verb}")) {
        Some(script) => engine::run(&script, &[], opts),
        None => {
            eprintln!("mydocker-runc: no script for {verb:?}");
            1
        }
    }
}

/// Serialize any verb's options to a Rhai map.
mod erased {
    pub trait Ser {
        fn to_dyn(&self) -> Result<rhai::Dynamic, Box<rhai::EvalAltResult>>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_dyn(&self) -> Result<rhai::Dynamic, Box<rhai::EvalAltResult>> {
            rhai::serde::to_dynamic(self)
        }
    }
}
