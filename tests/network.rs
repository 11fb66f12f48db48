//! Networking, only ever inside a network namespace each test makes: the
//! test's thread unshares one (a thread's namespace is its own), so every
//! mydocker it starts, the bridges, veths, NAT table and sysctls live there
//! and the host's network is never touched. Private test subnets, loopback.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

/// Run `f` on a new thread in a new network namespace with lo up.
fn in_netns(f: impl FnOnce() + Send + 'static) {
    let t = std::thread::spawn(move || {
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        sh("ip link set lo up");
        f();
    });
    if let Err(e) = t.join() {
        std::panic::resume_unwind(e);
    }
}

/// A shell command in the test's namespace; its stdout.
fn sh(cmd: &str) -> String {
    let o = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What networking leaves behind: links, addresses, routes, nft rules, sysctls.
fn snapshot() -> String {
    // Carrier comes and goes with a bridge's ports: not a leftover.
    let mut s = sh("ip -o link | sed 's/^[0-9]*: //' | cut -d' ' -f1,2; ip -o addr; ip route; ip neigh show nud permanent; nft list ruleset")
        .replace("NO-CARRIER,", "")
        .replace(" linkdown", "");
    for f in ["net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/ipv4/conf/lo/route_localnet"] {
        s += &format!("{f}={}", std::fs::read_to_string(format!("/proc/sys/{f}")).unwrap_or_default());
    }
    s
}

fn leases(env: &Env) -> Vec<String> {
    let dir = env.data.path().join("networks");
    let mut out = Vec::new();
    for n in std::fs::read_dir(&dir).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default() {
        for l in std::fs::read_dir(n.path().join("leases"))
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            out.push(l.path().display().to_string());
        }
    }
    out
}

/// Remove every container, then the networks `nets` and the unused default
/// bridge; assert no lease is left, then the harness's own checks.
fn done(env: Env, nets: &[&str]) {
    let names = env.container_dirs();
    if !names.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(names.iter().map(String::as_str));
        env.ok(&args);
    }
    assert!(leases(&env).is_empty(), "leases left: {:?}", leases(&env));
    for n in nets {
        env.ok(&["network", "rm", n]);
    }
    env.ok(&["network", "prune"]);
    env.finish();
}

/// A shell command fetching `path` from `host` `port` inside a container.
/// (nc, not busybox wget: this busybox's `wget -T` dies of SIGSEGV, on the
/// host too, and without -T a dead peer could hang a test.)
fn fetch(host: &str, port: u16, path: &str) -> String {
    format!("printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | tail -n 1")
}

fn ip_of(env: &Env, name: &str) -> String {
    env.record(name)["net"]["endpoints"][0]["ip"].as_str().expect("an address in the record").to_string()
}

/// GET `path` from `addr` in the test's namespace, with a deadline.
fn http_get(addr: &str, path: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = (|| -> std::io::Result<String> {
            let mut s =
                std::net::TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match got {
            Ok(b) => return b,
            Err(e) if std::time::Instant::now() > deadline => panic!("GET http://{addr}{path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn two_containers_reach_each_other_by_ip_and_by_name() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["network", "create", "--subnet", "10.201.0.0/24", "tnet"]);
        env.ok(&[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "tnet",
            "--network-alias",
            "web",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ]);
        let ip = ip_of(&env, "srv");
        assert!(ip.starts_with("10.201.0."), "{ip}");
        let out = env.ok(&[
            "run",
            "--rm",
            "--name",
            "cli",
            "--network",
            "tnet",
            "busybox",
            "sh",
            "-c",
            &format!(
                "ping -c1 -W3 {ip} >/dev/null && ping -c1 -W3 srv >/dev/null && {} && {}",
                fetch("srv", 80, "/hostname"),
                fetch("web", 80, "/hostname")
            ),
        ]);
        let host = env.record("srv")["hostname"].as_str().expect("hostname").to_string();
        assert_eq!(out, format!("{host}\n{host}\n"));
        // A member started later is known to the earlier one.
        env.ok(&["run", "-d", "--name", "late", "--network", "tnet", "busybox", "sleep", "30"]);
        env.ok(&["exec", "srv", "ping", "-c1", "-W3", "late"]);
        // The default bridge resolves no names, as Docker's.
        let o = env.run(&["run", "--rm", "busybox", "ping", "-c1", "-W1", "srv"]);
        assert_ne!(o.code, 0);
        done(env, &["tnet"]);
    });
}

#[test]
fn a_published_port_answers_on_loopback_from_another_container_and_hairpin() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "bridge",
            "-p",
            "18080:80",
            "-p",
            "127.0.0.1:18081-18082:81-82/tcp",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ]);
        let host = env.record("web")["hostname"].as_str().expect("hostname").to_string();
        assert!(http_get("127.0.0.1:18080", "/hostname").ends_with(&format!("\n{host}\n")));
        let ports = env.ok(&["port", "web"]);
        assert!(
            ports.contains("80/tcp -> 0.0.0.0:18080") && ports.contains("82/tcp -> 127.0.0.1:18082"),
            "{ports}"
        );
        assert_eq!(env.ok(&["port", "web", "80"]), "0.0.0.0:18080\n");
        let gw = env.record("web")["net"]["endpoints"][0]["gateway"].as_str().expect("gateway").to_string();
        let from_other = env.ok(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            "busybox",
            "sh",
            "-c",
            &fetch(&gw, 18080, "/hostname"),
        ]);
        assert_eq!(from_other, format!("{host}\n"));
        let hairpin = env.ok(&["exec", "web", "sh", "-c", &fetch(&gw, 18080, "/hostname")]);
        assert_eq!(hairpin, format!("{host}\n"));
        let o = env.run(&[
            "run",
            "-d",
            "--name",
            "web2",
            "--network",
            "bridge",
            "-p",
            "18080:80",
            "busybox",
            "true",
        ]);
        assert_eq!(o.code, 125);
        assert!(o.stderr.contains("port 18080/tcp is already allocated (container web)"), "{}", o.stderr);
        assert!(!env.root().join("web2").exists());
        let o = env.fails(&["port", "web", "9999"]);
        assert!(o.stderr.contains("no public port '9999/tcp'"), "{}", o.stderr);
        let ip = ip_of(&env, "web");
        let tracked = || std::fs::read_to_string("/proc/thread-self/net/nf_conntrack").unwrap_or_default();
        assert!(tracked().contains(&format!("={ip} ")), "the test made connections: {}", tracked());
        done(env, &[]);
        // No conntrack entry naming the container is left.
        assert!(!tracked().contains(&format!("={ip} ")), "{}", tracked());
    });
}

#[test]
fn network_none_has_only_lo_and_host_sees_the_hosts_interfaces() {
    in_netns(|| {
        let env = Env::new();
        let none = env.ok(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net"]);
        assert_eq!(none.split_whitespace().collect::<Vec<_>>(), ["lo"]);
        sh("ip link add mdtest0 type bridge");
        let host = env.ok(&["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
        assert!(host.split_whitespace().any(|l| l == "mdtest0"), "{host}");
        sh("ip link del mdtest0");
        env.finish();
    });
}

#[test]
fn twenty_parallel_runs_on_one_network_get_distinct_addresses() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
        env.ok(&["network", "create", "--subnet", "10.202.0.0/24", "par"]);
        let children: Vec<_> = (0..20)
            .map(|i| {
                env.command(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("p{i}"),
                    "--network",
                    "par",
                    "busybox",
                    "sleep",
                    "60",
                ])
                .output()
            })
            .collect();
        for c in children {
            let o = c.expect("spawn");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let mut ips: Vec<String> = (0..20).map(|i| ip_of(&env, &format!("p{i}"))).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 20, "{ips:?}");
        assert_eq!(leases(&env).len(), 20);
        done(env, &["par"]);
    });
}

#[test]
fn teardown_leaves_the_namespace_as_it_was() {
    in_netns(|| {
        // Forwarding off, as on a host that never routed: set on, then back.
        sh("sysctl -qw net.ipv4.ip_forward=0");
        let before = snapshot();
        let env = Env::new();
        env.ok(&["network", "create", "--subnet", "10.203.0.0/24", "--internal", "--label", "a=b", "iso"]);
        env.ok(&["run", "-d", "--name", "x", "--network", "iso", "busybox", "sleep", "30"]);
        env.ok(&[
            "run",
            "-d",
            "--name",
            "y",
            "-p",
            "18090:80",
            "--network",
            "bridge",
            "busybox",
            "sleep",
            "30",
        ]);
        env.ok(&["network", "connect", "--alias", "why", "iso", "y"]);
        assert!(env.ok(&["exec", "x", "cat", "/etc/hosts"]).contains("\ty why\n"));
        env.ok(&["exec", "y", "ping", "-c1", "-W3", "x"]);
        env.ok(&["network", "disconnect", "iso", "y"]);
        assert!(!env.ok(&["exec", "x", "cat", "/etc/hosts"]).contains("why"));
        assert_ne!(before, snapshot());
        // A detached --rm container's monitor removes it, address and all.
        env.ok(&["run", "-d", "--rm", "--name", "brief", "--network", "iso", "busybox", "true"]);
        assert!(eventually(Duration::from_secs(10), || leases(&env).len() == 2), "{:?}", leases(&env));
        let o = env.fails(&["network", "rm", "iso"]);
        assert!(o.stderr.contains("active endpoints"), "{}", o.stderr);
        done(env, &["iso"]);
        assert_eq!(before, snapshot());
    });
}

#[test]
fn a_failure_halfway_through_set_up_cleans_up() {
    in_netns(|| {
        let before = snapshot();
        let env = Env::new();
        env.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
        env.ok(&["network", "create", "--subnet", "10.204.0.0/24", "half"]);
        let with_net = snapshot();
        for point in ["network:allocated", "network:attached", "launch:network"] {
            let o: Out = env
                .command(&[
                    "run",
                    "-d",
                    "--name",
                    "crash",
                    "--network",
                    "half",
                    "-p",
                    "18095:80",
                    "busybox",
                    "sleep",
                    "30",
                ])
                .env("MYDOCKER_CRASH_AT", point)
                .output()
                .expect("spawn")
                .into();
            assert_ne!(o.code, 0, "{point}");
            env.ok(&["rm", "-f", "crash"]);
            assert!(leases(&env).is_empty(), "{point}: {:?}", leases(&env));
            let same = eventually(Duration::from_secs(5), || snapshot() == with_net);
            let now = snapshot();
            let diff: Vec<&str> = now.lines().filter(|l| !with_net.lines().any(|w| w == *l)).collect();
            let gone: Vec<&str> = with_net.lines().filter(|l| !now.lines().any(|w| w == *l)).collect();
            assert!(same, "{point}: new {diff:?}, gone {gone:?}");
        }
        // A failure the script sees (the address is taken) leaves nothing either.
        env.ok(&[
            "run",
            "-d",
            "--name",
            "a",
            "--network",
            "half",
            "--ip",
            "10.204.0.9",
            "busybox",
            "sleep",
            "30",
        ]);
        let o = env.run(&[
            "run",
            "-d",
            "--name",
            "b",
            "--network",
            "half",
            "--ip",
            "10.204.0.9",
            "busybox",
            "sleep",
            "30",
        ]);
        assert_eq!(o.code, 125);
        assert!(o.stderr.contains("10.204.0.9 is already in use"), "{}", o.stderr);
        // (Not `inspect b`: "b" is also a prefix of ids, one in 16 of a's.)
        assert!(!env.root().join("b").exists(), "b is left: {}", o.stderr);
        assert_eq!(leases(&env).len(), 1);
        done(env, &["half"]);
        assert_eq!(before, snapshot());
    });
}

#[test]
fn bad_network_options_are_refused_and_change_nothing() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
        env.ok(&["network", "create", "--subnet", "10.209.1.0/24", "taken"]);
        for (args, says) in [
            (&["run", "--network", "nosuch", "busybox", "true"][..], "network nosuch not found"),
            (&["run", "--network", "bridge", "-p", "99999:80", "busybox", "true"][..], "port 99999"),
            (
                &["run", "--network", "bridge", "-p", "80:80/sctp", "busybox", "true"][..],
                "invalid protocol \"sctp\"",
            ),
            (
                &["run", "--network", "bridge", "--ip", "10.1.2", "busybox", "true"][..],
                "invalid --ip \"10.1.2\"",
            ),
            (
                &["run", "--network", "bridge", "--mac-address", "zz", "busybox", "true"][..],
                "invalid MAC address",
            ),
            (
                &["run", "--network", "none", "-p", "80:80", "busybox", "true"][..],
                "--publish needs a bridge network",
            ),
            (
                &["run", "--network", "bridge", "--add-host", "nohost", "busybox", "true"][..],
                "--add-host: invalid \"nohost\"",
            ),
            (&["network", "create", "--subnet", "10.205.0.1/24", "n"][..], "host bits set"),
            (
                &["network", "create", "--subnet", "10.205.0.0/24", "--gateway", "10.9.9.9", "n"][..],
                "invalid gateway 10.9.9.9",
            ),
            (&["network", "create", "--driver", "macvlan", "n"][..], "only bridge"),
            (&["network", "create", "bad/name"][..], "invalid network name"),
            (&["network", "rm", "bridge"][..], "pre-defined"),
            (&["network", "create", "--subnet", "10.209.0.0/16", "wide"][..], "overlaps network taken"),
            (
                &["run", "--network", "taken", "--network-alias", "x\n10.0.0.1 evil", "busybox", "true"][..],
                "--network-alias: invalid name",
            ),
            (
                &["run", "--network", "bridge", "--add-host", "a b:10.0.0.1", "busybox", "true"][..],
                "--add-host: invalid host name",
            ),
            (
                &["run", "--network", "bridge", "--dns-search", "a\nnameserver 1.2.3.4", "busybox", "true"][..],
                "--dns-search: invalid domain",
            ),
        ] {
            let o = env.run(args);
            assert_ne!(o.code, 0, "{args:?}");
            assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
            assert!(env.container_dirs().is_empty(), "{args:?} left a container");
        }
        let nets = env.ok(&["network", "ls", "--format", "json"]);
        let nets: Vec<serde_json::Value> = serde_json::from_str(&nets).expect("json");
        let names: Vec<&str> = nets.iter().filter_map(|n| n["name"].as_str()).collect();
        assert_eq!(names, ["bridge", "taken", "host", "none"]);
        done(env, &["taken"]);
    });
}

#[test]
fn hosts_and_resolv_conf_follow_the_options() {
    in_netns(|| {
        let env = Env::new();
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            "-h",
            "box",
            "--add-host",
            "db.local:10.9.8.7",
            "--dns",
            "10.0.0.53",
            "--dns-search",
            "example.org",
            "--mac-address",
            "02:42:0a:0b:0c:0d",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf; cat /sys/class/net/eth0/address; hostname",
        ]);
        assert!(out.contains("10.9.8.7\tdb.local\n"), "{out}");
        assert!(out.contains("nameserver 10.0.0.53\n") && !out.contains("nameserver 8.8.8.8"), "{out}");
        assert!(out.contains("search example.org\n"), "{out}");
        assert!(out.contains("02:42:0a:0b:0c:0d\n") && out.ends_with("box\n"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("172.") && l.ends_with("\tbox")), "{out}");
        done(env, &[]);
    });
}

#[test]
fn a_user_script_wires_its_own_topology() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "-d", "--name", "a", "--network", "none", "busybox", "sleep", "60"]);
        env.ok(&["run", "-d", "--name", "b", "--network", "none", "busybox", "sleep", "60"]);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/wire.rhai");
        let out = env.ok(&[script, "lab", "10.206.0.0/24", "a", "b"]);
        assert!(out.contains("a: 10.206.0.2 on lab") && out.contains("b: 10.206.0.3 on lab"), "{out}");
        env.ok(&["exec", "a", "ping", "-c1", "-W3", "b"]);
        let links = env.ok(&["exec", "b", "ls", "/sys/class/net"]);
        assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo", "wire0"]);
        done(env, &["lab"]);
    });
}

#[test]
fn container_network_mode_shares_another_containers_namespace() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "-d", "--name", "owner", "--network", "bridge", "busybox", "sleep", "60"]);
        let ip = ip_of(&env, "owner");
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            "container:owner",
            "busybox",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ]);
        assert!(out.contains(&format!("inet {ip}/")), "{out}");
        let o = env.run(&["run", "--rm", "--network", "container:nosuch", "busybox", "true"]);
        assert_eq!(o.code, 125);
        assert!(o.stderr.contains("nosuch"), "{}", o.stderr);
        // Connecting a container without a bridged network of its own is refused.
        env.ok(&["network", "create", "--subnet", "10.207.0.0/24", "other"]);
        env.ok(&["run", "-d", "--name", "lone", "--network", "none", "busybox", "sleep", "60"]);
        let o = env.fails(&["network", "connect", "other", "lone"]);
        assert!(o.stderr.contains("cannot be connected"), "{}", o.stderr);
        done(env, &["other"]);
    });
}

/// From inside a container, as an attacker with Docker's default
/// capabilities (NET_RAW): a frame to the bridge with 127.0.0.1 as its
/// destination. `route_localnet` on the bridge (for published ports on
/// 127.0.0.1) would deliver it to the host's loopback services
/// (CVE-2020-8558); our guard drops it. The same frame without the guard
/// gets through, so the test tests something.
#[test]
fn a_container_cannot_reach_the_hosts_loopback_through_route_localnet() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "-d", "--name", "evil", "--network", "bridge", "busybox", "sleep", "60"]);
        let tool = env.data.path().join("raw_udp");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/net/raw_udp.c");
        sh(&format!("cc -static -O1 -o {} {src}", tool.display()));
        let id = env.record("evil")["id"].as_str().expect("id").to_string();
        let merged = env.data.path().join("containers").join(&id).join("merged");
        std::fs::copy(&tool, merged.join("raw_udp")).expect("copy the tool into the container");
        let ip = ip_of(&env, "evil");
        let gw = env.record("evil")["net"]["endpoints"][0]["gateway"].as_str().expect("gateway").to_string();
        let mac =
            sh("ip -o link show mydocker0 | sed 's/.*link.ether \\([0-9a-f:]*\\).*/\\1/'").trim().to_string();
        let listen = |addr: &str| {
            let s = std::net::UdpSocket::bind(addr).expect("bind");
            s.set_read_timeout(Some(Duration::from_millis(700))).expect("timeout");
            s
        };
        let got = |s: &std::net::UdpSocket| s.recv(&mut [0u8; 64]).is_ok();
        let open = listen("0.0.0.0:17001");
        env.ok(&["exec", "evil", "/raw_udp", "eth0", &mac, &ip, &gw, "17001"]);
        assert!(got(&open), "the tool works: a frame to the gateway's address arrives");
        let lo = listen("127.0.0.1:17002");
        env.ok(&["exec", "evil", "/raw_udp", "eth0", &mac, &ip, "127.0.0.1", "17002"]);
        assert!(!got(&lo), "a container reached the host's 127.0.0.1");
        sh("nft flush chain ip mydocker guard");
        env.ok(&["exec", "evil", "/raw_udp", "eth0", &mac, &ip, "127.0.0.1", "17002"]);
        assert!(got(&lo), "without the guard the frame gets through (the test would test nothing)");
        std::fs::remove_file(&tool).expect("rm tool");
        done(env, &[]);
    });
}

#[test]
fn leases_of_containers_that_are_gone_are_swept() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["network", "create", "--subnet", "10.208.0.0/24", "boot"]);
        env.ok(&["run", "-d", "--name", "old", "--network", "boot", "busybox", "sleep", "60"]);
        // As after a reboot: the state root (a tmpfs) is empty, the data root is not.
        env.ok(&["kill", "old"]);
        let r = env.record("old");
        let pid = r["pid"].as_i64().unwrap_or(0) as i32;
        assert!(wait_dead(pid, Duration::from_secs(5)));
        let mon = r["monitor_pid"].as_i64().unwrap_or(0) as i32;
        assert!(wait_dead(mon, Duration::from_secs(5)));
        let id = r["id"].as_str().expect("id").to_string();
        env.ok(&["rm", "old"]);
        let lease = env.data.path().join("networks/boot/leases/10.208.0.2");
        std::fs::write(&lease, format!(r#"{{"network":"boot","container_id":"{id}","container":"old","ip":"10.208.0.2","prefix":24,"gateway":"10.208.0.1","mac":"02:42:0a:d0:00:02","bridge":"x","host_if":"v{}abcd","ifname":"eth0"}}"#, &id[..10])).expect("stale lease");
        assert_eq!(leases(&env).len(), 1);
        env.ok(&["network", "rm", "boot"]);
        assert!(leases(&env).is_empty());
        done(env, &[]);
    });
}

#[test]
fn publish_all_publishes_the_images_exposed_ports_on_free_host_ports() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "--name", "base", "--network", "none", "busybox", "true"]);
        env.ok(&["commit", "-c", "EXPOSE 80", "base", "localhost/exposed:1"]);
        env.ok(&[
            "run",
            "-d",
            "--name",
            "pub",
            "--network",
            "bridge",
            "-P",
            "localhost/exposed:1",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ]);
        let port = env.ok(&["port", "pub", "80/tcp"]);
        let addr = port.trim().replace("0.0.0.0", "127.0.0.1");
        let host = env.record("pub")["hostname"].as_str().expect("hostname").to_string();
        assert!(http_get(&addr, "/hostname").ends_with(&format!("\n{host}\n")), "{addr}");
        done(env, &[]);
        // (The image goes with the data root.)
    });
}

/// "Outside": a namespace of its own behind a veth, with no route back to
/// any container subnet. A container reaches it only through masquerade; an
/// internal network's does not.
#[test]
fn outbound_traffic_is_masqueraded_and_internal_networks_stay_inside() {
    in_netns(|| {
        let env = Env::new();
        let mut outside = Command::new("unshare").args(["-n", "sleep", "30"]).spawn().expect("unshare");
        let pid = outside.id();
        let ours = std::fs::read_link("/proc/thread-self/ns/net").expect("own netns");
        assert!(eventually(Duration::from_secs(5), || std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .is_ok_and(|l| l != ours)));
        sh(&format!(
            "ip link add mdo0 type veth peer name mdo1 && ip link set mdo1 netns {pid} && ip addr add 10.251.0.1/24 dev mdo0 && ip link set mdo0 up"
        ));
        sh(&format!(
            "nsenter -t {pid} -n sh -c 'ip link set lo up && ip addr add 10.251.0.2/24 dev mdo1 && ip link set mdo1 up'"
        ));
        env.ok(&["run", "--rm", "--network", "bridge", "busybox", "ping", "-c1", "-W3", "10.251.0.2"]);
        env.ok(&["network", "create", "--internal", "--subnet", "10.210.0.0/24", "inner"]);
        let o =
            env.run(&["run", "--rm", "--network", "inner", "busybox", "ping", "-c1", "-W2", "10.251.0.2"]);
        assert_ne!(o.code, 0, "an internal network reached outside");
        outside.kill().expect("kill");
        outside.wait().expect("wait");
        done(env, &["inner"]);
    });
}

/// A bridge of the default network's name that mydocker did not make is
/// used as it is and never removed; one of ours left half set up by a crash
/// is set up again (its alias on the interface says it is ours).
#[test]
fn a_bridge_that_is_not_ours_is_never_removed() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["network", "create", "--subnet", "10.211.0.0/24", "own"]);
        let br = env.ok(&["network", "inspect", "own"]);
        let v: serde_json::Value = serde_json::from_str(&br).expect("json");
        let bridge = v[0]["bridge"].as_str().expect("bridge").to_string();
        // Crash-like: the address and the up state gone, the record says not made.
        sh(&format!("ip addr flush dev {bridge} && ip link set {bridge} down"));
        let rec = env.data.path().join("networks/own/network.json");
        let text = std::fs::read_to_string(&rec)
            .expect("record")
            .replace("\"bridge_made\": true", "\"bridge_made\": false");
        std::fs::write(&rec, text).expect("write record");
        env.ok(&["run", "--rm", "--network", "own", "busybox", "ping", "-c1", "-W3", "10.211.0.1"]);
        env.ok(&["network", "rm", "own"]);
        assert!(!sh("ip -o link").contains(&bridge));
        // Not ours: same name, no alias.
        env.ok(&["network", "create", "--subnet", "10.212.0.0/24", "theirs"]);
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["network", "inspect", "theirs"])).expect("json");
        let bridge = v[0]["bridge"].as_str().expect("bridge").to_string();
        sh(&format!("ip link set {bridge} alias someone-elses"));
        env.ok(&["network", "rm", "theirs"]);
        assert!(sh("ip -o link").contains(&bridge), "a bridge mydocker did not make was removed");
        sh(&format!("ip link del {bridge}"));
        done(env, &[]);
    });
}

#[test]
fn a_restarted_container_keeps_its_address_and_published_port() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&[
            "run",
            "-d",
            "--name",
            "r1",
            "--network",
            "bridge",
            "-p",
            "18300:80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ]);
        let ip = ip_of(&env, "r1");
        let restart = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/restart.rhai");
        env.ok(&[restart, "-t", "1", "r1"]);
        let addr = env.ok(&["exec", "r1", "ip", "-o", "-4", "addr", "show", "eth0"]);
        assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
        let host = env.record("r1")["hostname"].as_str().expect("hostname").to_string();
        assert!(http_get("127.0.0.1:18300", "/hostname").ends_with(&format!("\n{host}\n")));
        done(env, &[]);
    });
}

#[test]
fn of_parallel_runs_publishing_one_port_exactly_one_wins() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
        let children: Vec<_> = (0..6)
            .map(|i| {
                env.command(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("w{i}"),
                    "--network",
                    "bridge",
                    "-p",
                    "18400:80",
                    "busybox",
                    "sleep",
                    "60",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
            })
            .collect();
        let codes: Vec<i32> = children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait").status.code().unwrap_or(-1))
            .collect();
        assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
        assert_eq!(leases(&env).len(), 1);
        done(env, &[]);
    });
}

#[test]
fn a_renamed_container_is_known_by_its_new_name_and_keeps_its_lease() {
    in_netns(|| {
        let env = Env::new();
        env.ok(&["network", "create", "--subnet", "10.213.0.0/24", "ren"]);
        env.ok(&["run", "-d", "--name", "a", "--network", "ren", "busybox", "sleep", "60"]);
        env.ok(&["run", "-d", "--name", "b", "--network", "ren", "busybox", "sleep", "60"]);
        let ip = ip_of(&env, "a");
        env.ok(&["rename", "a", "alpha"]);
        // The other member resolves the new name, not the old one; its own file too.
        let hosts = env.ok(&["exec", "b", "cat", "/etc/hosts"]);
        assert!(hosts.contains(&format!("{ip}\talpha")) && !hosts.contains("\ta\n"), "{hosts}");
        env.ok(&["exec", "b", "ping", "-c1", "-W3", "alpha"]);
        let lease: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(env.data.path().join(format!("networks/ren/leases/{ip}")))
                .expect("lease"),
        )
        .expect("lease JSON");
        assert_eq!(lease["container"], "alpha");
        // Not swept as stale, and still its address after a restart.
        env.ok(&["network", "prune"]);
        env.ok(&["restart", "-t", "0", "alpha"]);
        assert_eq!(ip_of(&env, "alpha"), ip);
        env.ok(&["exec", "alpha", "ping", "-c1", "-W3", "b"]);
        done(env, &["ren"]);
    });
}
