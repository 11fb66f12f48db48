//! OCI distribution registries: pull, push, login. `client` speaks HTTP(S)
//! and the auth handshake; `pull` and `push` move images between a registry
//! and the image store; `auth` keeps credentials in Docker's format;
//! `config` reads what Podman's registries.conf says.

pub mod auth;
pub mod client;
pub mod config;
pub mod pull;
pub mod push;

use crate::runtime::error::{Error, Kind, Result};
use client::{Client, Options, Payload};

/// Check `opts.credentials` against `registry`: an authenticated `GET /v2/`
/// must succeed (a token server refuses bad credentials on the way).
pub fn login(registry: &str, opts: &Options) -> Result<()> {
    let client = Client::connect(registry, opts, &[])?;
    let resp = client.send("GET", "/v2/", &[], &Payload::Empty)?;
    match resp.status().as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(Error::new(
            Kind::Unauthorized,
            format!("login to {registry}: unauthorized: the credentials were refused"),
        )),
        _ => Err(client.error(resp, &format!("login to {registry}"))),
    }
}

/// Is `text` a name without a registry (`debian`, `library/debian:12`), which
/// short-name resolution applies to?
pub fn is_short_name(text: &str) -> bool {
    match text.split_once('/') {
        Some((first, _)) => !(first.contains(['.', ':']) || first == "localhost"),
        None => true,
    }
}
