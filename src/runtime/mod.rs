//! The runtime primitives, by concern. No policy lives here: the bundled
//! scripts decide what happens in which order.

pub mod attach;
pub mod caps;
pub mod cgroups;
pub mod civil;
pub mod clock;
pub mod copy;
pub mod diff;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod exec_helper;
pub mod fs_context;
pub mod host_process;
pub mod image;
pub mod inroot;
pub mod log_relay;
pub mod log_split;
pub mod logs;
pub mod mounts;
pub mod net;
pub mod network;
pub mod overlay;
pub mod process;
pub mod registry;
pub mod remove_tree;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;
pub mod template;
pub mod tty;
pub mod user;
pub mod volume;
