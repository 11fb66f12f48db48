//! One registry over HTTP(S): the scheme and TLS trust chosen as Docker and
//! Podman do, the auth handshake (`WWW-Authenticate` → Bearer token from the
//! realm, or Basic), retries of requests a dropped connection interrupted.
//! Synchronous (ureq): the commands that pull never join a namespace while a
//! request is in flight, and their threads are joined before they return.

use super::auth::{self, Challenge, Credentials};
use crate::runtime::error::{Error, Kind, Result};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{Request, Response};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

pub type Body = ureq::Body;

/// How a registry is reached: the policy (defaults, search paths) is the
/// scripts'; this is what they decided.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `Some(false)`: TLS without verification, and plain HTTP allowed (Podman's
    /// `--tls-verify=false`); `Some(true)`: HTTPS only, even for localhost.
    pub tls_verify: Option<bool>,
    /// Dirs holding `HOST[:PORT]/` subdirs of `*.crt` CAs and `*.cert`/`*.key`
    /// client pairs (Docker's `/etc/docker/certs.d`).
    pub certs_d: Vec<PathBuf>,
    /// A dir of that kind for this registry alone (Podman's `--cert-dir`).
    pub cert_dir: Option<PathBuf>,
    /// Registries where plain HTTP is allowed (registries.conf `insecure`).
    pub insecure: Vec<String>,
    /// Credentials given on the command line; else looked up in `auth_files`.
    pub credentials: Option<Credentials>,
    pub auth_files: Vec<PathBuf>,
}

/// A request body that can be sent again when a retry needs it.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8], &'a str),
    File(&'a Path),
}

pub struct Client {
    agent: ureq::Agent,
    /// As references spell it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// `https://host[:port]` or `http://…`.
    pub base: String,
    credentials: Option<Credentials>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// The `Authorization` value every request carries.
    header: Option<String>,
    challenge: Option<Challenge>,
    /// Every scope asked for so far: a new token must keep granting them.
    scopes: Vec<String>,
}

/// Attempts for a request whose connection failed before an answer.
const ATTEMPTS: u32 = 3;

/// Docker Hub's API is not at the name references use.
fn endpoint(registry: &str) -> &str {
    if registry == "docker.io" { "registry-1.docker.io" } else { registry }
}

/// localhost, 127.0.0.0/8 and ::1: plain HTTP allowed, as Docker does.
pub fn is_local(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry
            .rsplit_once(':')
            .map_or(registry, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { registry }),
    };
    host == "localhost"
        || host == "::1"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// Reach `registry`, choose HTTPS (or HTTP where allowed and HTTPS fails),
    /// and authenticate for `scopes` (`repository:NAME:pull[,push]`).
    pub fn connect(registry: &str, opts: &Options, scopes: &[String]) -> Result<Client> {
        let host = endpoint(registry);
        let plain_allowed = is_local(registry)
            || opts.insecure.iter().any(|i| i == registry)
            || opts.tls_verify == Some(false);
        let plain_allowed = plain_allowed && opts.tls_verify != Some(true);
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(registry, &opts.auth_files)?,
        };
        let tls = tls_config(host, opts)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .user_agent(concat!("mydocker/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(8)
            .build()
            .into();
        let mut client = Client {
            agent,
            registry: registry.to_string(),
            base: format!("https://{host}"),
            credentials,
            state: Mutex::new(AuthState::default()),
        };
        let probe = match client.send_once("GET", "/v2/", &[], &Payload::Empty) {
            Ok(r) => r,
            Err(tls_err) if plain_allowed => {
                client.base = format!("http://{host}");
                let r = client.send_once("GET", "/v2/", &[], &Payload::Empty).map_err(|e| {
                    Error::os(format!(
                        "{registry}: not reachable over HTTPS ({}) nor HTTP ({})",
                        tls_err.message, e.message
                    ))
                })?;
                // An HTTPS-only registry answers plain HTTP with 400: its TLS was the problem.
                if !matches!(r.status().as_u16(), 200..=299 | 401) {
                    return Err(Error::os(format!(
                        "{registry}: {} (and over HTTP it answered {})",
                        tls_err.message,
                        r.status().as_u16()
                    )));
                }
                r
            }
            Err(e) => {
                let lower = e.message.to_ascii_lowercase();
                let tls_problem =
                    ["tls", "certificate", "handshake", "corrupt message", "invalidcontenttype"]
                        .iter()
                        .any(|w| lower.contains(w));
                let hint = if is_local(registry) || opts.tls_verify == Some(true) || !tls_problem {
                    ""
                } else {
                    " (a registry without TLS must be listed as insecure, or use --tls-verify=false)"
                };
                return Err(Error::os(format!("{registry}: {}{hint}", e.message)));
            }
        };
        {
            let mut st = client.lock();
            st.scopes = scopes.to_vec();
        }
        match probe.status().as_u16() {
            200..=299 => {}
            401 => {
                let ch = challenge_of(&probe).ok_or_else(|| {
                    Error::new(Kind::Unauthorized, format!("{registry}: 401 without a challenge"))
                })?;
                client.authenticate(ch)?;
            }
            404 => {
                return Err(Error::os(format!("{registry}: no registry API at {}/v2/ (404)", client.base)));
            }
            s => return Err(Error::os(format!("{registry}: {}/v2/ answered {s}", client.base))),
        }
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer a challenge: a Bearer token from its realm, or Basic credentials.
    fn authenticate(&self, ch: Challenge) -> Result<()> {
        match ch.scheme.as_str() {
            "basic" => {
                let c = self.credentials.as_ref().ok_or_else(|| self.need_login())?;
                let mut st = self.lock();
                st.header = Some(auth::basic_header(c));
                st.challenge = Some(ch);
                Ok(())
            }
            "bearer" => {
                let token = self.token(&ch)?;
                let mut st = self.lock();
                st.header = Some(format!("Bearer {token}"));
                st.challenge = Some(ch);
                Ok(())
            }
            other => Err(Error::new(
                Kind::Unauthorized,
                format!("{}: unsupported authentication scheme {other:?}", self.registry),
            )),
        }
    }

    fn need_login(&self) -> Error {
        Error::new(
            Kind::Unauthorized,
            format!("{}: authentication required: run `mydocker login {}`", self.registry, self.registry),
        )
    }

    /// GET realm?service=…&scope=…, Basic credentials if we have any.
    fn token(&self, ch: &Challenge) -> Result<String> {
        let realm = ch.params.get("realm").ok_or_else(|| {
            Error::new(Kind::Unauthorized, format!("{}: Bearer challenge without a realm", self.registry))
        })?;
        let mut url = realm.clone();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        let mut push = |k: &str, v: &str| {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v));
            sep = '&';
        };
        if let Some(s) = ch.params.get("service") {
            push("service", s);
        }
        let mut scopes = self.lock().scopes.clone();
        if let Some(s) = ch.params.get("scope")
            && !scopes.contains(s)
        {
            scopes.push(s.clone());
        }
        for s in &scopes {
            push("scope", s);
        }
        let mut req = Request::builder().method("GET").uri(&url);
        if let Some(c) = &self.credentials {
            req = req.header("Authorization", auth::basic_header(c));
        }
        let req = req.body(()).map_err(|e| Error::invalid(format!("token request {url}: {e}")))?;
        let mut resp = self.agent.run(req).map_err(|e| Error::os(format!("token from {realm}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            let why = if self.credentials.is_some() {
                "the credentials were refused"
            } else {
                "credentials needed"
            };
            return Err(Error::new(
                Kind::Unauthorized,
                format!("{}: {why} by the token server {realm} ({status})", self.registry),
            ));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| Error::os(format!("token from {realm}: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(Error::os(format!(
                "token from {realm}: {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("token from {realm}: bad JSON: {e}")))?;
        v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::invalid(format!("token from {realm}: no token in the answer")))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// One request, no retry and no re-authentication.
    fn send_once(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: &Payload,
    ) -> Result<Response<Body>> {
        let url = self.url(path);
        let mut req = Request::builder().method(method).uri(&url);
        // The token is for this registry only, never for a redirect's or a Location's other host.
        if same_origin(&url, &self.base)
            && let Some(h) = &self.lock().header
        {
            req = req.header("Authorization", h.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let fail = |e: String| Error::os(format!("{method} {url}: {e}"));
        let result = match payload {
            Payload::Empty => {
                let r = req.body(()).map_err(|e| fail(e.to_string()))?;
                self.agent.run(r)
            }
            Payload::Bytes(b, ct) => {
                let r = req.header("Content-Type", *ct).body(*b).map_err(|e| fail(e.to_string()))?;
                self.agent.run(r)
            }
            Payload::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| fail(format!("open {}: {e}", p.display())))?;
                let r = req
                    .header("Content-Type", "application/octet-stream")
                    .body(f)
                    .map_err(|e| fail(e.to_string()))?;
                self.agent.run(r)
            }
        };
        result.map_err(|e| fail(e.to_string()))
    }

    /// A request, retried when the connection failed, re-authenticated once
    /// when the registry asks for a new token (expired, or another scope).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: &Payload,
    ) -> Result<Response<Body>> {
        let mut reauthed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(method, path, headers, payload) {
                Ok(r) if r.status().as_u16() == 401 && !reauthed => {
                    reauthed = true;
                    match challenge_of(&r) {
                        Some(ch) => self.authenticate(ch)?,
                        None => return Ok(r),
                    }
                }
                Ok(r) => return Ok(r),
                Err(e) if attempt < ATTEMPTS => {
                    log::info!("{e}; retrying");
                    std::thread::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, String)]) -> Result<Response<Body>> {
        self.send("GET", path, headers, &Payload::Empty)
    }

    /// A small body read whole (a manifest, a config, an error).
    pub fn read_small(resp: &mut Response<Body>, limit: u64, what: &str) -> Result<Vec<u8>> {
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| Error::os(format!("{what}: {e}")))
    }

    /// The registry's error for a failed request: `CODE: message (status)`.
    pub fn error(&self, mut resp: Response<Body>, what: &str) -> Error {
        let status = resp.status().as_u16();
        let body = Self::read_small(&mut resp, 64 << 10, what).unwrap_or_default();
        let detail = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v["errors"].as_array()?.first()?.clone();
                let code = e["code"].as_str().unwrap_or_default().to_string();
                let msg = e["message"].as_str().unwrap_or_default().to_string();
                Some(if code.is_empty() { msg } else { format!("{code}: {msg}") })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().chars().take(200).collect());
        let kind = match status {
            401 | 403 => Kind::Unauthorized,
            404 => Kind::NotFound,
            _ => Kind::Os,
        };
        let detail = if detail.is_empty() { String::new() } else { format!("{detail} ") };
        let mut message = format!("{what}: {detail}({status})");
        if status == 401 && self.credentials.is_none() {
            message.push_str(&format!(": run `mydocker login {}`", self.registry));
        }
        Error::new(kind, message)
    }
}

fn challenge_of(resp: &Response<Body>) -> Option<Challenge> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(Challenge::parse)
        // Prefer Bearer when both are offered.
        .min_by_key(|c| if c.scheme == "bearer" { 0 } else { 1 })
}

/// Is `url` on the registry at `base` (`scheme://host[:port]`)? Not merely a
/// prefix: `http://h:50001/…` is not on `http://h:5000`.
fn same_origin(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

pub fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The system's CAs plus those `certs.d` holds for this host; a client
/// certificate when one is there.
fn tls_config(host: &str, opts: &Options) -> Result<TlsConfig> {
    let mut builder = TlsConfig::builder();
    if opts.tls_verify == Some(false) {
        return Ok(builder.disable_verification(true).build());
    }
    let mut dirs: Vec<PathBuf> = opts.certs_d.iter().map(|d| d.join(host)).collect();
    if let Some(d) = &opts.cert_dir {
        dirs.push(d.clone());
    }
    let mut extra: Vec<Certificate<'static>> = Vec::new();
    let mut client: Option<(Vec<Certificate<'static>>, PrivateKey<'static>)> = None;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in &files {
            let name = f.to_string_lossy();
            if name.ends_with(".crt") {
                extra.extend(read_certs(f)?);
            } else if name.ends_with(".cert") {
                let key = f.with_extension("key");
                let pem = std::fs::read(&key).map_err(|e| {
                    Error::invalid(format!("client certificate {name} has no key {}: {e}", key.display()))
                })?;
                let key = PrivateKey::from_pem(&pem)
                    .map_err(|e| Error::invalid(format!("{}: {e}", key.display())))?;
                client = Some((read_certs(f)?, key));
            }
        }
    }
    if !extra.is_empty() {
        let mut roots = Vec::new();
        for bundle in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"] {
            if Path::new(bundle).is_file() {
                roots.extend(read_certs(Path::new(bundle))?);
                break;
            }
        }
        roots.extend(extra);
        builder = builder.root_certs(RootCerts::new_with_certs(&roots));
    } else if Path::new("/etc/ssl/certs/ca-certificates.crt").is_file() {
        builder = builder.root_certs(RootCerts::new_with_certs(&read_certs(Path::new(
            "/etc/ssl/certs/ca-certificates.crt",
        ))?));
    }
    if let Some((chain, key)) = client {
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

fn read_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path).map_err(|e| Error::os(format!("read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(Error::invalid(format!("{}: {e}", path.display()))),
        }
    }
    Ok(out)
}

/// Read a response body to the end into `out`, for callers that stream.
pub fn reader(resp: Response<Body>) -> impl Read + Send {
    resp.into_body().into_reader()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_registries_are_recognised() {
        for r in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"] {
            assert!(is_local(r), "{r}");
        }
        for r in ["docker.io", "10.0.0.1:5000", "reg.example:5000", "localhost.example"] {
            assert!(!is_local(r), "{r}");
        }
    }

    #[test]
    fn the_token_goes_to_the_registry_only() {
        let base = "http://127.0.0.1:5000";
        assert!(same_origin("http://127.0.0.1:5000/v2/x/blobs/uploads/1", base));
        assert!(same_origin(base, base));
        // A Location on another port, host or scheme gets no Authorization.
        for other in [
            "http://127.0.0.1:50001/v2/",
            "http://127.0.0.1:5000.evil.example/v2/",
            "https://127.0.0.1:5000/v2/",
        ] {
            assert!(!same_origin(other, base), "{other}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
