//! The scripting reference: every primitive module's functions with their
//! signatures and doc comments, then the stdlib. `mydocker api` and the REPL's
//! `:help` use it.
//!
//! Generating it needs Rhai's `metadata` feature, which costs every command
//! 0.4 MiB resident (the signature and doc of each of ~600 registered
//! functions), so it is a build feature, `api-metadata`: built with it, the
//! reference comes live from the engine, and
//! `UPDATE_DOCS=1 cargo test --features api-metadata --test scripting reference_doc`
//! writes it into docs/scripting.md; built without it (the default), mydocker
//! carries that section of docs/scripting.md and parses it. The test suite
//! checks the section names every exported function either way.

#[cfg(feature = "api-metadata")]
use super::{STDLIB, build};
#[cfg(feature = "api-metadata")]
use serde_json::Value;

/// Modules in the order the reference lists them.
pub const MODULES: &[&str] = &[
    "container",
    "cgroup",
    "rootfs",
    "state",
    "image",
    "registry",
    "seccomp",
    "net",
    "volume",
    "files",
    "clock",
    "events",
    "template",
    "sys",
    "log",
];

/// Doc comment lines without their `///` markers.
#[cfg(feature = "api-metadata")]
fn doc_text(lines: &[String]) -> String {
    let mut out = Vec::new();
    for l in lines {
        for line in l.lines() {
            let t = line.trim();
            let t = t.strip_prefix("///").or_else(|| t.strip_prefix("//!")).unwrap_or(t);
            out.push(t.strip_prefix(' ').unwrap_or(t).to_string());
        }
    }
    out.join("\n").trim().to_string()
}

/// A Rust signature as a Rhai user reads it: `create(spec: map) -> Container`.
#[cfg(feature = "api-metadata")]
fn rhai_signature(sig: &str) -> String {
    let mut s = sig.to_string();
    if let Some(i) = s.find("-> RhaiResult<") {
        let inner = s[i + "-> RhaiResult<".len()..].trim_end_matches('>').to_string();
        s = format!("{}-> {inner}", &s[..i]);
    }
    let s = s.replace(" -> ()", "");
    let mut out = String::new();
    for tok in tokenize(&s) {
        out.push_str(match tok.as_str() {
            "&str" | "String" | "ImmutableString" => "string",
            "i64" => "int",
            "f64" => "float",
            "bool" => "bool",
            "Map" => "map",
            "Array" => "array",
            "Dynamic" => "any",
            "Handle" => "Container",
            other => other,
        });
    }
    out
}

/// Split into identifier-ish tokens (keeping `&`) and the characters between them.
#[cfg(feature = "api-metadata")]
fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() || c == '_' || c == '&' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Signature and doc of each function of a primitive module, sorted by name.
#[cfg(feature = "api-metadata")]
pub fn module_functions(module: &str) -> Vec<(String, String)> {
    let engine = build(None);
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let meta: Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out: Vec<(String, String)> = meta["modules"][module]["functions"]
        .as_array()
        .map(|fns| {
            fns.iter()
                .map(|f| {
                    let name = f["name"].as_str().unwrap_or("");
                    let sig = match name.strip_prefix("get$") {
                        // A property getter: shown as `Container.pid -> int`.
                        Some(prop) => {
                            let ret =
                                rhai_signature(&format!("x() -> {}", f["returnType"].as_str().unwrap_or("")));
                            format!(".{prop}{}", ret.trim_start_matches("x()"))
                        }
                        None => rhai_signature(f["signature"].as_str().unwrap_or("")),
                    };
                    let docs: Vec<String> = f["docComments"]
                        .as_array()
                        .map(|d| d.iter().filter_map(|l| l.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    let full = if sig.starts_with('.') {
                        format!("Container{sig}")
                    } else {
                        format!("{module}::{sig}")
                    };
                    (full, doc_text(&docs))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Signature and doc of each function of a stdlib module.
#[cfg(feature = "api-metadata")]
pub fn stdlib_functions(name: &str, source: &str) -> Vec<(String, String)> {
    let engine = build(None);
    let Ok(ast) = engine.compile(source) else { return Vec::new() };
    let mut out: Vec<(String, String)> = ast
        .iter_functions()
        .filter(|f| !f.name.starts_with("anon$"))
        .map(|f| {
            let docs: Vec<String> = f.comments.iter().map(|c| c.to_string()).collect();
            (format!("{name}::{}({})", f.name, f.params.join(", ")), doc_text(&docs))
        })
        .collect();
    out.sort();
    out
}

/// One section of the reference: a heading, then each signature and its doc.
#[cfg(feature = "api-metadata")]
fn section(s: &mut String, heading: &str, entries: Vec<(String, String)>) {
    s.push_str(&format!("### `{heading}`\n\n"));
    for (sig, doc) in entries {
        s.push_str(&format!("- `{sig}`"));
        if !doc.is_empty() {
            s.push_str(&format!("  \n  {}", doc.replace('\n', "\n  ")));
        }
        s.push('\n');
    }
    s.push('\n');
}

/// The whole reference as Markdown, from the engine.
#[cfg(feature = "api-metadata")]
pub fn reference() -> String {
    let mut s = String::from("## Primitive modules\n\n");
    for m in MODULES {
        section(&mut s, &format!("{m}::"), module_functions(m));
    }
    s.push_str("## stdlib (`import \"NAME\" as NAME;`)\n\n");
    for (name, source) in STDLIB {
        section(&mut s, name, stdlib_functions(name, source));
    }
    s.push_str("## Globals\n\n");
    s.push_str("- `ARGS` — the script's arguments (array of strings)\n");
    s.push_str("- `OPTS` — a bundled command's parsed options (map), `()` for user scripts\n");
    s.push_str("- `exit(code)` — end the script with an exit code, from any depth\n");
    s.push_str("- `eprint(value)` — print a line to stderr\n");
    s
}

/// docs/scripting.md, whose reference section a build without
/// `api-metadata` serves.
#[cfg(not(feature = "api-metadata"))]
const DOC: &str = include_str!("../../docs/scripting.md");
#[cfg(not(feature = "api-metadata"))]
const BEGIN: &str = "<!-- BEGIN API: generated by `mydocker api`; tests/scripting.rs checks it -->\n";
#[cfg(not(feature = "api-metadata"))]
const END: &str = "<!-- END API -->";

/// The reference section of a document holding one (docs/scripting.md).
#[cfg(not(feature = "api-metadata"))]
fn section_of(doc: &str) -> &str {
    let start = doc.find(BEGIN).map(|i| i + BEGIN.len()).unwrap_or(0);
    let end = doc[start..].find(END).map(|i| start + i).unwrap_or(doc.len());
    &doc[start..end]
}

/// The whole reference as Markdown, as docs/scripting.md holds it.
#[cfg(not(feature = "api-metadata"))]
pub fn reference() -> String {
    section_of(DOC).to_string()
}

/// Signature and doc of each function of a primitive module, sorted by name.
#[cfg(not(feature = "api-metadata"))]
pub fn module_functions(module: &str) -> Vec<(String, String)> {
    entries(section_of(DOC), &format!("{module}::"))
}

/// Signature and doc of each function of a stdlib module.
#[cfg(not(feature = "api-metadata"))]
pub fn stdlib_functions(name: &str, _source: &str) -> Vec<(String, String)> {
    entries(section_of(DOC), name)
}

/// The `(signature, doc)` entries under the heading `` ### `heading` `` of a
/// reference: `- `SIG`` lines, each followed by its doc lines indented by two.
#[cfg(any(test, not(feature = "api-metadata")))]
fn entries(reference: &str, heading: &str) -> Vec<(String, String)> {
    let title = format!("### `{heading}`");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in reference.lines() {
        if line.starts_with('#') {
            inside = line == title;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(rest) = line.strip_prefix("- `") {
            let sig = rest.trim_end().strip_suffix('`').unwrap_or(rest).to_string();
            out.push((sig, Vec::new()));
        } else if let (Some(doc), Some(last)) = (line.strip_prefix("  "), out.last_mut()) {
            last.1.push(doc.to_string());
        }
    }
    out.into_iter().map(|(sig, doc)| (sig, doc.join("\n"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_back_as_written() {
        let text = "## Primitive modules\n\n### `sys::`\n\n- `sys::now() -> string`  \n  The time.\n  \n  UTC.\n\
                    - `sys::euid() -> int`\n\n### `log::`\n\n- `log::info(message: string)`\n";
        assert_eq!(
            entries(text, "sys::"),
            [
                ("sys::now() -> string".to_string(), "The time.\n\nUTC.".to_string()),
                ("sys::euid() -> int".to_string(), String::new())
            ]
        );
        assert_eq!(entries(text, "log::").len(), 1);
        assert!(entries(text, "nope::").is_empty());
    }

    #[cfg(not(feature = "api-metadata"))]
    #[test]
    fn the_embedded_reference_lists_every_module() {
        for m in MODULES {
            assert!(!module_functions(m).is_empty(), "{m}");
        }
    }
}
