//! The Rhai engine: runtime primitives as namespaced modules (`container::`,
//! `cgroup::`, `rootfs::`, `state::`, `image::`, `seccomp::`, `clock::`, `template::`, `sys::`, `log::`), the bundled
//! stdlib as importable modules, and script running with readable errors.
//!
//! The bindings are thin: they convert types and errors and decide nothing.

pub mod api;
mod cgroup;
mod clock;
mod container;
mod events;
mod files;
mod image;
mod net;
mod registry;
mod rootfs;
mod seccomp;
mod state;
mod sys;
mod template;
mod volume;

use crate::runtime::error::Error;
use rhai::module_resolvers::FileModuleResolver;
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Map, Module, ModuleResolver, Position, Scope, Shared};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where this invocation keeps state and data (from `--root`, `--data-root`).
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    pub data_root: PathBuf,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

pub fn set_context(ctx: Context) {
    let _ = CONTEXT.set(ctx);
}

pub fn context() -> &'static Context {
    CONTEXT.get_or_init(|| Context {
        root: PathBuf::from("/var/run/mydocker"),
        data_root: PathBuf::from("/var/lib/mydocker"),
    })
}

/// A runtime error as scripts see it: `#{kind: "not_found", message: "no such container: x"}`,
/// catchable with `try { } catch (e) { }`.
pub fn to_rhai(e: Error) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), e.kind.as_str().into());
    m.insert("message".into(), e.message.into());
    if let Some(n) = e.errno {
        m.insert("errno".into(), (n as i64).into());
    }
    EvalAltResult::ErrorRuntime(m.into(), Position::NONE).into()
}

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Give an error from a primitive the position of the script's call, so it
/// reads as `file:line:col` (Rhai leaves module-qualified calls without one).
pub fn at<T>(ctx: &rhai::NativeCallContext, f: impl FnOnce() -> RhaiResult<T>) -> RhaiResult<T> {
    f().map_err(|mut e| {
        if e.position().is_none() {
            e.set_position(ctx.call_position());
        }
        e
    })
}

pub fn rt<T>(r: crate::runtime::error::Result<T>) -> RhaiResult<T> {
    r.map_err(to_rhai)
}

pub fn to_dyn<T: serde::Serialize>(v: &T) -> RhaiResult<Dynamic> {
    rhai::serde::to_dynamic(v)
}

/// JSON as Rhai values, moving strings instead of going through serde's
/// serializer: records are converted on every `ps`, so this is a hot path.
pub fn json_to_dyn(v: serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => b.into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.into(),
        Value::Array(a) => Dynamic::from_array(a.into_iter().map(json_to_dyn).collect()),
        Value::Object(m) => record_to_dyn(m),
    }
}

/// A JSON object (a container record) as a Rhai map.
pub fn record_to_dyn(m: serde_json::Map<String, serde_json::Value>) -> Dynamic {
    Dynamic::from_map(m.into_iter().map(|(k, v)| (k.into(), json_to_dyn(v))).collect())
}

pub fn from_dyn<T: serde::de::DeserializeOwned>(what: &str, v: Dynamic) -> RhaiResult<T> {
    rhai::serde::from_dynamic(&v).map_err(|e| {
        to_rhai(Error::invalid(format!("invalid {what}: {}", e.to_string().trim_end_matches('.'))))
    })
}

/// The bundled command scripts, by command name.
pub const SCRIPTS: &[(&str, &str)] = &[
    ("run", include_str!("../../scripts/run.rhai")),
    ("ps", include_str!("../../scripts/ps.rhai")),
    ("logs", include_str!("../../scripts/logs.rhai")),
    ("exec", include_str!("../../scripts/exec.rhai")),
    ("stop", include_str!("../../scripts/stop.rhai")),
    ("rm", include_str!("../../scripts/rm.rhai")),
    ("inspect", include_str!("../../scripts/inspect.rhai")),
    ("wait", include_str!("../../scripts/wait.rhai")),
    ("kill", include_str!("../../scripts/kill.rhai")),
    ("images", include_str!("../../scripts/images.rhai")),
    ("image", include_str!("../../scripts/image.rhai")),
    ("load", include_str!("../../scripts/load.rhai")),
    ("save", include_str!("../../scripts/save.rhai")),
    ("commit", include_str!("../../scripts/commit.rhai")),
    ("export", include_str!("../../scripts/export.rhai")),
    ("tag", include_str!("../../scripts/tag.rhai")),
    ("rmi", include_str!("../../scripts/rmi.rhai")),
    ("history", include_str!("../../scripts/history.rhai")),
    ("pull", include_str!("../../scripts/pull.rhai")),
    ("push", include_str!("../../scripts/push.rhai")),
    ("login", include_str!("../../scripts/login.rhai")),
    ("logout", include_str!("../../scripts/logout.rhai")),
    ("volume", include_str!("../../scripts/volume.rhai")),
    ("cp", include_str!("../../scripts/cp.rhai")),
    ("diff", include_str!("../../scripts/diff.rhai")),
    ("oci/create", include_str!("../../scripts/oci/create.rhai")),
    ("oci/start", include_str!("../../scripts/oci/start.rhai")),
    ("oci/state", include_str!("../../scripts/oci/state.rhai")),
    ("oci/kill", include_str!("../../scripts/oci/kill.rhai")),
    ("oci/delete", include_str!("../../scripts/oci/delete.rhai")),
    ("oci/exec", include_str!("../../scripts/oci/exec.rhai")),
    ("oci/ps", include_str!("../../scripts/oci/ps.rhai")),
    ("oci/pause", include_str!("../../scripts/oci/pause.rhai")),
    ("oci/resume", include_str!("../../scripts/oci/resume.rhai")),
    ("oci/update", include_str!("../../scripts/oci/update.rhai")),
    ("oci/features", include_str!("../../scripts/oci/features.rhai")),
    ("oci/spec", include_str!("../../scripts/oci/spec.rhai")),
    ("oci/list", include_str!("../../scripts/oci/list.rhai")),
    ("network", include_str!("../../scripts/network.rhai")),
    ("port", include_str!("../../scripts/port.rhai")),
    ("on-exit", include_str!("../../scripts/on-exit.rhai")),
    ("attach", include_str!("../../scripts/attach.rhai")),
    ("create", include_str!("../../scripts/create.rhai")),
    ("start", include_str!("../../scripts/start.rhai")),
    ("restart", include_str!("../../scripts/restart.rhai")),
    ("pause", include_str!("../../scripts/pause.rhai")),
    ("unpause", include_str!("../../scripts/unpause.rhai")),
    ("rename", include_str!("../../scripts/rename.rhai")),
    ("update", include_str!("../../scripts/update.rhai")),
    ("top", include_str!("../../scripts/top.rhai")),
    ("stats", include_str!("../../scripts/stats.rhai")),
    ("events", include_str!("../../scripts/events.rhai")),
    ("info", include_str!("../../scripts/info.rhai")),
    ("version", include_str!("../../scripts/version.rhai")),
    ("system", include_str!("../../scripts/system.rhai")),
    ("container", include_str!("../../scripts/container.rhai")),
];

/// The bundled stdlib, importable by name: `import "table" as table;`.
pub const STDLIB: &[(&str, &str)] = &[
    ("table", include_str!("../../stdlib/table.rhai")),
    ("containers", include_str!("../../stdlib/containers.rhai")),
    ("lifecycle", include_str!("../../stdlib/lifecycle.rhai")),
    ("images", include_str!("../../stdlib/images.rhai")),
    ("units", include_str!("../../stdlib/units.rhai")),
    ("args", include_str!("../../stdlib/args.rhai")),
    ("retry", include_str!("../../stdlib/retry.rhai")),
    ("security", include_str!("../../stdlib/security.rhai")),
    ("etc_files", include_str!("../../stdlib/etc_files.rhai")),
    ("spec", include_str!("../../stdlib/spec.rhai")),
    ("oci", include_str!("../../stdlib/oci.rhai")),
    ("registries", include_str!("../../stdlib/registries.rhai")),
    ("network", include_str!("../../stdlib/network.rhai")),
    ("volumes", include_str!("../../stdlib/volumes.rhai")),
    ("filters", include_str!("../../stdlib/filters.rhai")),
    ("restarts", include_str!("../../stdlib/restarts.rhai")),
    ("ulimits", include_str!("../../stdlib/ulimits.rhai")),
    ("create", include_str!("../../stdlib/create.rhai")),
    ("journal", include_str!("../../stdlib/journal.rhai")),
    ("prune", include_str!("../../stdlib/prune.rhai")),
];

/// Resolves `import "name"` to a bundled stdlib module, else to a file next to the script.
struct Resolver {
    cache: RefCell<HashMap<String, Shared<Module>>>,
    files: FileModuleResolver,
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> RhaiResult<Shared<Module>> {
        if let Some(m) = self.cache.borrow().get(path) {
            return Ok(m.clone());
        }
        let Some((_, text)) = STDLIB.iter().find(|(name, _)| *name == path) else {
            return self.files.resolve(engine, source, path, pos);
        };
        let mut ast = engine
            .compile(text)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(path.to_string(), e.into(), pos)))?;
        ast.set_source(format!("stdlib/{path}.rhai"));
        let module: Shared<Module> = Module::eval_ast_as_new(Scope::new(), &ast, engine)?.into();
        self.cache.borrow_mut().insert(path.to_string(), module.clone());
        Ok(module)
    }
}

/// An engine with every primitive module and the stdlib resolver.
pub fn build(script_dir: Option<PathBuf>) -> Engine {
    // Only the packages scripts use: building Rhai's whole standard library
    // (bit fields, blobs, time) was half the start-up cost of every command.
    let mut engine = Engine::new_raw();
    engine.register_global_module(CorePackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(BasicMathPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());
    engine.register_global_module(MoreStringPackage::new().as_shared_module());
    // A closed stdout (`mydocker ps | head -1`) is not an error worth a panic.
    engine.on_print(|s| {
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{s}");
    });
    // Deep enough for real scripts, bounded so a runaway recursion is an error, not a crash.
    engine.set_max_call_levels(256);
    engine.set_max_expr_depths(256, 256);
    engine.register_static_module("container", container::module().into());
    engine.register_static_module("cgroup", cgroup::module().into());
    engine.register_static_module("rootfs", rootfs::module().into());
    engine.register_static_module("state", state::module().into());
    engine.register_static_module("image", image::module().into());
    engine.register_static_module("registry", registry::module().into());
    engine.register_static_module("seccomp", seccomp::module().into());
    engine.register_static_module("net", net::module().into());
    engine.register_static_module("volume", volume::module().into());
    engine.register_static_module("files", files::module().into());
    engine.register_static_module("clock", clock::module().into());
    engine.register_static_module("events", events::module().into());
    engine.register_static_module("template", template::module().into());
    engine.register_static_module("sys", sys::module().into());
    engine.register_static_module("log", sys::log_module().into());
    sys::register_globals(&mut engine);
    let mut files = FileModuleResolver::new();
    if let Some(dir) = script_dir {
        files.set_base_path(dir);
    }
    engine.set_module_resolver(Resolver { cache: RefCell::new(HashMap::new()), files });
    engine
}

/// A script to run: its name for messages, its text, and where it came from.
pub struct Script {
    pub name: String,
    pub source: String,
    /// Bundled command scripts report errors as one line, like any CLI;
    /// user scripts get file:line:col and a caret.
    pub bundled: bool,
    pub dir: Option<PathBuf>,
}

/// Run `script` with `ARGS` (its arguments) and `OPTS` (parsed options) in scope.
/// Returns the process exit code: `exit(n)`'s n, 0 at the end, 1 on an uncaught error.
pub fn run(script: &Script, args: &[String], opts: Dynamic) -> i32 {
    let engine = build(script.dir.clone());
    let mut ast = match engine.compile(&script.source) {
        Ok(ast) => ast,
        Err(e) => {
            // A syntax error is always shown with its place, even in a bundled script.
            let pos = e.position();
            let full = Script {
                bundled: false,
                name: script.name.clone(),
                source: script.source.clone(),
                dir: None,
            };
            report(&full, &e.to_string().replace(&format!(" ({pos})"), ""), pos);
            return 2;
        }
    };
    ast.set_source(script.name.clone());
    let mut scope = Scope::new();
    scope.push("ARGS", args.iter().map(|a| Dynamic::from(a.clone())).collect::<rhai::Array>());
    scope.push("OPTS", opts);
    match engine.run_ast_with_scope(&mut scope, &ast) {
        Ok(()) => 0,
        Err(e) => match exit_code(&e) {
            Some(code) => code,
            None => {
                let (msg, pos, source) = locate(&e);
                report_in(script, &msg, pos, source.as_deref());
                1
            }
        },
    }
}

/// `exit(n)` anywhere, even inside a function, ends the script with code n.
fn exit_code(e: &EvalAltResult) -> Option<i32> {
    match e {
        EvalAltResult::Exit(v, _) | EvalAltResult::ErrorTerminated(v, _) => {
            Some(if v.is_unit() { 0 } else { v.as_int().map(|n| n as i32).unwrap_or(1) })
        }
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
            exit_code(inner)
        }
        _ => None,
    }
}

/// The innermost message and position of an error.
pub fn describe(e: &EvalAltResult) -> (String, Position) {
    let (msg, pos, _) = locate(e);
    (msg, pos)
}

/// The innermost message, its position, and the source (a module or file
/// name) that position is in, when it is not the top-level script.
fn locate(e: &EvalAltResult) -> (String, Position, Option<String>) {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, src, inner, _)
        | EvalAltResult::ErrorInModule(src, inner, _) => {
            let (msg, pos, inner_src) = locate(inner);
            if pos.is_none() {
                (msg, e.position(), None)
            } else {
                (msg, pos, inner_src.or_else(|| (!src.is_empty()).then(|| src.clone())))
            }
        }
        EvalAltResult::ErrorRuntime(v, pos) => (error_message(v), *pos, None),
        other => {
            let pos = other.position();
            (other.to_string().replace(&format!(" ({pos})"), ""), pos, None)
        }
    }
}

/// The text of a thrown value: a primitive error map's message, or the value itself.
pub fn error_message(v: &Dynamic) -> String {
    if let Some(m) = v.read_lock::<Map>()
        && let Some(msg) = m.get("message")
    {
        return msg.to_string();
    }
    v.to_string()
}

fn report(script: &Script, msg: &str, pos: Position) {
    report_in(script, msg, pos, None)
}

/// One line for bundled commands; for user scripts `file:line:col: message`,
/// the line, and a caret under the position — in whichever file it is.
fn report_in(script: &Script, msg: &str, pos: Position, source: Option<&str>) {
    if script.bundled || pos.is_none() {
        eprintln!("mydocker: {msg}");
        return;
    }
    let (name, text) = match source.filter(|s| *s != script.name) {
        Some(src) => {
            let stdlib = src.strip_prefix("stdlib/").and_then(|n| n.strip_suffix(".rhai"));
            let text = stdlib
                .and_then(|n| STDLIB.iter().find(|(s, _)| *s == n).map(|(_, t)| t.to_string()))
                .or_else(|| std::fs::read_to_string(src).ok())
                .unwrap_or_default();
            (src.to_string(), text)
        }
        None => (script.name.clone(), script.source.clone()),
    };
    let (line, col) = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
    eprintln!("{name}:{line}:{col}: {msg}");
    if let Some(text) = text.lines().nth(line.saturating_sub(1)) {
        eprintln!("{line:>5} | {text}");
        eprintln!("{:>5} | {}^", "", " ".repeat(col.saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_the_same_rhai_values_as_serde_would_make() {
        let v: serde_json::Value = serde_json::json!({
            "name": "bird", "pid": 42, "big": u64::MAX, "ratio": 0.5, "ok": true,
            "gone": null, "command": ["sh", "-c"], "limits": {"memory": 1024}
        });
        let direct = json_to_dyn(v.clone());
        let via_serde = to_dyn(&v).expect("to_dynamic");
        assert_eq!(direct.to_string(), via_serde.to_string());
        let m = direct.cast::<Map>();
        assert_eq!(m["pid"].as_int(), Ok(42));
        assert!(m["gone"].is_unit());
        assert_eq!(m["command"].clone().into_array().map(|a| a.len()), Ok(2));
    }
}
