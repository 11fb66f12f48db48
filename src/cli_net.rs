//! The networking part of the command line: `run`'s network options,
//! `network …` and `port`. Parsing only; `scripts/network.rhai`,
//! `scripts/port.rhai` and `stdlib/network.rhai` decide.

use clap::{Args, Subcommand};
use serde::Serialize;

/// `run`'s network options (flattened into `RunOpts`).
#[derive(Args, Debug, Serialize, Default)]
pub struct NetRunOpts {
    /// none, host, bridge (the default; `MYDOCKER_NETWORK` changes it), a network's name, or container:NAME
    #[arg(long = "network", visible_alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Another name the container is known by on its network
    #[arg(long = "network-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its network
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<String>,
    /// The container's MAC address (e.g. 02:42:ac:11:00:02)
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,
    /// Publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp], ranges as 8000-8005:80-85
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add a line to /etc/hosts: HOST:IP
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// A nameserver for /etc/resolv.conf (replaces the host's)
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// A search domain for /etc/resolv.conf (replaces the host's)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
}

#[derive(Subcommand, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NetworkCmd {
    /// Create a bridge network
    Create {
        /// Only `bridge`
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// The network's IPv4 subnet (default: a free one from the pool)
        #[arg(long)]
        subnet: Option<String>,
        /// The bridge's address (default: the subnet's first)
        #[arg(long)]
        gateway: Option<String>,
        /// No traffic in or out of the network, only between its members
        #[arg(long)]
        internal: bool,
        /// KEY=VALUE
        #[arg(long)]
        label: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        /// table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Print networks as JSON, with their members
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks (refused while a container uses one)
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every network no container uses, and the default bridge if unused
    Prune {
        /// Accepted for Docker habits (nothing asks)
        #[arg(short = 'f', long)]
        force: bool,
        /// Only networks matching KEY=VALUE (until=TIME, label=KEY[=VALUE], label!=…)
        #[arg(long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
    /// Connect a running container to a network
    Connect {
        #[arg(long)]
        alias: Vec<String>,
        #[arg(long)]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
}

#[derive(Args, Debug, Serialize)]
pub struct PortOpts {
    pub container: String,
    /// PORT[/PROTO]: only this one
    pub port: Option<String>,
}
