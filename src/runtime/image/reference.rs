//! Image references as Docker spells them: `[registry/]path[:tag][@sha256:hex]`,
//! normalised as Docker does (`debian` is `docker.io/library/debian:latest`).

// Until the Rhai bindings (issue 12) use it; the lead removes this when wiring.

use crate::runtime::error::{Error, Result};
use std::fmt;

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `localhost`, `quay.io`, `reg:5000`.
    pub registry: String,
    /// The path under the registry: `library/debian`, `a/b`.
    pub repository: String,
    /// `latest` when the reference gave neither tag nor digest.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse and normalise a reference; the error names the value.
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| Error::invalid(format!("invalid reference format {text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                if !is_digest(d) {
                    return Err(bad("a digest is sha256: and 64 lowercase hex digits"));
                }
                (r, Some(d.to_string()))
            }
            None => (text, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !is_tag(t)
        {
            return Err(bad("a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => (first, path),
            Some(_) => (DEFAULT_REGISTRY, name),
            None => (DEFAULT_REGISTRY, name),
        };
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY } else { registry };
        if !is_registry(registry) {
            return Err(bad("bad registry host"));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if path.is_empty() || !path.split('/').all(is_path_component) {
            return Err(bad("a repository is lowercase components of [a-z0-9] joined by . _ __ or -"));
        }
        if registry == DEFAULT_REGISTRY && path.len() == 64 && path.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("a 64-digit hex string is an image id, not a repository name"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad("longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { registry: registry.to_string(), repository, tag, digest })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The REPOSITORY column of `images`: `docker.io/library/` (and `docker.io/`)
    /// dropped as Docker shows it; any other registry, `localhost/` included, kept.
    pub fn familiar_repository(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_string()
        } else {
            self.name()
        }
    }

    /// The reference as `docker images` and `docker save`'s RepoTags spell it: `debian:12`.
    pub fn short(&self) -> String {
        let mut s = self.familiar_repository();
        push_suffix(&mut s, self);
        s
    }
}

fn push_suffix(s: &mut String, r: &Reference) {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self);
        f.write_str(&s)
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_hex64)
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_tag(t: &str) -> bool {
    let mut b = t.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric() || c == b'_')
        && t.len() <= 128
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn is_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && host_ok
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_normalise_as_docker_does() {
        let digest = format!("sha256:{HEX}");
        let table: Vec<(String, &str, &str)> = vec![
            ("debian".into(), "docker.io/library/debian:latest", "debian:latest"),
            ("debian:12".into(), "docker.io/library/debian:12", "debian:12"),
            ("docker.io/library/debian:12".into(), "docker.io/library/debian:12", "debian:12"),
            ("index.docker.io/library/debian".into(), "docker.io/library/debian:latest", "debian:latest"),
            ("user/app:v1".into(), "docker.io/user/app:v1", "user/app:v1"),
            ("localhost/x:1".into(), "localhost/x:1", "localhost/x:1"),
            ("localhost:5000/x".into(), "localhost:5000/x:latest", "localhost:5000/x:latest"),
            ("reg:5000/a/b:t".into(), "reg:5000/a/b:t", "reg:5000/a/b:t"),
            ("quay.io/a/b-c.d__e:T_1.x-y".into(), "quay.io/a/b-c.d__e:T_1.x-y", "quay.io/a/b-c.d__e:T_1.x-y"),
            (format!("x@{digest}"), "docker.io/library/x@sha256:", "x@sha256:"),
            (format!("x:1@{digest}"), "docker.io/library/x:1@sha256:", "x:1@sha256:"),
        ];
        for (input, full, short) in table {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert!(r.to_string().starts_with(full), "{input} -> {r}");
            assert!(r.short().starts_with(short), "{input} -> {}", r.short());
            assert_eq!(Reference::parse(&r.to_string()).expect("reparse"), r, "{input}");
        }
        let r = Reference::parse(&format!("x@{digest}")).expect("digest");
        assert_eq!((r.tag, r.digest), (None, Some(digest)));
        let r = Reference::parse("reg:5000/a/b:t").expect("port");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("reg:5000", "a/b", Some("t"))
        );
        assert_eq!(Reference::parse("localhost/x:1").expect("l").familiar_repository(), "localhost/x");
    }

    #[test]
    fn bad_references_are_refused_by_name() {
        for bad in [
            "",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "-a",
            "a-",
            "a/b/",
            "a@sha256:short",
            "a@md5:0123",
            "a b",
            "reg:port/x",
            HEX,
        ] {
            let e = Reference::parse(bad).expect_err(bad);
            assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
        }
    }
}
