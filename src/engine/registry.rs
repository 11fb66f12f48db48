//! `registry::` — credentials and registry settings for scripts: `login`,
//! `logout`, the registries.conf search list and insecure registries.
//! `image::pull` and `image::push` move the images themselves.

use super::{RhaiResult, at, rt};
use crate::runtime::error::Error;
use crate::runtime::registry::auth::{self, Credentials};
use crate::runtime::registry::client::Options;
use crate::runtime::registry::{self as reg, config};
use rhai::plugin::*;
use rhai::{Array, Map};
use std::path::PathBuf;

fn strings(v: Option<&Dynamic>, what: &str) -> RhaiResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(d) if d.is_unit() => Ok(Vec::new()),
        Some(d) => match d.clone().try_cast::<Array>() {
            Some(a) => Ok(a.iter().map(|x| x.to_string()).collect()),
            None => Err(super::to_rhai(Error::invalid(format!("{what} must be an array of strings")))),
        },
    }
}

fn string(v: Option<&Dynamic>) -> Option<String> {
    v.filter(|d| !d.is_unit()).map(|d| d.to_string()).filter(|s| !s.is_empty())
}

/// The client options a script passes: `tls_verify` (bool or ()), `cert_dir`,
/// `certs_d` (dirs of HOST[:PORT]/ subdirs), `insecure` (registries),
/// `authfile`, `creds` ("user:password").
pub fn client_options(m: &Map) -> RhaiResult<Options> {
    let tls_verify = match m.get("tls_verify") {
        None => None,
        Some(d) if d.is_unit() => None,
        Some(d) => Some(
            d.as_bool().map_err(|_| super::to_rhai(Error::invalid("tls_verify must be true or false")))?,
        ),
    };
    let credentials = match string(m.get("creds")) {
        None => None,
        Some(c) => {
            let (u, p) = c.split_once(':').unwrap_or((&c, ""));
            if u.is_empty() {
                return Err(super::to_rhai(Error::invalid("--creds: give USERNAME[:PASSWORD]")));
            }
            Some(Credentials { username: u.to_string(), password: p.to_string() })
        }
    };
    let auth_files = match string(m.get("authfile")) {
        Some(f) => vec![PathBuf::from(f)],
        None => auth::default_files(),
    };
    Ok(Options {
        tls_verify,
        certs_d: strings(m.get("certs_d"), "certs_d")?.into_iter().map(PathBuf::from).collect(),
        cert_dir: string(m.get("cert_dir")).map(PathBuf::from),
        insecure: strings(m.get("insecure"), "insecure")?,
        credentials,
        auth_files,
    })
}

#[export_module]
mod api {
    use super::*;

    /// What registries.conf says: `#{search: [...], insecure: [...], blocked: [...]}`.
    #[rhai_fn(return_raw)]
    pub fn conf(ctx: NativeCallContext) -> RhaiResult<Map> {
        at(&ctx, || {
            let c = rt(config::load())?;
            let arr = |v: Vec<String>| Dynamic::from_array(v.into_iter().map(Dynamic::from).collect());
            let mut m = Map::new();
            m.insert("search".into(), arr(c.search));
            m.insert("insecure".into(), arr(c.insecure));
            m.insert("blocked".into(), arr(c.blocked));
            Ok(m)
        })
    }

    /// Is `name` without a registry (`debian`, `library/debian:12`)?
    pub fn is_short_name(name: &str) -> bool {
        reg::is_short_name(name)
    }

    /// Is `registry` localhost or 127.0.0.0/8 (plain HTTP allowed)?
    pub fn is_local(registry: &str) -> bool {
        crate::runtime::registry::client::is_local(registry)
    }

    /// The credential files read, first match wins (REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json).
    pub fn auth_files() -> Array {
        auth::default_files().into_iter().map(|p| Dynamic::from(p.display().to_string())).collect()
    }

    /// Docker's config.json, where `login` writes unless given a file.
    pub fn docker_config_file() -> String {
        auth::docker_config_file().display().to_string()
    }

    /// Check `username`/`password` against `registry` (options as `image::pull`
    /// takes), then store them in `file` (Docker's `auths` format, 0600).
    #[rhai_fn(return_raw)]
    pub fn login(
        ctx: NativeCallContext,
        registry: &str,
        username: &str,
        password: &str,
        file: &str,
        opts: Map,
    ) -> RhaiResult<()> {
        at(&ctx, || {
            let mut o = client_options(&opts)?;
            let creds = Credentials { username: username.to_string(), password: password.to_string() };
            o.credentials = Some(creds.clone());
            rt(reg::login(registry, &o))?;
            rt(auth::store(registry, &creds, std::path::Path::new(file)))
        })
    }

    /// Remove `registry`'s credentials from `file`; false when it had none.
    #[rhai_fn(return_raw)]
    pub fn logout(ctx: NativeCallContext, registry: &str, file: &str) -> RhaiResult<bool> {
        at(&ctx, || rt(auth::erase(registry, std::path::Path::new(file))))
    }

    /// The user name stored for `registry` in the credential files, or ().
    #[rhai_fn(return_raw)]
    pub fn logged_in_as(ctx: NativeCallContext, registry: &str, files: Array) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let files: Vec<PathBuf> = if files.is_empty() {
                auth::default_files()
            } else {
                files.iter().map(|f| PathBuf::from(f.to_string())).collect()
            };
            Ok(rt(auth::lookup(registry, &files))?
                .map(|c| Dynamic::from(c.username))
                .unwrap_or(Dynamic::UNIT))
        })
    }
}

pub fn module() -> rhai::Module {
    exported_module!(api)
}
