//! The interactive shell: `mydocker` on a terminal, or `mydocker repl`.
//!
//! Variables and functions persist between lines; a statement left open (a
//! bracket or string) continues on the next line; Tab completes modules,
//! functions and variables; `:help [MODULE]` lists signatures; Ctrl-C stops a
//! running statement without leaving; Ctrl-D exits. History is kept in
//! `~/.mydocker_history`.

use crate::engine::{self, api};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Scope};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

extern "C" fn on_sigint(_: libc::c_int) {
    crate::runtime::sys::set_interrupted(true);
}

/// Is the input unfinished? The parser says so: it ran out of input inside a
/// block, a call, a string (`let c = '{';` is complete).
fn incomplete(engine: &Engine, text: &str) -> bool {
    use rhai::{LexError, ParseErrorType as P};
    let Err(e) = engine.compile(text) else { return false };
    let last_line = text.trim_end().lines().count();
    let at_end = e.1.line().is_none_or(|l| l >= last_line);
    match e.err_type() {
        P::UnexpectedEOF | P::BadInput(LexError::UnterminatedString) => true,
        P::MissingToken(..) | P::MissingSymbol(..) | P::ExprExpected(..) | P::FnMissingBody(..) => at_end,
        _ => false,
    }
}

/// The `import "PATH" as NAME` statements in `text` (outside strings and
/// comments), as (PATH, NAME).
fn imports(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let words: Vec<&str> =
        text.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        if *w == "import"
            && let (Some(path), Some(&"as"), Some(name)) =
                (words.get(i + 1), words.get(i + 2), words.get(i + 3))
            && path.len() >= 2
            && path.starts_with('"')
            && path.ends_with('"')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            out.push((path[1..path.len() - 1].to_string(), name.to_string()));
        }
    }
    out
}

/// `text` re-wrapped to `width` columns after `indent` spaces, keeping blank lines.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let width = width.saturating_sub(indent).max(20);
    let mut out = String::new();
    for para in text.split("\n\n") {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Maps and arrays as indented, JSON-like text; strings quoted; the rest as Rhai prints it.
pub fn pretty(v: &Dynamic) -> String {
    let mut out = String::new();
    write_pretty(v, 0, &mut out);
    out
}

fn write_pretty(v: &Dynamic, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    if let Some(m) = v.read_lock::<Map>() {
        if m.is_empty() {
            out.push_str("#{}");
            return;
        }
        out.push_str("#{\n");
        let mut keys: Vec<_> = m.keys().collect();
        keys.sort();
        for (i, k) in keys.iter().enumerate() {
            out.push_str(&format!("{pad}{k}: "));
            if let Some(val) = m.get(k.as_str()) {
                write_pretty(val, indent + 1, out);
            }
            out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
        }
        out.push_str(&format!("{}}}", "  ".repeat(indent)));
    } else if let Some(a) = v.read_lock::<rhai::Array>() {
        if a.is_empty() {
            out.push_str("[]");
            return;
        }
        out.push_str("[\n");
        for (i, item) in a.iter().enumerate() {
            out.push_str(&pad);
            write_pretty(item, indent + 1, out);
            out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
        }
        out.push_str(&format!("{}]", "  ".repeat(indent)));
    } else if v.is_string() {
        out.push_str(&format!("{:?}", v.to_string()));
    } else {
        out.push_str(&v.to_string());
    }
}

/// Tab completion of modules, `module::function`s, variables and imported
/// names, and of stdlib module names inside `import "…"`.
struct ReplHelper {
    words: Vec<String>,
    variables: Rc<RefCell<Vec<String>>>,
}

/// `NAME::` and `NAME::function(` for the stdlib module `path` imported as `name`.
fn imported_words(path: &str, name: &str) -> Vec<String> {
    let mut out = vec![format!("{name}::")];
    if let Some((n, src)) = engine::STDLIB.iter().find(|(n, _)| *n == path) {
        for (sig, _) in api::stdlib_functions(n, src) {
            if let Some(f) = sig.split('(').next().and_then(|f| f.split("::").nth(1)) {
                out.push(format!("{name}::{f}("));
            }
        }
    }
    out
}

impl ReplHelper {
    fn new(variables: Rc<RefCell<Vec<String>>>) -> ReplHelper {
        let mut words: Vec<String> = api::MODULES.iter().map(|m| format!("{m}::")).collect();
        for m in api::MODULES {
            for (sig, _) in api::module_functions(m) {
                if let Some(name) = sig.split('(').next().filter(|n| n.contains("::")) {
                    words.push(format!("{name}("));
                }
            }
        }
        for kw in [
            "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "return", "try", "catch",
            "import", "print", "eprint", "exit", "ARGS", "OPTS",
        ] {
            words.push(kw.to_string());
        }
        words.sort();
        words.dedup();
        ReplHelper { words, variables }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        // Inside `import "…`: the stdlib's module names.
        if let Some(q) = before.rfind("import \"")
            && !before[q + 8..].contains('"')
        {
            let typed = &before[q + 8..];
            let cands = engine::STDLIB
                .iter()
                .filter(|(n, _)| n.starts_with(typed))
                .map(|(n, _)| Pair { display: n.to_string(), replacement: format!("{n}\"") })
                .collect();
            return Ok((q + 8, cands));
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let vars = self.variables.borrow();
        let cands = self
            .words
            .iter()
            .chain(vars.iter())
            .filter(|w| w.starts_with(word))
            .map(|w| Pair { display: w.clone(), replacement: w.clone() })
            .collect();
        Ok((start, cands))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

fn help(topic: Option<&str>) {
    match topic {
        None => {
            println!("Modules (`:help MODULE` for its functions):");
            for m in api::MODULES {
                let n = api::module_functions(m).len();
                println!("  {m:<10} {n} functions");
            }
            println!("stdlib: import \"NAME\" as NAME; with NAME one of:");
            let names: Vec<&str> = engine::STDLIB.iter().map(|(n, _)| *n).collect();
            println!("  {}", names.join(", "));
            println!("Commands: :help [MODULE]  :quit   Ctrl-C stops a statement, Ctrl-D exits.");
        }
        Some(m) => {
            let fns = if api::MODULES.contains(&m) {
                api::module_functions(m)
            } else if let Some((n, src)) = engine::STDLIB.iter().find(|(n, _)| *n == m) {
                api::stdlib_functions(n, src)
            } else {
                println!("no module {m:?}; try :help");
                return;
            };
            let width = crate::runtime::tty::columns(1).unwrap_or(80);
            for (sig, doc) in fns {
                println!("{sig}");
                if !doc.is_empty() {
                    println!("{}", wrap(&doc, 4, width));
                }
            }
        }
    }
}

fn run_stdin() -> i32 {
    let mut source = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut source) {
        eprintln!("mydocker: read stdin: {e}");
        return 1;
    }
    let script = engine::Script { name: "<stdin>".into(), source, bundled: false, dir: None };
    engine::run(&script, &[], Dynamic::UNIT)
}

fn build_engine() -> Engine {
    let mut engine = engine::build(std::env::current_dir().ok());
    engine.on_progress(|_| {
        if crate::runtime::sys::interrupted() { Some(Dynamic::from("interrupted")) } else { None }
    });
    engine
}

/// Make the modules `text` imported visible to every later line (each line
/// is its own script, whose imports would end with it).
fn keep_imports(engine: &mut Engine, text: &str, variables: &mut Vec<String>) {
    for (path, name) in imports(text) {
        match engine.module_resolver().resolve(engine, None, &path, rhai::Position::NONE) {
            Ok(m) => {
                engine.register_static_module(name.as_str(), m);
                variables.extend(imported_words(&path, &name));
            }
            Err(e) => eprintln!("error: import {path:?}: {e}"),
        }
    }
}

pub fn run() -> i32 {
    if !crate::runtime::tty::isatty(0) {
        // Not a terminal: run standard input as a script.
        return run_stdin();
    }
    let mut engine = build_engine();
    let variables = Rc::new(RefCell::new(Vec::new()));
    let mut imported: Vec<String> = Vec::new();
    // Tab lists every candidate (and completes what they share), as a shell does.
    let config = rustyline::Config::builder().completion_type(rustyline::CompletionType::List).build();
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mydocker: cannot start the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(ReplHelper::new(variables.clone())));
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".mydocker_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    // Ctrl-C while a statement runs stops the statement (a loop, or a
    // primitive that waits), not the shell.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    println!(
        "mydocker {} — Rhai shell. :help lists modules; Tab completes; Ctrl-D exits.",
        env!("CARGO_PKG_VERSION")
    );
    let mut scope = Scope::new();
    let mut functions = AST::empty();
    let mut input = String::new();
    let code = loop {
        let prompt = if input.is_empty() { "mydocker> " } else { "       .. " };
        match editor.readline(prompt) {
            Ok(line) => {
                input.push_str(&line);
                input.push('\n');
                if incomplete(&engine, &input) {
                    continue;
                }
                let text = std::mem::take(&mut input);
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(trimmed);
                if let Some(cmd) = trimmed.strip_prefix(':') {
                    let mut words = cmd.split_whitespace();
                    match words.next() {
                        Some("help") | Some("h") => help(words.next()),
                        Some("quit") | Some("q") => break 0,
                        _ => println!("unknown command :{cmd}; try :help"),
                    }
                    continue;
                }
                crate::runtime::sys::set_interrupted(false);
                match engine.compile_with_scope(&scope, &text) {
                    Err(e) => eprintln!("error: {e}"),
                    Ok(ast) => {
                        let combined = functions.merge(&ast);
                        match engine.eval_ast_with_scope::<Dynamic>(&mut scope, &combined) {
                            Ok(v) if !v.is_unit() => println!("{}", pretty(&v)),
                            Ok(_) => {}
                            Err(e) => match *e {
                                EvalAltResult::ErrorTerminated(v, _) if v.is_int() => {
                                    break v.as_int().unwrap_or(0) as i32;
                                }
                                EvalAltResult::ErrorTerminated(..) => eprintln!("interrupted"),
                                ref other => eprintln!("error: {}", engine::describe(other).0),
                            },
                        }
                        functions = combined.clone_functions_only();
                        keep_imports(&mut engine, &text, &mut imported);
                        let mut names: Vec<String> = scope.iter().map(|(n, _, _)| n.to_string()).collect();
                        names.extend(functions.iter_functions().map(|f| f.name.to_string()));
                        names.extend(imported.iter().cloned());
                        *variables.borrow_mut() = names;
                    }
                }
            }
            Err(ReadlineError::Interrupted) => input.clear(),
            Err(ReadlineError::Eof) => break 0,
            Err(e) => {
                eprintln!("mydocker: {e}");
                break 1;
            }
        }
    };
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_incomplete_input() {
        let e = Engine::new();
        assert!(incomplete(&e, "fn f() {"));
        assert!(incomplete(&e, "let s = \"abc"));
        assert!(incomplete(&e, "let a = [1,\n2,"));
        assert!(incomplete(&e, "if x {\n"));
        assert!(!incomplete(&e, "fn f() { 1 }"));
        assert!(!incomplete(&e, "let s = \"{\";"));
        // A char literal is not an open block.
        assert!(!incomplete(&e, "let c = '{';"));
        // A mistake is reported, not waited on.
        assert!(!incomplete(&e, "let = 3;"));
        assert!(!incomplete(&e, "1 +* 2"));
    }

    #[test]
    fn finds_imports() {
        assert_eq!(
            imports("import \"table\" as t; let x = 1;\nimport \"units\" as units"),
            [("table".to_string(), "t".to_string()), ("units".to_string(), "units".to_string())]
        );
        assert!(imports("let s = \"import\";").is_empty());
    }

    #[test]
    fn wraps_to_the_width() {
        let w = wrap("one two three four five six seven eight nine ten eleven twelve thirteen", 4, 30);
        assert!(w.lines().all(|l| l.len() <= 30 && l.starts_with("    ")), "{w}");
        assert_eq!(w.split_whitespace().count(), 13);
    }

    #[test]
    fn pretty_prints_nested_values() {
        let engine = Engine::new();
        let v: Dynamic = engine.eval(r#"#{b: [1, "x"], a: #{}}"#).unwrap_or_default();
        assert_eq!(pretty(&v), "#{\n  a: #{},\n  b: [\n    1,\n    \"x\"\n  ]\n}");
    }
}
