//! One error type for every runtime primitive: a machine-readable kind plus a
//! message that names the thing that failed (a path, a container, a value).

use std::fmt;

/// What went wrong, coarsely: scripts branch on this (`e.kind == "not_found"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input: a malformed name, size, option value.
    Invalid,
    /// No such container or image.
    NotFound,
    /// An id prefix that matches more than one container.
    Ambiguous,
    /// The name is already taken.
    Conflict,
    /// The container's command does not exist inside it.
    CommandNotFound,
    /// The container's command exists but cannot be executed.
    NotExecutable,
    /// The container is not running (exec, kill).
    NotRunning,
    /// The container is running (rm without force).
    Running,
    /// A registry refused our credentials, or wants some.
    Unauthorized,
    /// Anything the kernel or filesystem refused.
    Os,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::NotFound => "not_found",
            Kind::Ambiguous => "ambiguous",
            Kind::Conflict => "conflict",
            Kind::CommandNotFound => "command_not_found",
            Kind::NotExecutable => "not_executable",
            Kind::NotRunning => "not_running",
            Kind::Running => "running",
            Kind::Unauthorized => "unauthorized",
            Kind::Os => "os",
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "invalid" => Kind::Invalid,
            "not_found" => Kind::NotFound,
            "ambiguous" => Kind::Ambiguous,
            "conflict" => Kind::Conflict,
            "command_not_found" => Kind::CommandNotFound,
            "not_executable" => Kind::NotExecutable,
            "not_running" => Kind::NotRunning,
            "running" => Kind::Running,
            "unauthorized" => Kind::Unauthorized,
            _ => Kind::Os,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// The OS error behind it, when there is one (scripts see `e.errno`).
    pub errno: Option<i32>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), errno: None }
    }
    /// The same error, carrying the errno that caused it.
    pub fn with_errno(mut self, errno: i32) -> Self {
        self.errno = Some(errno);
        self
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    pub fn os(message: impl Into<String>) -> Self {
        Self::new(Kind::Os, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Attach "what we were doing" to an OS error: `fs::read(p).ctx(|| format!("read {}", p))`.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| {
            let err = Error::os(format!("{}: {}", what().into(), e));
            match e.raw_os_error() {
                Some(n) => err.with_errno(n),
                None => err,
            }
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::os(format!("{}: {}", what().into(), e.desc())).with_errno(e as i32))
    }
}
