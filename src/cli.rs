//! The command line: global options, the built-in commands' options, and the
//! choice of which script runs. Parsing only; every command is a Rhai script.

use crate::engine::{self, Script};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mydocker",
    version,
    about = "A small container runtime whose every command is a Rhai script",
    disable_help_subcommand = true,
    after_help = "Run `mydocker` with no arguments (or `mydocker repl`) for an interactive shell.\n\
                  `mydocker SCRIPT.rhai [ARGS...]` runs a script; `mydocker NAME` runs NAME.rhai from the script path.\n\
                  `mydocker oci VERB` (or the binary called as mydocker-runc) is the OCI runtime for Podman and containerd."
)]
pub struct Cli {
    /// State directory for containers
    #[arg(
        long,
        global = true,
        help_heading = "Global Options",
        env = "MYDOCKER_ROOT",
        default_value = "/var/run/mydocker"
    )]
    pub root: PathBuf,
    /// Directory for images and container layers
    #[arg(
        long = "data-root",
        global = true,
        help_heading = "Global Options",
        env = "MYDOCKER_DATA",
        default_value = "/var/lib/mydocker"
    )]
    pub data_root: PathBuf,
    /// Log level: error, warn, info, debug, trace
    #[arg(
        long = "log-level",
        global = true,
        help_heading = "Global Options",
        env = "MYDOCKER_LOG",
        default_value = "warn"
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a container: mydocker run [OPTIONS] [IMAGE] COMMAND [ARG...]
    Run(Box<RunOpts>),
    /// Create a container without starting it (run's options, but -d): print its id
    Create(Box<RunOpts>),
    /// Start created or ended containers again, with their files
    Start(StartOpts),
    /// Stop containers and start them again
    Restart(RestartOpts),
    /// Freeze every process of containers (cgroup freezer)
    Pause(RefsOpts),
    /// Let paused containers run again
    Unpause(RefsOpts),
    /// Give a container another name
    Rename(RenameOpts),
    /// Change the limits of containers (running ones at once)
    Update(UpdateOpts),
    /// Show a container's processes: mydocker top CONTAINER [ps OPTIONS]
    Top(TopOpts),
    /// Show containers' CPU, memory, network, block I/O and pids
    Stats(StatsOpts),
    /// List containers
    Ps(PsOpts),
    /// Print a container's log
    Logs(LogsOpts),
    /// Run a command in a running container
    Exec(ExecOpts),
    /// Stop containers: SIGTERM, then SIGKILL after a grace period
    Stop(StopOpts),
    /// Remove containers
    Rm(RmOpts),
    /// Print the records of containers (or images, volumes, networks) as JSON, or a Go template of each
    Inspect(InspectOpts),
    /// Wait for containers to end and print their exit codes
    Wait(RefsOpts),
    /// Send a signal to containers
    Kill(KillOpts),
    /// List images
    Images(ImagesOpts),
    /// Load images from a docker-archive, an oci-archive or an OCI layout (stdin by default)
    Load(LoadOpts),
    /// Save images to an archive that docker load, podman load and skopeo read
    Save(SaveOpts),
    /// Make a new image from a container's changes
    Commit(CommitOpts),
    /// Write a container's root filesystem as a tar archive
    Export(ExportOpts),
    /// Give an image another name
    Tag(TagOpts),
    /// Remove images (untag; the last name removes the image)
    Rmi(RmiOpts),
    /// Show an image's layers and how they were made
    History(HistoryOpts),
    /// Download an image from a registry
    Pull(PullOpts),
    /// Upload an image to a registry
    Push(PushOpts),
    /// Log in to a registry (credentials kept in Docker's config.json)
    Login(LoginOpts),
    /// Log out from a registry
    Logout(LogoutOpts),
    /// Manage images (import, ls, rm)
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage networks (create, ls, inspect, rm, prune, connect, disconnect)
    #[command(subcommand)]
    Network(crate::cli_net::NetworkCmd),
    /// List a container's published ports
    Port(crate::cli_net::PortOpts),
    /// Attach this terminal to a detached container's (run -dit); Ctrl-P Ctrl-Q detaches
    Attach(AttachOpts),
    /// Show lifecycle events (from the journal of every mydocker command);
    /// follows new ones until --until
    Events(EventsOpts),
    /// Show what mydocker runs on: runtime, cgroups, storage, counts
    Info(FormatOpts),
    /// Show mydocker's version and how it was built
    Version(FormatOpts),
    /// Manage mydocker (df, prune, info, events)
    #[command(subcommand)]
    System(SystemCmd),
    /// Manage containers (ls, prune)
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Open the interactive Rhai shell
    Repl,
    /// Print the shell code that completes mydocker's commands, options,
    /// containers and images: `source <(mydocker completion bash)`
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: String,
    },
    /// Print the scripting reference: every module function with its doc
    Api,
    /// List commands and where their scripts come from; `scripts show NAME` prints one
    Scripts {
        /// `show`
        action: Option<String>,
        name: Option<String>,
    },
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Args, Debug, Serialize)]
// `-h` is --hostname, as in Docker; help stays on --help.
#[command(disable_help_flag = true)]
pub struct RunOpts {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    #[serde(skip)]
    pub help: Option<bool>,
    /// Overwrite the image's ENTRYPOINT ("" clears it)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Container name (default: the short id)
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (K=V, or K to copy it from mydocker's environment)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Container hostname (default: the short id)
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Memory limit (e.g. 32m, 1g, or bytes)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// CPU quota in CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<String>,
    /// CPUs the container may run on (e.g. 0-1, 0,2)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (default 2048; -1: unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Log option: max-size=SIZE (default 10m), max-file=N (default 3)
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Add a capability (e.g. NET_ADMIN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability (e.g. CHOWN, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// seccomp=unconfined, seccomp=FILE.json, no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Run as UID[:GID] or NAME[:GROUP] (from the image's /etc/passwd)
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Pull the image: missing (default), always, never
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Restart policy: no (default), on-failure[:N], always, unless-stopped
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Run a minimal init as PID 1 that reaps zombies and forwards signals
    #[arg(long)]
    pub init: bool,
    /// Resource limit: NAME=SOFT[:HARD] (e.g. nofile=1024:2048)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm (default 64m)
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Add a host device: HOST[:CONTAINER[:PERMISSIONS]] (permissions from rwm)
    #[arg(long, value_name = "HOST[:CTR[:rwm]]")]
    pub device: Vec<String>,
    /// Give the container every capability, every device, no seccomp, writable /sys
    #[arg(long)]
    pub privileged: bool,
    /// Add a supplementary group (a number or a name from the image's /etc/group)
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryOpts,
    #[command(flatten)]
    #[serde(flatten)]
    pub net: crate::cli_net::NetRunOpts,
    /// Bind a host path or mount a volume: SRC:DST[:OPTS], or DST for an anonymous volume
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:OPTS]")]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub mount: Vec<String>,
    /// Mount a tmpfs: DST[:OPTS] (size=64m,mode=1777,…)
    #[arg(long, value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Mount the volumes and binds of another container: CONTAINER[:ro|rw]
    #[arg(long = "volumes-from", value_name = "CONTAINER[:ro|rw]")]
    pub volumes_from: Vec<String>,
    /// Set a label on the container (repeatable)
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub label: Vec<String>,
    /// Signal that stops the container (default: the image's StopSignal, else TERM)
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds stop and restart wait before SIGKILL (default 10)
    #[arg(long = "stop-timeout", value_name = "SECONDS", allow_hyphen_values = true)]
    pub stop_timeout: Option<String>,
    /// Write the container's id to FILE (which must not exist)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<String>,
    /// Read environment variables from FILE (K=V lines, # comments, bare K copies)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// [IMAGE] COMMAND [ARG...]
    #[arg(trailing_var_arg = true, value_name = "[IMAGE] COMMAND")]
    pub args: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct PsOpts {
    /// Show all containers (the default; accepted for Docker habits)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only print container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// table (default), json (one object per line, Docker's fields), records
    /// (the full records as a JSON array), a Go template like
    /// "{{.ID}} {{.Names}}", or "table TEMPLATE" (with a header row)
    #[arg(long)]
    pub format: Option<String>,
    /// Only containers matching KEY=VALUE: name, id, label, status, exited,
    /// ancestor, before, since, volume (several values of a key: any of them)
    #[arg(short = 'f', long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only the N last created containers
    #[arg(short = 'n', long = "last", value_name = "N", allow_hyphen_values = true)]
    pub last: Option<String>,
    /// Only the last created container
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Full ids and commands
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show each container's size (its writable layer, and with its image)
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug, Serialize)]
pub struct LogsOpts {
    /// Keep printing until the container ends
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<String>,
    /// Begin each line with its time (RFC 3339, nanoseconds)
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Only lines since TIME (RFC 3339, Unix seconds, or a duration such as 10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines until TIME (the same forms)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Begin each line with the attributes --log-opt labels=/env= chose
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug, Serialize)]
pub struct ExecOpts {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable (K=V)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Run as UID[:GID] or NAME[:GROUP] (default: the container's user)
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Detached: return at once, the command runs on (its output is discarded)
    #[arg(short = 'd', long)]
    pub detach: bool,
    pub container: String,
    /// COMMAND [ARG...]; one quoted argument with spaces is split into words
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct AttachOpts {
    pub container: String,
}

#[derive(Args, Debug, Serialize)]
pub struct StopOpts {
    /// Seconds to wait after the stop signal before SIGKILL (default: the
    /// container's --stop-timeout, else 10)
    #[arg(short = 't', long = "time", visible_alias = "timeout", allow_hyphen_values = true)]
    pub time: Option<i64>,
    /// Signal to stop with (default: the container's stop signal)
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct StartOpts {
    /// Attach: wait in the foreground, output here, exit with its code
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Keep stdin (implies --attach)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct RestartOpts {
    /// Seconds to wait for it to stop before SIGKILL (default: the
    /// container's --stop-timeout, else 10)
    #[arg(short = 't', long = "time", visible_alias = "timeout", allow_hyphen_values = true)]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct RenameOpts {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug, Serialize)]
pub struct UpdateOpts {
    /// Memory limit (e.g. 32m, 1g, or bytes)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// CPU quota in CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<String>,
    /// Maximum number of processes (-1: unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct TopOpts {
    pub container: String,
    /// Options for the host's ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "PS OPTIONS")]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct StatsOpts {
    /// Print one table (after one interval) and exit
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// table (default), json, or a template like "{{.Name}} {{.CPUPerc}}"
    #[arg(long)]
    pub format: Option<String>,
    /// Every container, not only running ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Containers (default: every running one)
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct RmOpts {
    /// Kill a running container first
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove its anonymous volumes too
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct InspectOpts {
    /// A Go template of each object, e.g. "{{.State.Status}}" (json for JSON lines)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only objects of this kind: container, image, volume or network
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Show sizes (accepted for Docker habits)
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct RefsOpts {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct KillOpts {
    /// Signal to send, by name or number
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct ImagesOpts {
    /// Only image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Full image ids
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

#[derive(Args, Debug, Serialize)]
pub struct LoadOpts {
    /// The archive (a tar file or an OCI layout directory); stdin when absent or `-`
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// No progress
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Serialize)]
pub struct SaveOpts {
    /// Write to this file (default: stdout, which must not be a terminal)
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct CommitOpts {
    /// A Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, STOPSIGNAL, EXPOSE, VOLUME
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// The commit message (history)
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author (history)
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct ExportOpts {
    /// Write to this file (default: stdout, which must not be a terminal)
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub container: String,
}

#[derive(Args, Debug, Serialize)]
pub struct TagOpts {
    pub source: String,
    pub target: String,
}

/// How a registry is reached and who we are to it (Podman's flags).
#[derive(Args, Debug, Serialize, Default)]
pub struct RegistryOpts {
    /// Require HTTPS with a verified certificate (=false: allow HTTP and unverified TLS)
    #[arg(long = "tls-verify", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// A directory of CA certificates (*.crt) and client keys for the registry
    #[arg(long = "cert-dir", value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// The credentials file (default: $REGISTRY_AUTH_FILE, auth.json, ~/.docker/config.json)
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<String>,
    /// USERNAME[:PASSWORD] for the registry, instead of a stored login
    #[arg(long, value_name = "USER:PASS")]
    pub creds: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct PullOpts {
    /// No progress output; print only the image name
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryOpts,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

#[derive(Args, Debug, Serialize)]
pub struct PushOpts {
    /// No progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryOpts,
    /// The local image
    pub image: String,
    /// Where to push it (default: the image's own name)
    pub destination: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct LoginOpts {
    /// User name
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryOpts,
    /// The registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct LogoutOpts {
    /// The credentials file (default: ~/.docker/config.json)
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<String>,
    /// The registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct RmiOpts {
    /// Remove an image that stopped containers use; remove every name of an id
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct HistoryOpts {
    /// Do not truncate the CREATED BY column
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only layer ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Subcommand, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ImageCmd {
    /// Import a rootfs tarball (plain, gzip or zstd; `-` for stdin) as an image
    Import { tarball: String, name: String },
    /// List images
    Ls(ImagesOpts),
    /// Remove images (refused while a container uses one; -f: unless it is running)
    Rm(RmiOpts),
    /// Load images from an archive
    Load(LoadOpts),
    /// Save images to an archive
    Save(SaveOpts),
    /// Print images' records as JSON
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show an image's history
    History(HistoryOpts),
    /// Give an image another name
    Tag(TagOpts),
    /// Remove images without a name that no container uses
    Prune,
    /// Download an image from a registry
    Pull(PullOpts),
    /// Upload an image to a registry
    Push(PushOpts),
}

#[derive(Args, Debug, Serialize)]
pub struct EventsOpts {
    /// Show the events since TIME (RFC 3339, Unix seconds, or a duration such as 10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stop at TIME (the same forms), then exit; without it, new events are followed
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events matching KEY=VALUE (container, event, image, label, network, type, volume)
    #[arg(short = 'f', long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output format: json (one event per line) or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct FormatOpts {
    /// Output format: json or a Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct DfOpts {
    /// One row per image, container and volume
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Output format: table, json or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Serialize)]
pub struct PruneOpts {
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Only what matches KEY=VALUE (until=TIME, label=KEY[=VALUE], label!=…)
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Subcommand, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SystemCmd {
    /// Show the disk space images, containers and volumes take
    Df(DfOpts),
    /// Remove stopped containers, unused networks and dangling images (-a: every unused image)
    Prune {
        /// Remove every image no container uses, not only dangling ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Remove anonymous volumes no container uses too
        #[arg(long)]
        volumes: bool,
        #[command(flatten)]
        #[serde(flatten)]
        prune: PruneOpts,
    },
    /// Show what mydocker runs on
    Info(FormatOpts),
    /// Show lifecycle events
    Events(EventsOpts),
}

#[derive(Subcommand, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ContainerCmd {
    /// List containers (as `ps`)
    #[command(alias = "list")]
    Ls(PsOpts),
    /// Remove every stopped container
    Prune(PruneOpts),
}

pub fn init_logging(level: &str) -> Result<(), String> {
    use simplelog::{ConfigBuilder, LevelFilter, WriteLogger};
    let filter = match level.to_ascii_lowercase().as_str() {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "warn" | "warning" => LevelFilter::Warn,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        other => {
            return Err(format!("invalid log level {other:?}: use error, warn, info, debug or trace"));
        }
    };
    let config = ConfigBuilder::new()
        .set_time_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .build();
    let _ = WriteLogger::init(filter, config, std::io::stderr());
    Ok(())
}

/// Directories searched for user commands and overrides of bundled ones, in order.
pub fn script_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(p) = std::env::var("MYDOCKER_SCRIPTS") {
        dirs.extend(std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".config/mydocker/scripts"));
    }
    dirs.push(PathBuf::from("/etc/mydocker/scripts"));
    dirs
}

fn script_file(path: PathBuf) -> Result<Script, String> {
    let source =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let dir = path.parent().map(|p| p.to_path_buf());
    Ok(Script { name: path.display().to_string(), source, bundled: false, dir })
}

/// The script for command `name`: a user's `NAME.rhai` on the script path first, then the bundled one.
pub fn find_command(name: &str) -> Option<Script> {
    // `oci/create` is overridden by a user's `oci-create.rhai`.
    let file = name.replace('/', "-");
    if !file.is_empty() && file.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)) {
        for dir in script_path() {
            let p = dir.join(format!("{file}.rhai"));
            if p.is_file() {
                return script_file(p).ok();
            }
        }
    }
    engine::SCRIPTS.iter().find(|(n, _)| *n == name).map(|(n, src)| Script {
        name: format!("{n}.rhai"),
        source: src.to_string(),
        bundled: true,
        dir: None,
    })
}

fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            // clap's whole message: what is wrong, a suggestion for a typo, the usage line.
            let text = e.render().to_string();
            eprint!("mydocker: {}", text.trim_start_matches("error: "));
            125
        }
    }
}

pub fn main(argv: Vec<String>) -> i32 {
    crate::completion::answer_if_asked();
    if argv.len() > 1
        && let Ok((rest, ..)) = take_global_options(&argv[1..])
        && matches!(rest.first().map(String::as_str), Some("--help" | "-h"))
    {
        return top_level_help();
    }
    let mut cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    // clap hands a user command all that follows its name, global options too.
    if let Some(Command::External(args)) = &mut cli.command
        && args.len() > 1
    {
        match take_global_options(&args[1..]) {
            Ok((rest, root, data, level)) => {
                args.truncate(1);
                args.extend(rest);
                cli.root = root.map(PathBuf::from).unwrap_or(cli.root);
                cli.data_root = data.map(PathBuf::from).unwrap_or(cli.data_root);
                cli.log_level = level.unwrap_or(cli.log_level);
            }
            Err(msg) => {
                eprintln!("mydocker: {msg}");
                return 125;
            }
        }
    }
    if let Err(msg) = init_logging(&cli.log_level) {
        eprintln!("mydocker: {msg}");
        return 125;
    }
    engine::set_context(engine::Context { root: cli.root.clone(), data_root: cli.data_root.clone() });

    // Raw arguments after the command name, for scripts that want them.
    let rest_after = |cmd: &str| -> Vec<String> {
        argv.iter().skip_while(|a| a.as_str() != cmd).skip(1).cloned().collect()
    };
    let (name, opts) = match cli.command {
        None | Some(Command::Repl) => return crate::repl::run(),
        Some(Command::Api) => {
            print!("{}", engine::api::reference());
            return 0;
        }
        Some(Command::Scripts { action, name }) => {
            return scripts_command(action.as_deref(), name.as_deref());
        }
        Some(Command::Completion { shell }) => return crate::completion::print_registration(&shell),
        Some(Command::Run(o)) => ("run", rhai::serde::to_dynamic(&o)),
        Some(Command::Create(o)) => ("create", rhai::serde::to_dynamic(&o)),
        Some(Command::Start(o)) => ("start", rhai::serde::to_dynamic(&o)),
        Some(Command::Restart(o)) => ("restart", rhai::serde::to_dynamic(&o)),
        Some(Command::Pause(o)) => ("pause", rhai::serde::to_dynamic(&o)),
        Some(Command::Unpause(o)) => ("unpause", rhai::serde::to_dynamic(&o)),
        Some(Command::Rename(o)) => ("rename", rhai::serde::to_dynamic(&o)),
        Some(Command::Update(o)) => ("update", rhai::serde::to_dynamic(&o)),
        Some(Command::Top(o)) => ("top", rhai::serde::to_dynamic(&o)),
        Some(Command::Stats(o)) => ("stats", rhai::serde::to_dynamic(&o)),
        Some(Command::Ps(o)) => ("ps", rhai::serde::to_dynamic(&o)),
        Some(Command::Logs(o)) => ("logs", rhai::serde::to_dynamic(&o)),
        Some(Command::Exec(o)) => ("exec", rhai::serde::to_dynamic(&o)),
        Some(Command::Stop(o)) => ("stop", rhai::serde::to_dynamic(&o)),
        Some(Command::Rm(o)) => ("rm", rhai::serde::to_dynamic(&o)),
        Some(Command::Inspect(o)) => ("inspect", rhai::serde::to_dynamic(&o)),
        Some(Command::Wait(o)) => ("wait", rhai::serde::to_dynamic(&o)),
        Some(Command::Kill(o)) => ("kill", rhai::serde::to_dynamic(&o)),
        Some(Command::Images(o)) => ("images", rhai::serde::to_dynamic(&o)),
        Some(Command::Load(o)) => ("load", rhai::serde::to_dynamic(&o)),
        Some(Command::Save(o)) => ("save", rhai::serde::to_dynamic(&o)),
        Some(Command::Commit(o)) => ("commit", rhai::serde::to_dynamic(&o)),
        Some(Command::Export(o)) => ("export", rhai::serde::to_dynamic(&o)),
        Some(Command::Tag(o)) => ("tag", rhai::serde::to_dynamic(&o)),
        Some(Command::Rmi(o)) => ("rmi", rhai::serde::to_dynamic(&o)),
        Some(Command::History(o)) => ("history", rhai::serde::to_dynamic(&o)),
        Some(Command::Pull(o)) => ("pull", rhai::serde::to_dynamic(&o)),
        Some(Command::Push(o)) => ("push", rhai::serde::to_dynamic(&o)),
        Some(Command::Login(o)) => ("login", rhai::serde::to_dynamic(&o)),
        Some(Command::Logout(o)) => ("logout", rhai::serde::to_dynamic(&o)),
        // The image verbs that are top-level commands too run the same script.
        Some(Command::Image(ImageCmd::Load(o))) => ("load", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(ImageCmd::Save(o))) => ("save", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(ImageCmd::History(o))) => ("history", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(ImageCmd::Tag(o))) => ("tag", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(ImageCmd::Pull(o))) => ("pull", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(ImageCmd::Push(o))) => ("push", rhai::serde::to_dynamic(&o)),
        Some(Command::Image(o)) => ("image", rhai::serde::to_dynamic(&o)),
        Some(Command::Network(o)) => ("network", rhai::serde::to_dynamic(&o)),
        Some(Command::Port(o)) => ("port", rhai::serde::to_dynamic(&o)),
        Some(Command::Attach(o)) => ("attach", rhai::serde::to_dynamic(&o)),
        Some(Command::Events(o)) => ("events", rhai::serde::to_dynamic(&o)),
        Some(Command::Info(o)) => ("info", rhai::serde::to_dynamic(&o)),
        Some(Command::Version(o)) => ("version", rhai::serde::to_dynamic(&o)),
        // The system verbs that are top-level commands too run the same script.
        Some(Command::System(SystemCmd::Info(o))) => ("info", rhai::serde::to_dynamic(&o)),
        Some(Command::System(SystemCmd::Events(o))) => ("events", rhai::serde::to_dynamic(&o)),
        Some(Command::System(o)) => ("system", rhai::serde::to_dynamic(&o)),
        Some(Command::Container(ContainerCmd::Ls(o))) => ("ps", rhai::serde::to_dynamic(&o)),
        Some(Command::Container(o)) => ("container", rhai::serde::to_dynamic(&o)),
        Some(Command::External(args)) => return run_external(args),
    };
    let opts = match opts {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mydocker: {e}");
            return 125;
        }
    };
    match find_command(name) {
        Some(script) => engine::run(&script, &rest_after(name), opts),
        None => {
            eprintln!("mydocker: no script for command {name:?}");
            127
        }
    }
}

/// The built-in command names (each a bundled script).
fn builtin_names() -> Vec<&'static str> {
    engine::SCRIPTS.iter().map(|(n, _)| *n).collect()
}

/// `scripts`: every command and where its script comes from; `scripts show NAME`: its source.
fn scripts_command(action: Option<&str>, name: Option<&str>) -> i32 {
    match (action, name) {
        (None, _) | (Some("ls"), _) => {
            let mut rows: Vec<(String, String)> = Vec::new();
            for n in builtin_names() {
                let origin = match find_command(n) {
                    Some(s) if !s.bundled => format!("{} (overrides bundled)", s.name),
                    _ => "bundled".to_string(),
                };
                rows.push((n.to_string(), origin));
            }
            rows.extend(user_commands());
            let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(7);
            println!("{:w$}   SOURCE", "COMMAND");
            for (n, o) in rows {
                println!("{n:w$}   {o}");
            }
            0
        }
        (Some("show"), Some(n)) => {
            let bundled = engine::SCRIPTS.iter().chain(engine::STDLIB.iter()).find(|(s, _)| *s == n);
            match (find_command(n), bundled) {
                (Some(s), _) if !s.bundled => {
                    print!("{}", s.source);
                    0
                }
                (_, Some((_, src))) => {
                    print!("{src}");
                    0
                }
                _ => {
                    eprintln!("mydocker: no script named {n:?}");
                    1
                }
            }
        }
        (Some(other), _) => {
            eprintln!("mydocker: scripts: unknown action {other:?}: use `scripts` or `scripts show NAME`");
            125
        }
    }
}

/// `mydocker --help`: clap's help, then the user commands on the script path.
fn top_level_help() -> i32 {
    use clap::CommandFactory;
    let users: Vec<String> =
        user_commands().into_iter().map(|(name, path)| format!("  {name:<12} {path}")).collect();
    let mut cmd = Cli::command();
    if !users.is_empty() {
        let after = cmd.get_after_help().map(|a| a.to_string()).unwrap_or_default();
        cmd = cmd.after_help(format!("User commands (on the script path):\n{}\n\n{after}", users.join("\n")));
    }
    let _ = cmd.print_help();
    0
}

/// The `NAME.rhai` scripts on the script path that are not bundled commands.
fn user_commands() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for dir in script_path() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        found.sort();
        for p in found {
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()).map(String::from) else { continue };
            if p.extension().and_then(|e| e.to_str()) == Some("rhai")
                && !builtin_names().contains(&stem.as_str())
                && !out.iter().any(|(n, _)| *n == stem)
            {
                out.push((stem, p.display().to_string()));
            }
        }
    }
    out
}

/// A script's usage: the `//` comment block it opens with.
fn usage_comment(source: &str) -> String {
    let lines: Vec<&str> = source
        .lines()
        .take_while(|l| l.trim_start().starts_with("//"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches('/')
                .strip_prefix(' ')
                .unwrap_or(l.trim_start().trim_start_matches('/'))
        })
        .collect();
    lines.join("\n").trim().to_string()
}

/// The global options in a user command's arguments (`mydocker top --root X`):
/// applied, and taken out of what the script sees.
type GlobalOptions = (Vec<String>, Option<String>, Option<String>, Option<String>);

fn take_global_options(args: &[String]) -> Result<GlobalOptions, String> {
    let (mut root, mut data, mut level) = (None, None, None);
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let slot = match key {
            "--root" => &mut root,
            "--data-root" => &mut data,
            "--log-level" => &mut level,
            "--" => {
                rest.push(a.clone());
                rest.extend(it.cloned());
                break;
            }
            _ => {
                rest.push(a.clone());
                continue;
            }
        };
        match inline.or_else(|| it.next().cloned()) {
            Some(v) => *slot = Some(v),
            None => return Err(format!("{key} needs a value")),
        }
    }
    Ok((rest, root, data, level))
}

/// `mydocker FILE.rhai ARGS...` or `mydocker NAME ARGS...` (a user command).
fn run_external(args: Vec<String>) -> i32 {
    let Some((first, rest)) = args.split_first() else {
        return 125;
    };

    let script = if first.ends_with(".rhai") || first.contains('/') {
        match script_file(PathBuf::from(first)) {
            Ok(s) => s,
            Err(msg) => {
                eprintln!("mydocker: {msg}");
                return 127;
            }
        }
    } else {
        match find_command(first) {
            Some(s) => s,
            None => {
                let hint = nearest_command(first).map(|n| format!(": did you mean {n}?")).unwrap_or_default();
                eprintln!("mydocker: unknown command {first:?}{hint} (no {first}.rhai on the script path)");
                eprintln!("See 'mydocker --help'.");
                return 127;
            }
        }
    };
    if rest == ["--help"] {
        let usage = usage_comment(&script.source);
        println!(
            "{}",
            if usage.is_empty() { format!("{first}: no usage comment in {}", script.name) } else { usage }
        );
        return 0;
    }
    engine::run(&script, rest, rhai::Dynamic::UNIT)
}

/// The command nearest to a mistyped `name` (built-in subcommands and bundled
/// scripts), if one is close enough to be what was meant.
fn nearest_command(name: &str) -> Option<String> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let names = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .chain(builtin_names().into_iter().map(String::from));
    names
        .map(|n| (edit_distance(name, &n), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit (`rnu` → `run`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_nearest_command() {
        assert_eq!(nearest_command("rnu").as_deref(), Some("run"));
        assert_eq!(nearest_command("sotp").as_deref(), Some("stop"));
        assert_eq!(nearest_command("frobnicate"), None);
    }
}
