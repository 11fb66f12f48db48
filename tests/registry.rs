//! pull, push, login and logout against the real registry Docker's and
//! Podman's users run: the `docker-registry` package (the CNCF distribution
//! registry), one per test on 127.0.0.1 with its own config and storage —
//! plain HTTP, HTTPS with a CA made here, htpasswd Basic auth, and Bearer
//! tokens from a token server run by the test. Podman pulls and runs what
//! mydocker pushed, and the other way round.

mod common;
#[path = "common/peers.rs"]
mod peers;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Env, eventually, wait_dead};
use peers::{Podman, have};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Registry {
    /// None (after saying why) when the package is not installed.
    fn start(test: &str, tls: Option<(&Path, &Path)>, auth: &str) -> Option<Registry> {
        if !have("docker-registry") {
            eprintln!("SKIP {test}: docker-registry is not installed");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("mdreg").tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let tls = match tls {
            Some((cert, key)) => {
                format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display())
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n{tls}{auth}",
            dir.path().join("store").display()
        );
        let conf = dir.path().join("config.yml");
        std::fs::write(&conf, config).expect("config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { dir, child, addr };
        assert!(
            eventually(Duration::from_secs(10), || TcpStream::connect(&r.addr).is_ok()),
            "the registry did not listen: {}",
            r.log()
        );
        Some(r)
    }

    fn plain(test: &str) -> Option<Registry> {
        Registry::start(test, None, "")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Requests for blobs the access log shows (`GET /v2/…/blobs/sha256:…`).
    fn blob_gets(&self) -> usize {
        self.log().lines().filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:")).count()
    }

    /// The data file of blob `digest` in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join(format!("store/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        if !wait_dead(pid, Duration::from_secs(5)) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// An image of two layers (busybox plus a file) named `name` in `env`.
fn two_layer_image(env: &Env, name: &str) {
    let c = format!("mk-{}", std::process::id());
    env.ok(&["run", "--name", &c, "sh", "-c", "echo hello from layer two > /hello"]);
    env.ok(&["commit", &c, name]);
    env.ok(&["rm", &c]);
}

/// The default image, built from the host's busybox on first use.
fn with_busybox(env: &Env) {
    env.ok(&["run", "--rm", "true"]);
}

fn dir_entries(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The store holds nothing (no layer, no image, no temp dir).
fn store_is_empty(env: &Env) {
    for d in ["layers", "images", "l", "tmp"] {
        let left = dir_entries(&env.data.path().join(d));
        assert!(left.is_empty(), "{d}/ should be empty: {left:?}");
    }
}

#[test]
fn push_pull_run_and_podman_both_ways() {
    let Some(reg) = Registry::plain("push_pull_run_and_podman_both_ways") else { return };
    let a = Env::new();
    two_layer_image(&a, "app:1");
    let dest = format!("{}/md/app:1", reg.addr);
    let out = a.ok(&["push", "app:1", &dest]);
    assert!(out.starts_with(&format!("The push refers to repository [{}/md/app]\n", reg.addr)), "{out}");
    assert_eq!(out.matches(": Pushed\n").count(), 2, "two layers sent: {out}");
    let digest_line = out.lines().last().unwrap_or_default().to_string();
    assert!(digest_line.starts_with("1: digest: sha256:") && digest_line.contains(" size: "), "{out}");
    let digest = digest_line.split_whitespace().nth(2).unwrap_or_default().to_string();

    // Again: nothing sent. To another repository: mounted, not uploaded.
    let again = a.ok(&["push", "app:1", &dest]);
    assert_eq!(again.matches(": Layer already exists\n").count(), 2, "{again}");
    let other = a.ok(&["push", "app:1", &format!("{}/other/app:2", reg.addr)]);
    assert_eq!(other.matches(": Mounted from md/app\n").count(), 2, "{other}");

    // Another host's store: pull, run; the digest is the one pushed.
    let b = Env::new();
    let out = b.ok(&["pull", &dest]);
    assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    assert_eq!(out.lines().last(), Some(dest.as_str()), "{out}");
    assert_eq!(b.ok(&["run", "--rm", &dest, "cat", "/hello"]), "hello from layer two\n");
    // Pulled again: every layer present, no blob fetched.
    let gets = reg.blob_gets();
    let out = b.ok(&["pull", &dest]);
    assert!(out.contains("Status: Image is up to date for"), "{out}");
    assert_eq!(out.matches(": Already exists\n").count(), 2, "{out}");
    assert_eq!(reg.blob_gets(), gets, "no blob requested for an image already here");
    // By digest; and the other tag shares every layer.
    let by_digest = format!("{}/md/app@{digest}", reg.addr);
    assert_eq!(b.ok(&["pull", "-q", &by_digest]), format!("{by_digest}\n"));
    assert_eq!(b.ok(&["run", "--rm", &by_digest, "cat", "/hello"]), "hello from layer two\n");
    let out = b.ok(&["pull", &format!("{}/other/app:2", reg.addr)]);
    assert_eq!(out.matches(": Already exists\n").count(), 2, "{out}");
    assert_eq!(dir_entries(&b.data.path().join("layers")).len(), 2, "layers are shared");

    // run pulls what is missing (its lines on stderr, the command's on stdout).
    let c = Env::new();
    let o = c.run(&["run", "--rm", &dest, "cat", "/hello"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "hello from layer two\n"), "{}", o.stderr);
    assert!(o.stderr.starts_with(&format!("Unable to find image '{dest}' locally\n")), "{}", o.stderr);
    let o = c.run(&["run", "--rm", "--pull=always", &dest, "true"]);
    assert!(o.stderr.contains("Status: Image is up to date"), "{}", o.stderr);

    // Podman pulls and runs what mydocker pushed, and pushes what mydocker pulls.
    if let Some(pm) = Podman::new("push_pull_run_and_podman_both_ways") {
        pm.ok(&["pull", "-q", "--tls-verify=false", &dest]);
        let run = pm.run_args(&["--rm", &dest, "cat", "/hello"]);
        assert_eq!(pm.ok(&run), "hello from layer two\n");
        let theirs = format!("{}/pm/busybox:1", reg.addr);
        pm.ok(&["push", "-q", "--tls-verify=false", "localhost/busybox", &theirs]);
        let d = Env::new();
        d.ok(&["pull", "-q", &theirs]);
        assert_eq!(d.ok(&["run", "--rm", &theirs, "echo", "from podman"]), "from podman\n");
        d.finish();
        pm.finish();
    }
    a.finish();
    b.finish();
    c.finish();
}

/// PUT `body` as `media_type` to the registry (what another tool would push).
fn put_manifest(reg: &Registry, repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    let url = format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr);
    let resp = ureq::put(&url).header("Content-Type", media_type).send(body).expect("put manifest");
    assert_eq!(resp.status().as_u16(), 201, "PUT {url}");
}

fn get_manifest(reg: &Registry, repo: &str, reference: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repo}/manifests/{reference}", reg.addr);
    let mut resp = ureq::get(&url)
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .call()
        .expect("get manifest");
    resp.body_mut().read_to_vec().expect("body")
}

#[test]
fn an_index_resolves_to_this_hosts_platform() {
    let Some(reg) = Registry::plain("an_index_resolves_to_this_hosts_platform") else { return };
    let a = Env::new();
    two_layer_image(&a, "app:1");
    a.ok(&["push", "-q", "app:1", &format!("{}/md/multi:app", reg.addr)]);
    a.ok(&["push", "-q", "busybox", &format!("{}/md/multi:bb", reg.addr)]);
    let app = get_manifest(&reg, "md/multi", "app");
    let bb = get_manifest(&reg, "md/multi", "bb");
    let sha = |b: &[u8]| {
        use sha2::Digest;
        let d = sha2::Sha256::digest(b);
        format!("sha256:{}", d.iter().map(|x| format!("{x:02x}")).collect::<String>())
    };
    // Another architecture first: the host's entry must be chosen, not the first.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&app), "size": app.len(),
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&bb), "size": bb.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    let body = serde_json::to_vec(&index).expect("json");
    put_manifest(&reg, "md/multi", "list", "application/vnd.oci.image.index.v1+json", &body);
    let b = Env::new();
    let out = b.ok(&["pull", &format!("{}/md/multi:list", reg.addr)]);
    assert!(out.contains(&format!("Digest: {}\n", sha(&body))), "the index's digest is the one named: {out}");
    let id_of = |env: &Env, name: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", name])).expect("json");
        v[0]["id"].as_str().unwrap_or_default().to_string()
    };
    let want = id_of(&a, "busybox");
    assert!(!want.is_empty());
    assert_eq!(
        id_of(&b, &format!("{}/md/multi:list", reg.addr)),
        want,
        "the amd64 entry (busybox) was pulled"
    );
    // An index without this platform: a clear error, nothing kept.
    let only_other = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&app),
                       "size": app.len(), "platform": {"os": "linux", "architecture": "s390x"}}]
    });
    put_manifest(
        &reg,
        "md/multi",
        "s390x",
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&only_other).expect("json"),
    );
    let c = Env::new();
    let o = c.fails(&["pull", &format!("{}/md/multi:s390x", reg.addr)]);
    assert!(o.stderr.contains("no linux/amd64 image (has linux/s390x)"), "{}", o.stderr);
    store_is_empty(&c);
    a.finish();
    b.finish();
    c.finish();
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_is_kept() {
    let Some(reg) = Registry::plain("a_corrupt_blob_is_refused_and_nothing_is_kept") else { return };
    let a = Env::new();
    two_layer_image(&a, "app:1");
    let dest = format!("{}/md/app:1", reg.addr);
    a.ok(&["push", "app:1", &dest]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&get_manifest(&reg, "md/app", "1")).expect("json");
    // The top layer's bytes changed in the registry's storage (a bad disk, a bad mirror).
    let top = manifest["layers"][1]["digest"].as_str().expect("digest").to_string();
    let file = reg.blob_file(&top);
    let mut bytes = std::fs::read(&file).expect("blob");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).expect("corrupt");
    let b = Env::new();
    let o = b.fails(&["pull", &dest]);
    assert_eq!(o.stderr.lines().count(), 1, "one line: {}", o.stderr);
    assert!(o.stderr.contains(&top) && o.stderr.contains("not the digest"), "{}", o.stderr);
    store_is_empty(&b);
    assert!(b.ok(&["images", "-q"]).is_empty());
    a.finish();
    b.finish();
}

/// A TCP proxy to the registry that cuts the first download of `digest`
/// after `cut_after` bytes of its answer; counts later `Range` requests.
struct Proxy {
    addr: String,
    ranges: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str, digest: &str, cut_after: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let ranges = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (up, needle) = (upstream.to_string(), format!("/blobs/{digest}"));
        let (r2, c2, s2) = (ranges.clone(), cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&up) else { continue };
                let (r3, c3, n3) = (r2.clone(), c2.clone(), needle.clone());
                std::thread::spawn(move || pipe(client, server, &n3, cut_after, &r3, &c3));
            }
        });
        Proxy { addr, ranges, cuts, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn pipe(
    client: TcpStream,
    server: TcpStream,
    needle: &str,
    cut_after: usize,
    ranges: &Arc<AtomicUsize>,
    cuts: &AtomicUsize,
) {
    let armed = Arc::new(AtomicBool::new(false));
    let (mut c_in, mut s_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
    let (a2, n2, r2) = (armed.clone(), needle.to_string(), ranges.clone());
    let first_cut = cuts.load(Ordering::Relaxed) == 0;
    let requests = std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = c_in.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.contains(&n2) && text.starts_with("GET") {
                if text.to_ascii_lowercase().contains("\r\nrange: bytes=") {
                    r2.fetch_add(1, Ordering::Relaxed);
                } else if first_cut {
                    a2.store(true, Ordering::Relaxed);
                }
            }
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(std::net::Shutdown::Both);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut buf = [0u8; 16384];
    let mut sent_armed = 0usize;
    while let Ok(n) = s_in.read(&mut buf) {
        if n == 0 {
            break;
        }
        if armed.load(Ordering::Relaxed) && cuts.load(Ordering::Relaxed) == 0 {
            sent_armed += n;
            if sent_armed > cut_after {
                cuts.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = c_out.shutdown(std::net::Shutdown::Both);
    let _ = s_in.shutdown(std::net::Shutdown::Both);
    let _ = requests.join();
}

#[test]
fn a_dropped_download_resumes_where_it_stopped() {
    let Some(reg) = Registry::plain("a_dropped_download_resumes_where_it_stopped") else { return };
    let a = Env::new();
    with_busybox(&a);
    a.ok(&["push", "-q", "busybox", &format!("{}/md/bb:1", reg.addr)]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&get_manifest(&reg, "md/bb", "1")).expect("json");
    let layer = manifest["layers"][0]["digest"].as_str().expect("digest").to_string();
    let size = manifest["layers"][0]["size"].as_u64().expect("size");
    assert!(size > 256 << 10, "a layer big enough to cut: {size}");
    let proxy = Proxy::start(&reg.addr, &layer, 128 << 10);
    let b = Env::new();
    let via = format!("{}/md/bb:1", proxy.addr);
    let out = b.ok(&["pull", &via]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(proxy.cuts.load(Ordering::Relaxed), 1, "the connection was cut once");
    assert!(proxy.ranges.load(Ordering::Relaxed) >= 1, "the rest was asked for with Range");
    assert_eq!(b.ok(&["run", "--rm", &via, "echo", "whole"]), "whole\n");
    drop(proxy);
    a.finish();
    b.finish();
}

/// `htpasswd -Bbn USER PASSWORD` (bcrypt, what the registry takes).
fn htpasswd(dir: &Path, user: &str, password: &str) -> Option<PathBuf> {
    if !have("htpasswd") {
        eprintln!("SKIP: htpasswd (apache2-utils) is not installed");
        return None;
    }
    let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd");
    assert!(out.status.success());
    let path = dir.join("htpasswd");
    std::fs::write(&path, out.stdout).expect("write htpasswd");
    Some(path)
}

#[test]
fn basic_auth_login_pull_push_logout() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let Some(file) = htpasswd(secrets.path(), "alice", "s3cret pass") else { return };
    let auth = format!("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n", file.display());
    let Some(reg) = Registry::start("basic_auth_login_pull_push_logout", None, &auth) else { return };
    let a = Env::new();
    with_busybox(&a);
    let dest = format!("{}/md/bb:1", reg.addr);
    let authfile = secrets.path().join("auth/config.json");
    let af = authfile.to_string_lossy().into_owned();
    // Without credentials: refused, saying how to log in.
    let o = a.fails(&["push", "busybox", &dest]);
    assert!(o.stderr.contains(&format!("mydocker login {}", reg.addr)), "{}", o.stderr);
    // Wrong password: refused, nothing written.
    let mut login = a.command(&["login", "--authfile", &af, "-u", "alice", "--password-stdin", &reg.addr]);
    let o = feed(&mut login, "wrong\n");
    assert_ne!(o.0, 0, "{}", o.2);
    assert!(o.2.contains("unauthorized"), "{}", o.2);
    assert!(!authfile.exists(), "no credentials kept after a refused login");
    // Right: kept 0600 in Docker's format.
    let mut login = a.command(&["login", "--authfile", &af, "-u", "alice", "--password-stdin", &reg.addr]);
    let o = feed(&mut login, "s3cret pass\n");
    assert_eq!((o.0, o.1.as_str()), (0, "Login Succeeded\n"), "{}", o.2);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&authfile).expect("authfile").permissions().mode() & 0o777, 0o600);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).expect("read")).expect("json");
    assert_eq!(doc["auths"][&reg.addr]["auth"], STANDARD.encode("alice:s3cret pass"));
    a.ok(&["push", "--authfile", &af, "busybox", &dest]);
    let b = Env::new();
    b.ok(&["pull", "--authfile", &af, &dest]);
    // --creds instead of a stored login; a wrong one is one line.
    let c = Env::new();
    c.ok(&["pull", "-q", "--creds", "alice:s3cret pass", &dest]);
    let o = c.fails(&["pull", "--creds", "alice:nope", &dest]);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // Podman reads the same file.
    if let Some(pm) = Podman::new("basic_auth_login_pull_push_logout") {
        pm.ok(&["pull", "-q", "--tls-verify=false", "--authfile", &af, &dest]);
        pm.finish();
    }
    assert_eq!(
        a.ok(&["logout", "--authfile", &af, &reg.addr]),
        format!("Removing login credentials for {}\n", reg.addr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).expect("read")).expect("json");
    assert!(doc["auths"].get(&reg.addr).is_none());
    let o = a.fails(&["logout", "--authfile", &af, &reg.addr]);
    assert!(o.stderr.contains("not logged in"), "{}", o.stderr);
    a.finish();
    b.finish();
    c.finish();
}

/// Run with `input` on stdin: (code, stdout, stderr).
fn feed(cmd: &mut Command, input: &str) -> (i32, String, String) {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key).
fn make_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=mydocker test CA",
            "-days",
            "2",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
        dir,
    );
    (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"))
}

#[test]
fn https_with_a_private_ca() {
    if !have("openssl") {
        eprintln!("SKIP https_with_a_private_ca: openssl is not installed");
        return;
    }
    let pki = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_ca(pki.path());
    let Some(reg) = Registry::start("https_with_a_private_ca", Some((&cert, &key)), "") else { return };
    let a = Env::new();
    with_busybox(&a);
    let dest = format!("{}/md/bb:1", reg.addr);
    // Unknown CA: refused over HTTPS; and --tls-verify=true forbids the HTTP fallback.
    let o = a.fails(&["push", "--tls-verify", "busybox", &dest]);
    assert!(o.stderr.to_ascii_lowercase().contains("certificate"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // Without --tls-verify the HTTP fallback of a local registry is tried too; the error is still the certificate.
    let o = a.fails(&["pull", &dest]);
    assert!(o.stderr.to_ascii_lowercase().contains("certificate"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // The CA in a cert dir (Docker's certs.d/HOST/ca.crt layout, given with --cert-dir).
    let certs = pki.path().join("certs.d");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::copy(&ca, certs.join("ca.crt")).expect("copy ca");
    let cd = certs.to_string_lossy().into_owned();
    a.ok(&["push", "--cert-dir", &cd, "--tls-verify", "busybox", &dest]);
    let b = Env::new();
    b.ok(&["pull", "--cert-dir", &cd, &dest]);
    assert_eq!(b.ok(&["run", "--rm", &dest, "echo", "tls"]), "tls\n");
    // Or no verification at all, as asked.
    let c = Env::new();
    c.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    a.finish();
    b.finish();
    c.finish();
}

// ---- Bearer tokens ----

/// A token server as Docker Hub's: GET /token?service=…&scope=… with Basic
/// credentials answers a JWT (RS256, the signing certificate in `x5c`) that
/// grants the scopes asked for. Counts the tokens it gave.
struct TokenServer {
    addr: String,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

fn jwt(dir: &Path, claims: &serde_json::Value) -> String {
    let pem = std::fs::read_to_string(dir.join("token.crt")).expect("cert");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [b64]});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json")),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("json"))
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(dir.join("token.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().expect("stdin").write_all(signing_input.as_bytes()).expect("write");
    let sig = child.wait_with_output().expect("sign");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.stdout))
}

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| {
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%'
                    && let Some(x) = v.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(x);
                    i += 3;
                    continue;
                }
                out.push(if b[i] == b'+' { b' ' } else { b[i] });
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

impl TokenServer {
    fn start(dir: PathBuf, user: &'static str, password: &'static str) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (i2, s2) = (issued.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut buf = vec![0u8; 16384];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = req.split_whitespace().nth(1).unwrap_or_default().to_string();
                let query = target.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
                let want = format!(
                    "authorization: basic {}",
                    STANDARD.encode(format!("{user}:{password}")).to_ascii_lowercase()
                );
                let authed = req.lines().any(|l| l.to_ascii_lowercase() == want);
                let (status, body) = if !authed {
                    ("401 Unauthorized", r#"{"details":"bad credentials"}"#.to_string())
                } else {
                    let access: Vec<serde_json::Value> = query_values(&query, "scope")
                        .iter()
                        .filter_map(|s| {
                            let parts: Vec<&str> = s.split(':').collect();
                            (parts.len() == 3).then(|| {
                                serde_json::json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()})
                            })
                        })
                        .collect();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .expect("time")
                        .as_secs();
                    let claims = serde_json::json!({
                        "iss": "mydocker-test-issuer", "sub": user, "aud": query_values(&query, "service").first().cloned().unwrap_or_default(),
                        "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{}", i2.load(Ordering::Relaxed)),
                        "access": access,
                    });
                    i2.fetch_add(1, Ordering::Relaxed);
                    (
                        "200 OK",
                        serde_json::json!({"token": jwt(&dir, &claims), "expires_in": 300}).to_string(),
                    )
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer { addr, issued, stop }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.addr);
    }
}

#[test]
fn bearer_tokens_from_a_token_server() {
    if !have("openssl") {
        eprintln!("SKIP bearer_tokens_from_a_token_server: openssl is not installed");
        return;
    }
    let pki = tempfile::tempdir().expect("tempdir");
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-subj",
            "/CN=token signer",
            "-days",
            "2",
        ],
        pki.path(),
    );
    let tokens = TokenServer::start(pki.path().to_path_buf(), "bob", "hunter2");
    let auth = format!(
        "auth:\n  token:\n    realm: http://{}/token\n    service: mydocker-test-registry\n    issuer: mydocker-test-issuer\n    rootcertbundle: {}\n",
        tokens.addr,
        pki.path().join("token.crt").display()
    );
    let Some(reg) = Registry::start("bearer_tokens_from_a_token_server", None, &auth) else { return };
    let a = Env::new();
    with_busybox(&a);
    let dest = format!("{}/md/bb:1", reg.addr);
    let o = a.fails(&["push", "busybox", &dest]);
    assert!(o.stderr.contains("token server") && o.stderr.contains("credentials"), "{}", o.stderr);
    let authfile = pki.path().join("auth.json");
    let af = authfile.to_string_lossy().into_owned();
    let mut login = a.command(&["login", "--authfile", &af, "-u", "bob", "--password-stdin", &reg.addr]);
    let o = feed(&mut login, "nope\n");
    assert_ne!(o.0, 0, "a bad password is refused by the token server: {}", o.2);
    let mut login = a.command(&["login", "--authfile", &af, "-u", "bob", "--password-stdin", &reg.addr]);
    let o = feed(&mut login, "hunter2\n");
    assert_eq!(o.0, 0, "{}", o.2);
    two_layer_image(&a, "app:1");
    a.ok(&["push", "--authfile", &af, "app:1", &dest]);
    // A second repository: the token for it grants pull on the first too, so layers are mounted.
    let out = a.ok(&["push", "--authfile", &af, "app:1", &format!("{}/md/copy:1", reg.addr)]);
    assert!(out.contains("Mounted from md/bb"), "{out}");
    let b = Env::new();
    b.ok(&["pull", "--authfile", &af, &dest]);
    assert_eq!(b.ok(&["run", "--rm", &dest, "cat", "/hello"]), "hello from layer two\n");
    assert!(tokens.issued.load(Ordering::Relaxed) >= 3, "tokens were used");
    a.finish();
    b.finish();
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let Some(reg) = Registry::plain("bad_input_is_one_line_and_changes_nothing") else { return };
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let cases: &[(&[&str], &str)] = &[
        (&["pull", "Bad/Name"], "invalid reference format \"Bad/Name\""),
        (&["pull", &format!("{}/md/none:1", reg.addr)], "manifest for"),
        (
            &["push", "nosuchimage", &format!("{}/x:1", reg.addr)],
            "An image does not exist locally with the tag: nosuchimage",
        ),
        (
            &["push", "busybox", &format!("{}/x@sha256:{}", reg.addr, "a".repeat(64))],
            "cannot push to a digest",
        ),
        (&["pull", "--creds", ":pw", &format!("{}/x:1", reg.addr)], "--creds"),
        (&["login", "-u", "u", "-p", "", &reg.addr], "password is empty"),
        (&["logout", "--authfile", "/nonexistent/x.json", &reg.addr], "not logged in"),
        (&["pull", "127.0.0.1:1/x:1"], "127.0.0.1:1: not reachable"),
    ];
    let before = env.ok(&["images"]);
    for (args, needle) in cases {
        let o = env.fails(args);
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.starts_with("WARNING!")).collect();
        assert_eq!(lines.len(), 1, "mydocker {args:?}: one line: {}", o.stderr);
        assert!(lines[0].contains(needle), "mydocker {args:?}: expected {needle:?} in {:?}", o.stderr);
    }
    assert_eq!(env.ok(&["images"]), before, "nothing changed");
    env.finish();
}

/// A pull killed while a layer streams in, or after the layers are stored
/// but before the image is recorded, leaves nothing the next pull (or
/// `image prune`) does not recognise and clean up.
#[test]
fn a_killed_pull_is_cleaned_up_by_the_next() {
    let Some(reg) = Registry::plain("a_killed_pull_is_cleaned_up_by_the_next") else { return };
    let a = Env::new();
    two_layer_image(&a, "app:1");
    let dest = format!("{}/md/app:1", reg.addr);
    a.ok(&["push", "-q", "app:1", &dest]);
    for point in ["pull:layer-started", "pull:layers-stored"] {
        let b = Env::new();
        let out = b.command(&["pull", &dest]).env("MYDOCKER_CRASH_AT", point).output().expect("pull");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(libc::SIGKILL),
            "{point}"
        );
        assert!(b.ok(&["images", "-q"]).is_empty(), "{point}: no image recorded");
        b.ok(&["pull", "-q", &dest]);
        let layers = dir_entries(&b.data.path().join("layers"));
        assert_eq!(layers.len(), 2, "{point}: no temp dir left beside the 2 layers: {layers:?}");
        assert_eq!(b.ok(&["run", "--rm", &dest, "cat", "/hello"]), "hello from layer two\n");
        b.ok(&["rmi", &dest]);
        b.ok(&["image", "prune"]);
        store_is_empty(&b);
        b.finish();
    }
    a.finish();
}

/// A script pulls as the commands do: `image::pull` is a primitive.
#[test]
fn a_user_script_pulls() {
    let Some(reg) = Registry::plain("a_user_script_pulls") else { return };
    let a = Env::new();
    with_busybox(&a);
    let dest = format!("{}/md/bb:1", reg.addr);
    a.ok(&["push", "-q", "busybox", &dest]);
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("fetch.rhai");
    std::fs::write(
        &script,
        format!(
            "let p = image::pull(\"{dest}\", #{{ quiet: true }});\n\
             print(`${{p.layers.len()}} ${{p.layers[0].downloaded}} ${{image::exists(\"{dest}\")}}`);\n"
        ),
    )
    .expect("script");
    let b = Env::new();
    assert_eq!(b.ok(&[&script.to_string_lossy()]), "1 true true\n");
    a.finish();
    b.finish();
}

/// On a terminal, a line per layer redrawn in place as it downloads.
#[test]
fn pull_shows_progress_on_a_terminal() {
    let Some(reg) = Registry::plain("pull_shows_progress_on_a_terminal") else { return };
    let a = Env::new();
    two_layer_image(&a, "app:1");
    let dest = format!("{}/md/app:1", reg.addr);
    a.ok(&["push", "-q", "app:1", &dest]);
    let b = Env::new();
    let (out, code) = common::through_pty(b.command(&["pull", &dest]), &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("Pull complete").count(), 2, "a line per layer: {out:?}");
    assert!(out.contains("\x1b[K"), "redrawn in place: {out:?}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {dest}")), "{out:?}");
    let (out, _) = common::through_pty(b.command(&["pull", "-q", &dest]), &[], Duration::from_secs(60));
    assert_eq!(out.trim(), dest, "-q: the name only");
    a.finish();
    b.finish();
}
