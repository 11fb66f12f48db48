//! Images made by the real tools and run by mydocker: a base from `podman
//! import`, layers from `podman run` + `commit` that delete a file, replace a
//! directory, turn a file into a directory, add a hardlink, an absolute
//! symlink, a setuid file, a device node, a FIFO and xattrs; saved as
//! docker-archive and oci-archive by Podman and as an OCI layout with zstd
//! layers by skopeo. Each is loaded by mydocker and its mounted root compared
//! entry by entry with `podman export` of the same image.

mod common;
#[path = "common/peers.rs"]
mod peers;

use common::Env;
use peers::{Podman, have};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// What is compared of an entry: type, mode, owner, size, link target, xattrs.
#[derive(Debug, PartialEq, Clone)]
struct Entry {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    link: String,
    xattrs: BTreeMap<String, Vec<u8>>,
    /// Another path of the same file (hardlinks), for the tar side's links.
    same_as: Option<String>,
}

/// Paths the runtime (either one) puts there, not the image.
fn runtime_path(p: &str) -> bool {
    let top = p.split('/').next().unwrap_or("");
    matches!(top, "proc" | "sys" | "dev" | "run")
        || matches!(p, "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "etc/mtab" | ".containerenv")
}

/// The entries of `podman export`'s tar (paths without a leading `./` or `/`).
fn tar_entries(tarball: &Path) -> BTreeMap<String, Entry> {
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    let f = std::fs::File::open(tarball).expect("export tar");
    let mut a = tar::Archive::new(f);
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || runtime_path(&path) {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            t => panic!("unexpected entry type {t:?} for {path}"),
        };
        let link = h.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let mut xattrs = BTreeMap::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for x in exts.flatten() {
                if let Some(name) = x.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.insert(name.to_string(), x.value_bytes().to_vec());
                }
            }
        }
        let mut entry = Entry {
            kind,
            mode: h.mode().expect("mode") & 0o7777,
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            size: if kind == 'f' { h.size().expect("size") } else { 0 },
            link: link.clone(),
            xattrs,
            same_as: None,
        };
        if kind == 'h' {
            // A hardlink is the file it names.
            let target = link.trim_start_matches("./").trim_start_matches('/').to_string();
            let mut t: Entry =
                out.get(&target).cloned().unwrap_or_else(|| panic!("{path}: link to unknown {target}"));
            t.same_as = Some(target);
            entry = t;
        }
        let mut sink = Vec::new();
        let _ = e.read_to_end(&mut sink);
        if kind == 'l' || kind == 'd' {
            entry.mode = if kind == 'l' { 0 } else { entry.mode };
        }
        out.insert(path, entry);
    }
    normalize_links(out)
}

/// Hardlinks as groups: every member names the group's smallest path (the
/// tar says "this is that", a tree walk finds them in any order).
fn normalize_links(mut m: BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, e) in &m {
        if let Some(t) = &e.same_as {
            groups.entry(t.clone()).or_default().push(p.clone());
        }
    }
    for (first, mut members) in groups {
        members.push(first);
        members.sort();
        let root = members[0].clone();
        for p in &members {
            if let Some(e) = m.get_mut(p) {
                e.same_as = Some(root.clone());
            }
        }
    }
    m
}

fn xattrs_of(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    let mut names = vec![0u8; 4096];
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let key = String::from_utf8_lossy(name).into_owned();
        if key.starts_with("trusted.") || key.starts_with("security.selinux") {
            continue;
        }
        let cn = std::ffi::CString::new(name).expect("name");
        let mut v = vec![0u8; 4096];
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        if m >= 0 {
            v.truncate(m as usize);
            out.insert(key, v);
        }
    }
    out
}

/// The same entries read from a mounted root (a container's /proc/PID/root).
fn tree_entries(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if runtime_path(&path) {
                continue;
            }
            let full = root.join(&path);
            let m = std::fs::symlink_metadata(&full).expect("lstat");
            let ft = m.file_type();
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_dir() {
                'd'
            } else if ft.is_symlink() {
                'l'
            } else if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else if ft.is_fifo() {
                'p'
            } else {
                'f'
            };
            let link = if kind == 'l' {
                std::fs::read_link(&full).expect("readlink").to_string_lossy().into_owned()
            } else {
                String::new()
            };
            let mut entry = Entry {
                kind,
                mode: if kind == 'l' { 0 } else { m.mode() & 0o7777 },
                uid: m.uid() as u64,
                gid: m.gid() as u64,
                size: if kind == 'f' { m.size() } else { 0 },
                link,
                xattrs: if kind == 'l' { BTreeMap::new() } else { xattrs_of(&full) },
                same_as: None,
            };
            if kind == 'f' && m.nlink() > 1 {
                let key = (m.dev(), m.ino());
                if let Some(first) = inodes.get(&key) {
                    entry.same_as = Some(first.clone());
                } else {
                    inodes.insert(key, path.clone());
                }
            }
            if kind == 'd' {
                stack.push(path.clone());
            }
            out.insert(path, entry);
        }
    }
    normalize_links(out)
}

/// Build the fixture image `localhost/fixture:3` in `pm`: three layers over the base.
fn build_fixture(pm: &Podman) {
    let steps = [
        (
            "localhost/busybox",
            "rm /bin/ls; mkdir -p /data/dir; echo a > /data/dir/a; echo keep > /data/dir/keep; echo f > /data/f",
            "localhost/fixture:1",
        ),
        (
            "localhost/fixture:1",
            "rm -rf /data/dir; mkdir /data/dir; echo b > /data/dir/b; rm /data/f; mkdir /data/f; echo in > /data/f/in",
            "localhost/fixture:2",
        ),
        (
            "localhost/fixture:2",
            "ln /data/dir/b /data/hard; ln -s /etc/passwd /data/abs; cp /bin/busybox /data/suid; chown 1000:1000 /data/suid; chmod 4755 /data/suid; \
             mknod /data/null c 1 3; mkfifo /data/fifo; echo x > /data/x",
            "localhost/fixture:3",
        ),
    ];
    for (i, (from, script, to)) in steps.iter().enumerate() {
        let name = format!("fx{i}");
        pm.ok(&pm.run_args(&["--name", &name, from, "sh", "-c", script]));
        if i == 2 {
            // xattrs, set from the host through Podman's mount of the container.
            let mnt = pm.ok(&["mount", &name]).trim().to_string();
            for (file, key) in [("data/x", "user.color"), ("data/dir/b", "user.note")] {
                let p = std::ffi::CString::new(format!("{mnt}/{file}")).expect("path");
                let k = std::ffi::CString::new(key).expect("key");
                let r = unsafe { libc::lsetxattr(p.as_ptr(), k.as_ptr(), b"blue".as_ptr().cast(), 4, 0) };
                assert_eq!(r, 0, "setxattr {file}");
            }
            pm.ok(&["umount", &name]);
        }
        pm.ok(&["commit", "-q", &name, to]);
        pm.ok(&["rm", &name]);
    }
}

#[test]
fn images_saved_by_podman_and_skopeo_load_and_run_as_podman_sees_them() {
    let Some(pm) = Podman::new("images_saved_by_podman_and_skopeo_load_and_run_as_podman_sees_them") else {
        return;
    };
    if !have("skopeo") {
        eprintln!("SKIP: skopeo is not installed");
        return;
    }
    build_fixture(&pm);
    let dir = pm.dir.path();
    let export = dir.join("export.tar");
    pm.ok(&["create", "--name", "exp", "localhost/fixture:3", "true"]);
    pm.ok(&["export", "-o", export.to_str().expect("utf8"), "exp"]);
    pm.ok(&["rm", "exp"]);
    let want = tar_entries(&export);
    assert!(
        !want.contains_key("bin/ls") && want.contains_key("data/dir/b") && !want.contains_key("data/dir/a")
    );
    assert_eq!(want.get("data/f").map(|e| e.kind), Some('d'));

    let da = dir.join("da.tar");
    let oa = dir.join("oa.tar");
    let layout = dir.join("layout");
    pm.ok(&["save", "--format", "docker-archive", "-o", da.to_str().expect("utf8"), "localhost/fixture:3"]);
    pm.ok(&["save", "--format", "oci-archive", "-o", oa.to_str().expect("utf8"), "localhost/fixture:3"]);
    let st = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-compress", "--dest-compress-format", "zstd"])
        .arg(format!("docker-archive:{}", da.display()))
        .arg(format!("oci:{}:fixture:3", layout.display()))
        .status()
        .expect("skopeo");
    assert!(st.success(), "skopeo copy");

    let env = Env::new();
    for (what, source) in
        [("docker-archive", &da), ("oci-archive", &oa), ("skopeo OCI layout, zstd", &layout)]
    {
        let out = env.ok(&["load", "-i", source.to_str().expect("utf8")]);
        // skopeo's layout names it `fixture:3`, which is docker.io/library/fixture:3.
        let name = out.lines().find_map(|l| l.strip_prefix("Loaded image: ")).unwrap_or("").to_string();
        assert!(name.ends_with("fixture:3"), "{what}: load says what it loaded: {out}");
        if what == "oci-archive" {
            // name@sha256:<manifest digest> names the image loaded from that manifest.
            let o = Command::new("skopeo")
                .args(["inspect", "--format", "{{.Digest}}"])
                .arg(format!("oci-archive:{}", source.display()))
                .output()
                .expect("skopeo inspect");
            let digest = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert!(digest.starts_with("sha256:"), "{}", String::from_utf8_lossy(&o.stderr));
            let by_digest = format!("localhost/fixture@{digest}");
            assert_eq!(env.ok(&["run", "--rm", &by_digest, "cat", "/data/x"]), "x\n", "{by_digest}");
        }
        let id = env.ok(&["run", "-d", "--name", "fx", &name, "sleep", "100"]);
        let pid = env.record("fx")["pid"].as_i64().expect("pid");
        let got = tree_entries(Path::new(&format!("/proc/{pid}/root")));
        for (path, w) in &want {
            match got.get(path) {
                Some(g) => assert_eq!(g, w, "{what}: {path}"),
                None => panic!("{what}: {path} is missing"),
            }
        }
        for path in got.keys() {
            assert!(want.contains_key(path), "{what}: {path} is not in the image");
        }
        env.ok(&["rm", "-f", id.trim()]);
        env.ok(&["image", "rm", &name]);
    }

    // A truncated archive, or an image archive given to `image import`: refused, nothing left.
    let bytes = std::fs::read(&da).expect("read da");
    let cut = dir.join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write cut");
    let o = env.fails(&["load", "-i", cut.to_str().expect("utf8")]);
    assert!(o.stderr.contains("cut.tar"), "names the archive: {}", o.stderr);
    let o = env.fails(&["image", "import", da.to_str().expect("utf8"), "wrong"]);
    assert!(o.stderr.contains("is an image archive") && o.stderr.contains("mydocker load"), "{}", o.stderr);
    let layers = |env: &Env| {
        std::fs::read_dir(env.data.path().join("layers"))
            .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count())
            .unwrap_or(0)
    };
    let base_layers = layers(&env);
    assert!(
        !env.ok(&["images"]).contains("fixture") && !env.ok(&["images"]).contains("wrong"),
        "nothing loaded"
    );

    // Out again: load, commit a change, save; Podman loads and runs it.
    env.ok(&["load", "-q", "-i", da.to_str().expect("utf8")]);
    env.ok(&["run", "--name", "ch", "localhost/fixture:3", "sh", "-c", "rm /data/x; echo new > /data/new"]);
    env.ok(&["commit", "-c", "CMD [\"cat\", \"/data/new\"]", "-m", "a change", "ch", "localhost/changed:1"]);
    assert!(env.ok(&["history", "localhost/changed:1"]).contains("a change"));
    let saved = dir.join("saved.tar");
    env.ok(&["save", "-o", saved.to_str().expect("utf8"), "localhost/changed:1"]);
    pm.ok(&["load", "-q", "-i", saved.to_str().expect("utf8")]);
    assert_eq!(
        pm.ok(&pm.run_args(&["--rm", "localhost/changed:1"])),
        "new\n",
        "Podman runs mydocker's image with its Cmd"
    );
    assert_eq!(
        pm.ok(&pm.run_args(&["--rm", "localhost/changed:1", "sh", "-c", "test -e /data/x || echo gone"])),
        "gone\n",
        "the whiteout holds"
    );
    let o = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", saved.display()))
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "skopeo reads mydocker's archive: {}", String::from_utf8_lossy(&o.stderr));
    env.ok(&["rm", "ch"]);
    env.ok(&["rmi", "localhost/changed:1", "localhost/fixture:3"]);
    assert_eq!(layers(&env), base_layers, "rmi frees the layers nothing else uses");
    env.finish();
    pm.finish();
}

/// The image's config applies as Docker applies it: Entrypoint + Cmd, a
/// command replaces Cmd, --entrypoint replaces the Entrypoint, Env (with -e
/// over it), WorkingDir, User, and StopSignal for `stop`.
#[test]
fn the_image_config_applies_to_run() {
    let Some(pm) = Podman::new("the_image_config_applies_to_run") else { return };
    pm.ok(&pm.run_args(&["--name", "cfg", "localhost/busybox", "sh", "-c", "mkdir -p /work; adduser -D -u 1234 app 2>/dev/null || echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd"]));
    pm.ok(&[
        "commit",
        "-q",
        "--change",
        "ENTRYPOINT [\"/bin/echo\", \"ep\"]",
        "--change",
        "CMD [\"from-cmd\"]",
        "--change",
        "ENV GREETING=hello",
        "--change",
        "WORKDIR /work",
        "--change",
        "USER 1234",
        "--change",
        "STOPSIGNAL SIGUSR1",
        "cfg",
        "localhost/cfg:1",
    ]);
    pm.ok(&["rm", "cfg"]);
    let archive = pm.dir.path().join("cfg.tar");
    pm.ok(&["save", "-o", archive.to_str().expect("utf8"), "localhost/cfg:1"]);
    let env = Env::new();
    env.ok(&["load", "-q", "-i", archive.to_str().expect("utf8")]);
    assert_eq!(env.ok(&["run", "--rm", "localhost/cfg:1"]), "ep from-cmd\n", "Entrypoint + Cmd");
    assert_eq!(env.ok(&["run", "--rm", "localhost/cfg:1", "mine"]), "ep mine\n", "a command replaces Cmd");
    let out = env.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        "localhost/cfg:1",
        "-c",
        "echo $GREETING $OTHER; pwd; id -u",
    ]);
    assert_eq!(out, "hello\n/work\n1234\n", "--entrypoint; Env, WorkingDir, User");
    let out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=bye",
        "-w",
        "/",
        "-u",
        "0",
        "--entrypoint",
        "",
        "localhost/cfg:1",
        "sh",
        "-c",
        "echo $GREETING; pwd; id -u",
    ]);
    assert_eq!(out, "bye\n/\n0\n", "-e, -w, -u override the image");
    // stop sends the image's StopSignal: a trap on USR1 exits 42.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--entrypoint",
        "/bin/sh",
        "localhost/cfg:1",
        "-c",
        "trap 'exit 42' USR1; while :; do sleep 0.1; done",
    ]);
    env.ok(&["stop", "-t", "5", "sig"]);
    assert_eq!(env.record("sig")["exit_code"], 42, "stopped by SIGUSR1");
    env.ok(&["rm", "sig"]);
    env.finish();
    pm.finish();
}
