//! The scripting reference, generated from the engine itself: every primitive
//! module's functions with their signatures and doc comments, then the stdlib.
//! `mydocker api` prints it; `docs/scripting.md` embeds it (a test keeps them equal).

use super::{STDLIB, build};
use serde_json::Value;

/// Modules in the order the reference lists them.
pub const MODULES: &[&str] = &["container", "cgroup", "rootfs", "state", "image", "sys", "log"];

/// Doc comment lines without their `///` markers.
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

/// The whole reference as Markdown.
/// One section of the reference: a heading, then each signature and its doc.
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
