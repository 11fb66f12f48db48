//! The interactive shell: `mydocker` on a terminal, or `mydocker repl`.
//! Variables and functions persist between lines; an error never ends it.

use crate::engine;
use rhai::{AST, Dynamic, Scope};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use std::io::Read;

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

pub fn run() -> i32 {
    if !crate::runtime::tty::isatty(0) {
        // Not a terminal: run standard input as a script.
        let mut source = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut source) {
            eprintln!("mydocker: read stdin: {e}");
            return 1;
        }
        let script = engine::Script { name: "<stdin>".into(), source, bundled: false, dir: None };
        return engine::run(&script, &[], Dynamic::UNIT);
    }
    let engine = engine::build(std::env::current_dir().ok());
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mydocker: cannot start the line editor: {e}");
            return 1;
        }
    };
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".mydocker_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "mydocker {} — Rhai shell. Modules: container, cgroup, rootfs, state, image, sys, log. Ctrl-D exits.",
        env!("CARGO_PKG_VERSION")
    );
    let mut scope = Scope::new();
    let mut functions = AST::empty();
    let mut input = String::new();
    loop {
        let prompt = if input.is_empty() { "mydocker> " } else { "       .. " };
        match editor.readline(prompt) {
            Ok(line) => {
                input.push_str(&line);
                input.push('\n');
                if incomplete(&input) {
                    continue;
                }
                let text = std::mem::take(&mut input);
                if text.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text.trim_end());
                match engine.compile_with_scope(&scope, &text) {
                    Err(e) => eprintln!("error: {e}"),
                    Ok(ast) => {
                        let combined = functions.merge(&ast);
                        match engine.eval_ast_with_scope::<Dynamic>(&mut scope, &combined) {
                            Ok(v) if !v.is_unit() => println!("{v:#?}"),
                            Ok(_) => {}
                            Err(e) => {
                                let (msg, _) = engine::describe(&e);
                                eprintln!("error: {msg}");
                            }
                        }
                        functions = combined.clone_functions_only();
                    }
                }
            }
            Err(ReadlineError::Interrupted) => input.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("mydocker: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_incomplete_input() {
        assert!(super::incomplete("fn f() {"));
        assert!(super::incomplete("let s = \"abc"));
        assert!(!super::incomplete("fn f() { 1 }"));
        assert!(!super::incomplete("let s = \"{\";"));
    }
}
