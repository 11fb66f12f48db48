//! The user a container's process runs as, from the image's /etc/passwd and
//! /etc/group (read inside the container, after pivot_root), and its HOME.

use super::error::{Error, Result};
use std::fs;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one first.
    pub groups: Vec<u32>,
    /// The passwd entry's home directory; `/` without an entry (as Docker).
    pub home: String,
}

/// `UID[:GID]` or `NAME[:GROUP]` in the container's /etc/passwd and /etc/group.
/// A numeric uid needs no passwd entry.
pub fn resolve(spec: &str) -> Result<User> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let groups = fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_in(spec, &passwd, &groups)
}

/// `resolve`, from outside the container: its files read under `root`,
/// resolved inside it (an image's /etc/passwd may be a link to the host's).
pub fn resolve_in_root(root: &std::path::Path, spec: &str) -> Result<User> {
    let dir = fs::File::open(root).map_err(|e| Error::os(format!("open {}: {e}", root.display())))?;
    let read = |path: &str| -> String {
        let Ok(fd) = super::inroot::open(std::os::fd::AsFd::as_fd(&dir), path, libc::O_RDONLY) else {
            return String::new();
        };
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut fs::File::from(fd), &mut text);
        text
    };
    resolve_in(spec, &read("/etc/passwd"), &read("/etc/group"))
}

fn fields(text: &str, min: usize) -> impl Iterator<Item = Vec<&str>> {
    text.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(move |f| f.len() > min)
}

fn resolve_in(spec: &str, passwd: &str, groups_file: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let numeric = user.parse::<u32>().ok();
    let entry = fields(passwd, 3).find(|f| f[0] == user || (numeric.is_some() && f[2] == user));
    let (uid, mut gid, name, home) = match (&entry, numeric) {
        (Some(f), _) => (
            f[2].parse().map_err(|_| Error::invalid(format!("bad uid for {user} in /etc/passwd")))?,
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
            f.get(5).filter(|h| !h.is_empty()).map_or("/", |h| h).to_string(),
        ),
        (None, Some(uid)) => (uid, 0, String::new(), "/".to_string()),
        (None, None) => {
            return Err(Error::invalid(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => fields(groups_file, 2).find(|f| f[0] == g).and_then(|f| f[2].parse().ok()).ok_or_else(
                || Error::invalid(format!("unable to find group {g}: no matching entries in group file")),
            )?,
        };
    }
    let mut groups = vec![gid];
    if !name.is_empty() {
        for f in fields(groups_file, 3) {
            if f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok(User { uid, gid, groups, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n\
                          nohome:x:7:7:x::/bin/sh\n";
    const GROUP: &str = "root:x:0:\ntty:x:5:nobody\nstaff:x:50:\n";

    #[test]
    fn users_resolve_with_their_home() {
        let u = resolve_in("nobody", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (65534, 65534, vec![65534, 5], "/home")
        );
        assert_eq!(resolve_in("0", PASSWD, GROUP).unwrap().home, "/root");
        assert_eq!(resolve_in("1234", PASSWD, GROUP).unwrap().home, "/", "no entry: /");
        assert_eq!(resolve_in("nohome", PASSWD, GROUP).unwrap().home, "/", "empty home: /");
        assert_eq!(resolve_in("nobody:staff", PASSWD, GROUP).unwrap().gid, 50);
        assert!(resolve_in("ghost", PASSWD, GROUP).is_err());
        assert!(resolve_in("nobody:ghosts", PASSWD, GROUP).is_err());
    }
}
