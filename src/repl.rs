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
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Is the input unfinished (an open bracket or string)? Then keep reading lines.
fn incomplete(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_str = Some(c),
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || in_str.is_some()
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

/// Tab completion of modules, `module::function`s and variables.
struct ReplHelper {
    words: Vec<String>,
    variables: Rc<RefCell<Vec<String>>>,
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
            for (sig, doc) in fns {
                println!("{sig}");
                for l in doc.lines() {
                    println!("    {l}");
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
        if INTERRUPTED.swap(false, Ordering::SeqCst) { Some(Dynamic::from("interrupted")) } else { None }
    });
    engine
}

pub fn run() -> i32 {
    if !crate::runtime::tty::isatty(0) {
        // Not a terminal: run standard input as a script.
        return run_stdin();
    }
    let engine = build_engine();
    let variables = Rc::new(RefCell::new(Vec::new()));
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::new() {
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
    // Ctrl-C while a statement runs stops the statement, not the shell.
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
                if incomplete(&input) {
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
                INTERRUPTED.store(false, Ordering::SeqCst);
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
                        let mut names: Vec<String> = scope.iter().map(|(n, _, _)| n.to_string()).collect();
                        names.extend(functions.iter_functions().map(|f| f.name.to_string()));
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
        assert!(incomplete("fn f() {"));
        assert!(incomplete("let s = \"abc"));
        assert!(!incomplete("fn f() { 1 }"));
        assert!(!incomplete("let s = \"{\";"));
    }

    #[test]
    fn pretty_prints_nested_values() {
        let engine = Engine::new();
        let v: Dynamic = engine.eval(r#"#{b: [1, "x"], a: #{}}"#).unwrap_or_default();
        assert_eq!(pretty(&v), "#{\n  a: #{},\n  b: [\n    1,\n    \"x\"\n  ]\n}");
    }
}
