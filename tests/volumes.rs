//! Data: volumes, bind mounts, tmpfs, `cp` and `diff`, on real containers,
//! including a container that races its mounts and links planted for `cp`.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn volumes_dir(env: &Env) -> PathBuf {
    env.data.path().join("volumes")
}

/// Volume names left (hidden entries: the lock).
fn volume_names(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(volumes_dir(env))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| !n.starts_with('.'));
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn a_named_volume_outlives_its_containers_and_is_private() {
    let env = Env::new();
    env.ok(&["run", "--rm", "-v", "keep:/data", "sh", "-c", "echo written-by-one > /data/f"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "keep:/srv", "cat", "/srv/f"]), "written-by-one\n");
    assert_eq!(
        env.ok(&["run", "--rm", "--mount", "type=volume,src=keep,dst=/m", "cat", "/m/f"]),
        "written-by-one\n"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "keep\n");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "keep"])).expect("json");
    let mountpoint = v[0]["Mountpoint"].as_str().expect("Mountpoint");
    assert_eq!(
        std::fs::read_to_string(Path::new(mountpoint).join("f")).expect("on disk"),
        "written-by-one\n"
    );
    // As the data root: private parents, a private record.
    assert_eq!(mode(&volumes_dir(&env)), 0o700);
    assert_eq!(mode(&volumes_dir(&env).join("keep")), 0o700);
    assert_eq!(mode(&volumes_dir(&env).join("keep/volume.json")), 0o600);
    // Labels, and an existing name is no error (as Docker).
    env.ok(&["volume", "create", "--label", "tier=db", "labelled"]);
    env.ok(&["volume", "create", "labelled"]);
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", "labelled"])).expect("json");
    assert_eq!(v[0]["Labels"]["tier"], "db");
    env.ok(&["volume", "rm", "keep", "labelled"]);
    assert!(volume_names(&env).is_empty());
    let o = env.fails(&["volume", "rm", "keep"]);
    assert!(o.stderr.contains("no such volume: keep"), "{}", o.stderr);
    env.finish();
}

#[test]
fn a_read_only_bind_refuses_writes_and_a_rw_one_writes_the_host() {
    let env = Env::new();
    let host = tempfile::tempdir().expect("host dir");
    std::fs::write(host.path().join("f"), "host").expect("f");
    let bind = format!("{}:/data:ro", host.path().display());
    let o = env.run(&["run", "--rm", "-v", &bind, "sh", "-c", "echo x > /data/f"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    let o = env.run(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={},target=/d,readonly", host.path().display()),
        "touch",
        "/d/new",
    ]);
    assert_ne!(o.code, 0, "--mount readonly");
    assert_eq!(std::fs::read_to_string(host.path().join("f")).expect("f"), "host");
    assert!(!host.path().join("new").exists());
    env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data:rw,z", host.path().display()),
        "sh",
        "-c",
        "echo container > /data/g",
    ]);
    assert_eq!(std::fs::read_to_string(host.path().join("g")).expect("g"), "container\n");
    // A missing -v source is made (Docker's -v), and a file binds onto a file.
    let made = host.path().join("made/deep");
    env.ok(&["run", "--rm", "-v", &format!("{}:/m", made.display()), "touch", "/m/x"]);
    assert!(made.join("x").exists());
    // Relative to the current directory (Docker since 23.0).
    let rel = env
        .command(&["run", "--rm", "-v", "./f:/etc/rel:ro", "cat", "/etc/rel"])
        .current_dir(host.path())
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&rel.stdout), "host", "{}", String::from_utf8_lossy(&rel.stderr));
    let file_bind = format!("{}:/etc/motd:ro", host.path().join("f").display());
    assert_eq!(env.ok(&["run", "--rm", "-v", &file_bind, "cat", "/etc/motd"]), "host");
    env.finish();
}

#[test]
fn a_new_volume_is_filled_from_the_image_unless_nocopy() {
    let env = Env::new();
    let passwd = env.ok(&["run", "--rm", "cat", "/etc/passwd"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "etcvol:/etc", "cat", "/etc/passwd"]), passwd);
    let data = volumes_dir(&env).join("etcvol/_data");
    assert_eq!(std::fs::read_to_string(data.join("passwd")).expect("copied up"), passwd);
    // Once filled it is the volume's: a change stays, nothing is copied again.
    env.ok(&["run", "--rm", "-v", "etcvol:/etc", "sh", "-c", "echo changed > /etc/passwd"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "etcvol:/etc", "cat", "/etc/passwd"]), "changed\n");
    // volume-nocopy, and -v's nocopy: an empty volume.
    // (Only the mount points of the files bound over it.)
    let listed =
        env.ok(&["run", "--rm", "--mount", "type=volume,src=empty1,dst=/etc,volume-nocopy", "ls", "/etc"]);
    assert_eq!(listed, "hostname\nhosts\nresolv.conf\n");
    assert!(!volumes_dir(&env).join("empty1/_data/passwd").exists());
    env.ok(&["run", "--rm", "-v", "empty2:/etc:nocopy", "true"]);
    assert!(!volumes_dir(&env).join("empty2/_data/passwd").exists());
    env.ok(&["volume", "prune", "-a"]);
    assert!(volume_names(&env).is_empty());
    env.finish();
}

/// Four containers start at once on a volume that does not exist yet: one
/// volume is made, filled from the image once, and every one sees it whole.
#[test]
fn concurrent_first_uses_make_one_volume_filled_once() {
    let env = Env::new();
    let passwd = env.ok(&["run", "--rm", "cat", "/etc/passwd"]);
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.command(&["run", "--rm", "-v", "fresh:/etc", "cat", "/etc/passwd"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn run")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), passwd);
    }
    assert_eq!(volume_names(&env), ["fresh"]);
    let hidden: Vec<_> = std::fs::read_dir(volumes_dir(&env))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".new") || n.starts_with(".rm"))
        .collect();
    assert!(hidden.is_empty(), "half-made volumes left: {hidden:?}");
    env.ok(&["volume", "rm", "fresh"]);
    env.finish();
}

#[test]
fn tmpfs_size_is_enforced() {
    let env = Env::new();
    for flag in [vec!["--tmpfs", "/t:size=1m"], vec!["--mount", "type=tmpfs,dst=/t,tmpfs-size=1m"]] {
        let mut args = vec!["run", "--rm"];
        args.extend(&flag);
        args.extend(["sh", "-c", "dd if=/dev/zero of=/t/big bs=1k count=2048"]);
        let o = env.run(&args);
        assert_ne!(o.code, 0, "{flag:?}: 2 MiB fit in a 1 MiB tmpfs");
        assert!(o.stderr.contains("No space left"), "{flag:?}: {}", o.stderr);
    }
    let df = env.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=2m,mode=1777",
        "sh",
        "-c",
        "stat -c %a /t; df -k /t | tail -1",
    ]);
    assert!(df.starts_with("1777\n"), "{df}");
    assert_eq!(df.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)), Some("2048"), "{df}");
    // A propagation is set on the mount made, through its fd.
    let info =
        env.ok(&["run", "--rm", "--tmpfs", "/t:size=1m,rshared", "grep", " /t ", "/proc/self/mountinfo"]);
    assert!(info.contains("shared:") && info.contains("size=1024k"), "{info}");
    assert!(volume_names(&env).is_empty(), "a tmpfs is no volume");
    env.finish();
}

/// CVE-2021-30465: a container that shares a volume with the next one keeps
/// replacing the directory a mount goes into with a link to `/`. Resolved in
/// the root, the link leads to the new container's own `/`; the mount and
/// the directories made for it never land on the host.
#[test]
fn a_symlink_swap_race_never_mounts_outside_the_root() {
    let env = Env::new();
    let marker = tempfile::Builder::new().prefix("mdrace").tempdir().expect("marker dir");
    std::fs::write(marker.path().join("marker"), "host").expect("marker");
    let payload = tempfile::tempdir().expect("payload");
    std::fs::write(payload.path().join("payload"), "bound").expect("payload");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "swapper",
        "-v",
        "race:/data",
        "sh",
        "-c",
        "while :; do rm -rf /data/sub; mkdir -p /data/sub; rm -rf /data/sub; ln -s / /data/sub; done",
    ]);
    // The destination, through the link, would be the marker dir on the host.
    let dest = format!("/mnt/sub{}/newdir", marker.path().display());
    let bind = format!("{}:{dest}", payload.path().display());
    // At least 25 runs, and on until a few mounted (under a loaded suite the
    // swapper can win every one of the first 25), within a bound.
    let mut mounted = 0;
    let mut runs = 0;
    while runs < 25 || (mounted < 3 && runs < 300) {
        runs += 1;
        let o = env.run(&["run", "--rm", "-v", "race:/mnt", "-v", &bind, "cat", &format!("{dest}/payload")]);
        if o.code == 0 {
            assert_eq!(o.stdout, "bound");
            mounted += 1;
        }
        assert!(!marker.path().join("newdir").exists(), "a mount point was made on the host");
        assert_eq!(std::fs::read_to_string(marker.path().join("marker")).expect("marker"), "host");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&marker.path().display().to_string()), "mounted on the host's path");
    }
    assert!(mounted > 0, "no run of {runs} mounted at all: the test tests nothing");
    env.ok(&["rm", "-f", "swapper"]);
    env.ok(&["volume", "rm", "race"]);
    env.finish();
}

/// A crafted image whose mount destinations are links to host paths (an
/// absolute one and one that climbs with `..`): the mount points are made in
/// the container's layer, the mounts land there, the host paths stay empty.
#[test]
fn a_crafted_image_cannot_aim_mounts_at_the_host() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let host = tempfile::Builder::new().prefix("mdaim").tempdir().expect("host dir");
    let img = tempfile::tempdir().expect("img");
    let rootfs = img.path().join("rootfs");
    let st = std::process::Command::new("cp").arg("-a").arg(env.image_root("busybox")).arg(&rootfs).status();
    assert!(st.is_ok_and(|s| s.success()), "cp -a the busybox rootfs");
    std::os::unix::fs::symlink(host.path().join("abs"), rootfs.join("data")).expect("abs link");
    let climbing = format!("../../../../../../..{}/climb", host.path().display());
    std::os::unix::fs::symlink(&climbing, rootfs.join("logs")).expect("climbing link");
    let tarball = img.path().join("aim.tar");
    tar_dir(&rootfs, &tarball);
    env.ok(&["image", "import", tarball.to_str().expect("utf8"), "aim"]);
    let src = tempfile::tempdir().expect("src");
    std::fs::write(src.path().join("f"), "bound").expect("f");
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "aimvol:/data/sub",
        "-v",
        &format!("{}:/logs/x:ro", src.path().display()),
        "--tmpfs",
        "/data/t",
        "aim",
        "sh",
        "-c",
        "echo in-volume > /data/sub/v; cat /logs/x/f",
    ]);
    assert_eq!(out, "bound");
    let left: Vec<_> =
        std::fs::read_dir(host.path()).expect("host dir").flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "made on the host: {left:?}");
    assert_eq!(
        std::fs::read_to_string(volumes_dir(&env).join("aimvol/_data/v")).expect("in the volume"),
        "in-volume\n"
    );
    env.ok(&["volume", "rm", "aimvol"]);
    env.ok(&["rmi", "aim"]);
    env.finish();
}

#[test]
fn cp_of_a_link_to_etc_shadow_copies_the_containers_file() {
    let env = Env::new();
    env.ok(&[
        "run", "-d", "--name", "holder", "-v", "cpvol:/vol", "sh", "-c",
        "echo container-secret > /etc/shadow; ln -s /etc/shadow /link; ln -s / /up; echo in-volume > /vol/v; touch /ready; sleep 1000",
    ]);
    assert!(eventually(Duration::from_secs(10), || env
        .run(&["exec", "holder", "test", "-e", "/ready"])
        .code
        == 0));
    let out = tempfile::tempdir().expect("out");
    let o = |name: &str| out.path().join(name).display().to_string();
    let host_shadow = std::fs::read("/etc/shadow").ok();
    // Without -L the link itself; with -L the container's file it names.
    env.ok(&["cp", "holder:/link", &o("link")]);
    assert_eq!(std::fs::read_link(out.path().join("link")).expect("a link"), Path::new("/etc/shadow"));
    env.ok(&["cp", "-L", "holder:/link", &o("followed")]);
    assert_eq!(std::fs::read_to_string(out.path().join("followed")).expect("read"), "container-secret\n");
    // Through a link to "/" in the path: still the container's root.
    env.ok(&["cp", "holder:/up/etc/shadow", &o("through")]);
    assert_eq!(std::fs::read_to_string(out.path().join("through")).expect("read"), "container-secret\n");
    assert_eq!(std::fs::read("/etc/shadow").ok(), host_shadow, "the host's shadow is untouched");
    // Through its volume; and in, through the link to "/", lands in the container.
    env.ok(&["cp", "holder:/vol/v", &o("v")]);
    assert_eq!(std::fs::read_to_string(out.path().join("v")).expect("read"), "in-volume\n");
    let src = out.path().join("hostfile");
    std::fs::write(&src, "from-host").expect("src");
    let tmp_name = format!("/tmp/{}", out.path().file_name().and_then(|n| n.to_str()).expect("name"));
    env.ok(&["exec", "holder", "mkdir", "-p", &tmp_name]);
    // The container's /tmp/NAME has the host's twin (this test's out dir): nothing lands there.
    env.ok(&["cp", &src.display().to_string(), &format!("holder:/up{tmp_name}/landed")]);
    assert_eq!(env.ok(&["exec", "holder", "cat", &format!("{tmp_name}/landed")]), "from-host");
    assert!(!out.path().join("landed").exists(), "cp wrote through the container's link onto the host");
    // A tree, and a tar on stdout.
    env.ok(&[
        "exec",
        "holder",
        "sh",
        "-c",
        "mkdir -p /tree/a/b && echo deep > /tree/a/b/f && ln -s /etc/shadow /tree/l",
    ]);
    env.ok(&["cp", "holder:/tree", &o("")]);
    assert_eq!(std::fs::read_to_string(out.path().join("tree/a/b/f")).expect("tree"), "deep\n");
    assert!(std::fs::symlink_metadata(out.path().join("tree/l")).expect("l").file_type().is_symlink());
    let tar = env.command(&["cp", "holder:/tree", "-"]).output().expect("cp -");
    assert!(tar.status.success());
    let mut listing = std::process::Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tar -t");
    use std::io::Write;
    listing.stdin.take().expect("stdin").write_all(&tar.stdout).expect("feed tar");
    let names = String::from_utf8(listing.wait_with_output().expect("tar").stdout).expect("utf8");
    assert!(names.contains("tree/a/b/f") && names.contains("tree/l"), "{names}");
    // A tar on stdin, unpacked into a directory of the container (entries with `..` refused).
    let mut feed =
        env.command(&["cp", "-", "holder:/tmp"]).stdin(std::process::Stdio::piped()).spawn().expect("cp -");
    feed.stdin.take().expect("stdin").write_all(&tar.stdout).expect("feed");
    assert!(feed.wait().expect("cp -").success());
    assert_eq!(env.ok(&["exec", "holder", "cat", "/tmp/tree/a/b/f"]), "deep\n");
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..b"../../../escape".len()].copy_from_slice(b"../../../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    evil.append(&h, &b"x"[..]).expect("entry");
    let evil = evil.into_inner().expect("tar");
    let mut feed = env
        .command(&["cp", "-", "holder:/tmp"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cp -");
    feed.stdin.take().expect("stdin").write_all(&evil).expect("feed");
    let o3 = feed.wait_with_output().expect("cp -");
    assert!(
        !o3.status.success() && String::from_utf8_lossy(&o3.stderr).contains("climbs out"),
        "{}",
        String::from_utf8_lossy(&o3.stderr)
    );
    assert_ne!(env.run(&["exec", "holder", "test", "-e", "/escape"]).code, 0);
    // Out onto the host: no setuid bit, no device node (a host user would get a root shell, a disk).
    env.ok(&["exec", "holder", "sh", "-c", "cp /bin/busybox /suid && chmod 4755 /suid && mknod /disk b 8 0"]);
    env.ok(&["cp", "holder:/suid", &o("suid")]);
    assert_eq!(mode(&out.path().join("suid")), 0o755);
    let e = env.fails(&["cp", "holder:/disk", &o("disk")]);
    assert!(
        e.stderr.contains("not copied out of a container") && e.stderr.lines().count() == 1,
        "{}",
        e.stderr
    );
    assert!(!out.path().join("disk").exists());
    // Stopped: its layer and volume mounted for cp alone, nothing left mounted.
    env.ok(&["stop", "-t", "1", "holder"]);
    env.ok(&["cp", "-L", "holder:/link", &o("stopped")]);
    assert_eq!(std::fs::read_to_string(out.path().join("stopped")).expect("read"), "container-secret\n");
    env.ok(&["cp", "holder:/vol/v", &o("stopped-v")]);
    assert_eq!(std::fs::read_to_string(out.path().join("stopped-v")).expect("read"), "in-volume\n");
    env.ok(&["cp", &src.display().to_string(), "holder:/vol/"]);
    assert_eq!(
        std::fs::read_to_string(volumes_dir(&env).join("cpvol/_data/hostfile")).expect("in volume"),
        "from-host"
    );
    let o2 = env.fails(&["cp", "holder:/nothere", &o("x")]);
    assert_eq!(o2.stderr.lines().count(), 1, "{}", o2.stderr);
    env.ok(&["rm", "-v", "holder"]);
    env.ok(&["volume", "rm", "cpvol"]);
    env.finish();
}

/// While `cp` writes into it, the container keeps replacing the file being
/// copied with a link to a host path: the mode and owner `cp -a` sets must
/// land on what cp made, never on the host file the link names.
#[test]
fn cp_into_a_container_racing_links_never_touches_the_host() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("marker");
    std::fs::write(&marker, "host").expect("marker");
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let src = dir.path().join("payload");
    // Large enough that the copy takes the container loop a few turns: the window is open meanwhile.
    std::fs::write(&src, vec![b'x'; 16 << 20]).expect("payload");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o4777)).expect("chmod");
    let swap = format!(
        "mkdir -p /dest; while :; do rm -f /dest/payload; ln -s {} /dest/payload; done",
        marker.display()
    );
    env.ok(&["run", "-d", "--name", "racer", "sh", "-c", &swap]);
    for _ in 0..30 {
        let _ = env.run(&["cp", "-a", &src.display().to_string(), "racer:/dest/"]);
        assert_eq!(mode(&marker), 0o600, "cp changed the mode of the host file a container link names");
        assert_eq!(std::fs::read_to_string(&marker).expect("marker"), "host");
    }
    env.ok(&["rm", "-f", "racer"]);
    env.finish();
}

#[test]
fn rm_v_and_rm_and_prune_leave_no_volume_behind() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "c1", "-v", "/anon", "-v", "named:/n", "sleep", "1000"]);
    assert_eq!(volume_names(&env).len(), 2);
    let o = env.fails(&["volume", "rm", "named"]);
    assert!(o.stderr.contains("in use by container c1"), "{}", o.stderr);
    assert_eq!(env.ok(&["ps", "-q", "--filter", "volume=named"]).trim().len(), 12);
    assert_eq!(env.ok(&["ps", "-q", "--filter", "volume=/anon"]).trim().len(), 12);
    assert_eq!(env.ok(&["ps", "-q", "--filter", "volume=other"]), "");
    assert!(env.fails(&["ps", "--filter", "colour=red"]).stderr.contains("unknown key \"colour\""));
    env.ok(&["rm", "-f", "-v", "c1"]);
    assert_eq!(volume_names(&env), ["named"], "rm -v takes the anonymous volume only");
    // --rm takes its anonymous volumes; plain rm leaves them to prune.
    env.ok(&["run", "--rm", "-v", "/a1", "true"]);
    env.ok(&["run", "-d", "--rm", "--name", "d1", "-v", "/a2", "true"]);
    assert!(eventually(Duration::from_secs(10), || !env.root().join("d1").exists()));
    assert!(
        eventually(Duration::from_secs(5), || volume_names(&env) == ["named"]),
        "{:?}",
        volume_names(&env)
    );
    env.ok(&["run", "--name", "c2", "-v", "/a3", "true"]);
    env.ok(&["rm", "c2"]);
    assert_eq!(volume_names(&env).len(), 2);
    env.ok(&["volume", "prune"]);
    assert_eq!(volume_names(&env), ["named"], "prune takes anonymous ones");
    env.ok(&["volume", "prune", "-a"]);
    assert!(volume_names(&env).is_empty());
    let left: Vec<_> =
        std::fs::read_dir(volumes_dir(&env)).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from(".lock")], "no directory left behind");
    env.finish();
}

#[test]
fn image_volumes_and_volumes_from() {
    let env = Env::new();
    env.ok(&["run", "--name", "base", "mkdir", "-p", "/data/seed"]);
    env.ok(&["commit", "-c", "VOLUME /data", "base", "withvol"]);
    env.ok(&["rm", "base"]);
    // The image's VOLUME is an anonymous volume, filled from the image.
    env.ok(&["run", "-d", "--name", "owner", "withvol", "sh", "-c", "echo shared > /data/x; sleep 1000"]);
    assert_eq!(volume_names(&env).len(), 1);
    let rec = env.record("owner");
    assert_eq!(rec["mounts"][0]["Destination"], "/data");
    assert_eq!(rec["mounts"][0]["Anonymous"], true);
    assert!(eventually(Duration::from_secs(10), || env
        .run(&["exec", "owner", "test", "-e", "/data/x"])
        .code
        == 0));
    assert_eq!(env.ok(&["run", "--rm", "--volumes-from", "owner", "ls", "/data"]), "seed\nx\n");
    let o = env.run(&["run", "--rm", "--volumes-from", "owner:ro", "touch", "/data/y"]);
    assert_ne!(o.code, 0, "--volumes-from :ro");
    assert_eq!(volume_names(&env).len(), 1, "the shared volume is the owner's, not theirs");
    env.ok(&["rm", "-f", "-v", "owner"]);
    assert!(volume_names(&env).is_empty());
    env.ok(&["rmi", "withvol"]);
    env.finish();
}

#[test]
fn bad_mount_input_is_one_line_and_creates_nothing() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let missing = "/nonexistent-mydocker-source";
    for (flag, value, want) in [
        ("-v", "a:b:c:d", "a:b:c:d"),
        ("-v", "vol:relative", "not an absolute path"),
        ("-v", "/tmp:/x:bogus", "unknown option \"bogus\""),
        ("-v", "x:/y", "invalid volume name"),
        ("-v", "bad/name:/y", "invalid volume name"),
        ("-v", "/tmp:/", "cannot mount over /"),
        ("--mount", "type=bind,source=/tmp,target=/x,colour=red", "unknown key \"colour\""),
        ("--mount", &format!("type=bind,source={missing},target=/x"), missing),
        ("--mount", "type=bind,target=/x", "needs a source"),
        ("--mount", "type=nfs,target=/x", "unknown type \"nfs\""),
        ("--mount", "type=volume,src=v,dst=/x,tmpfs-size=1m", "tmpfs-size does not apply"),
        ("--mount", "type=tmpfs,dst=/x,tmpfs-size=lots", "tmpfs-size"),
        ("--mount", "type=bind,source=/tmp,target=/x,bind-propagation=sideways", "sideways"),
        ("--tmpfs", "relative", "not an absolute path"),
        ("--tmpfs", "/t:colour=red", "unknown option \"colour=red\""),
        ("--volumes-from", "nosuch", "nosuch"),
    ] {
        let o = env.fails(&["run", "--rm", flag, value, "true"]);
        assert_eq!(o.code, 125, "{flag} {value}");
        assert_eq!(o.stderr.lines().count(), 1, "{flag} {value}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{flag} {value}: {}", o.stderr);
    }
    let o = env.fails(&["run", "--rm", "-v", "/tmp:/x", "--tmpfs", "/x", "true"]);
    assert!(o.stderr.contains("duplicate mount point: /x"), "{}", o.stderr);
    assert!(!Path::new(missing).exists());
    assert!(volume_names(&env).is_empty(), "a volume was made: {:?}", volume_names(&env));
    assert!(env.container_dirs().is_empty(), "a container was made");
    let o = env.fails(&["volume", "create", "--opt", "type=tmpfs", "v1"]);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("device= is missing"), "{}", o.stderr);
    let o = env.fails(&["volume", "create", "--opt", "size=1m", "v1"]);
    assert!(o.stderr.contains("\"size\" is not one of the local driver's"), "{}", o.stderr);
    let o = env.fails(&["volume", "create", "-"]);
    assert!(o.stderr.contains("invalid volume name"), "{}", o.stderr);
    assert!(volume_names(&env).is_empty());
    env.finish();
}

/// The local driver's options, as Docker's: a tmpfs of a given size, and a
/// bind of a host directory, mounted on the volume at its first use and
/// unmounted by `volume rm`, which leaves the bind's source untouched.
#[test]
fn driver_options_mount_a_filesystem_on_the_volume() {
    let env = Env::new();
    env.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m,mode=0777",
        "small",
    ]);
    env.ok(&["run", "--rm", "-v", "small:/s", "sh", "-c", "echo kept > /s/f"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "small:/s", "cat", "/s/f"]), "kept\n");
    let o = env.run(&["run", "--rm", "-v", "small:/s", "sh", "-c", "head -c 2000000 /dev/zero > /s/big"]);
    assert_ne!(o.code, 0, "a 2 MB write fits no 1 MiB tmpfs: {}", o.stderr);
    let size: u64 = env
        .ok(&["run", "--rm", "-v", "small:/s", "sh", "-c", "wc -c < /s/big"])
        .trim()
        .parse()
        .expect("size");
    assert!(size <= 1 << 20, "the tmpfs's size held: {size}");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "small"])).expect("json");
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    let mountpoint = v[0]["Mountpoint"].as_str().expect("Mountpoint").to_string();
    let mounted = |p: &str| {
        std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo").contains(&format!(" {p} "))
    };
    assert!(mounted(&mountpoint), "mounted on the host while it lives");

    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("from-host"), "hello\n").expect("write");
    let dev = format!("device={}", host.path().display());
    env.ok(&["volume", "create", "--opt", "type=none", "--opt", &dev, "--opt", "o=bind,ro", "hostdir"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "hostdir:/h", "cat", "/h/from-host"]), "hello\n");
    let o = env.run(&["run", "--rm", "-v", "hostdir:/h", "touch", "/h/x"]);
    assert_ne!(o.code, 0, "o=ro binds read-only");

    env.ok(&["volume", "rm", "small", "hostdir"]);
    assert!(!mounted(&mountpoint), "unmounted by volume rm");
    assert_eq!(std::fs::read_to_string(host.path().join("from-host")).expect("source kept"), "hello\n");
    assert!(volume_names(&env).is_empty());
    env.finish();
}

#[test]
fn diff_shows_what_the_container_changed() {
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "d",
        "-v",
        "/vol",
        "--tmpfs",
        "/scratch",
        "sh",
        "-c",
        "echo new > /added; echo more >> /etc/passwd; rm /etc/group; mkdir -p /made/sub; echo v > /vol/f",
    ]);
    let out = env.ok(&["diff", "d"]);
    assert_eq!(out, "A /added\nC /etc\nD /etc/group\nC /etc/passwd\nA /made\nA /made/sub\n", "{out}");
    env.ok(&["rm", "-v", "d"]);
    assert!(env.fails(&["diff", "d"]).stderr.contains("no such container"));
    env.finish();
}

/// A user script composes the spec: one more bind mount before `container::create`.
#[test]
fn a_script_adds_a_bind_mount_to_the_spec() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("f"), "from-the-script").expect("f");
    let script = dir.path().join("bindrun.rhai");
    std::fs::write(
        &script,
        r#"
import "spec" as spec;
import "volumes" as volumes;
import "containers" as containers;
let id = sys::new_id();
let name = ARGS[0];
let r = #{ id: id, name: name, status: "Created", image: "busybox", image_id: image::id_of("busybox"),
           command: ["cat", "/data/f"], env: ["PATH=/bin"], workdir: "/", hostname: "s", limits: #{},
           cgroup: `mydocker/${id}`, created: sys::now(), detached: false, auto_remove: false };
state::create(r);
let layer = rootfs::mount_overlay(id, image::layers("busybox"));
cgroup::create(r.cgroup, cgroup::resources(r.limits));
let s = spec::build(r, layer.merged, false);
s.mounts.push(volumes::bind(ARGS[1], "/data", true));
let c = container::create(s, #{ id: id, bundle: state::dir(name), cgroup: r.cgroup, stdin: false });
container::start(c);
let code = container::wait(c);
containers::cleanup(state::load(name));
exit(code);
"#,
    )
    .expect("script");
    let out = env.ok(&[&script.display().to_string(), "scripted", &dir.path().display().to_string()]);
    assert_eq!(out, "from-the-script");
    env.finish();
}
