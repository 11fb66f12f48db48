//! Go text/template, the subset Docker users write in `--format`: fields
//! (`.A.B`, `.M "k"` indexes a map), `$` and variables, pipelines, `if`/`else
//! if`/`else`, `range` (with `$i, $e :=`), `with`, comments, `{{-`/`-}}`, and
//! the functions of Go and of Docker's formatter (json, join, lower, upper,
//! title, split, truncate, pad, print, printf, println, eq, ne, lt, le, gt,
//! ge, and, or, not, len, index). Data is JSON: a field missing from a map is
//! `<no value>` as in Go, or an error with `strict` (Docker's struct fields).

use serde_json::Value;
use std::collections::HashMap;

/// A parsed template, rendered many times.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    pub strict: bool,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Option<String>, Vec<String>),
    Lit(Value),
    Ident(String),
    Sub(Box<Pipe>, Vec<String>),
}

/// A parse or execution error, with the place in the template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Res<T> = Result<T, TemplateError>;

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(TemplateError(msg.into()))
}

const FUNCS: &[&str] = &[
    "json", "join", "lower", "upper", "title", "split", "truncate", "pad", "print", "printf", "println",
    "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "len", "index",
];

// ---- lexing: text and actions ----

/// The pieces of a template: text, and the inside of each `{{ }}` (trimmed per `{{-`/`-}}`).
fn split_actions(src: &str) -> Res<Vec<(bool, String, usize)>> {
    let mut out: Vec<(bool, String, usize)> = Vec::new();
    let mut rest = src;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_string();
        let after = &rest[open + 2..];
        let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end().to_string();
        }
        let Some(close) = find_close(after) else {
            return err(format!("unclosed action at offset {}", offset + open));
        };
        let mut inner = &after[..close];
        let trim_right = inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-");
        if trim_left {
            inner = &inner[1..];
        }
        if trim_right {
            inner = &inner[..inner.len() - 1];
        }
        if !text.is_empty() {
            out.push((false, text, offset));
        }
        out.push((true, inner.trim().to_string(), offset + open));
        let consumed = open + 2 + close + 2;
        rest = &rest[consumed..];
        offset += consumed;
        if trim_right {
            let t = rest.trim_start();
            offset += rest.len() - t.len();
            rest = t;
        }
    }
    if !rest.is_empty() {
        out.push((false, rest.to_string(), offset));
    }
    Ok(out)
}

/// Where `}}` closes an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(Value),
    Ident(String),
    Pipe,
    Open,
    Close(Vec<String>),
    Decl,
    Assign,
    Comma,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `.A.B` → ["A", "B"]; the text starts at a dot.
fn read_path(chars: &[char], i: &mut usize) -> Vec<String> {
    let mut path = Vec::new();
    while *i < chars.len() && chars[*i] == '.' {
        *i += 1;
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        if *i > start {
            path.push(chars[start..*i].iter().collect());
        }
    }
    path
}

fn lex(action: &str) -> Res<Vec<Tok>> {
    let chars: Vec<char> = action.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1
            }
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                i += 1;
                out.push(Tok::Close(read_path(&chars, &mut i)));
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Decl);
                i += 2
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1
            }
            '.' => out.push(Tok::Field(read_path(&chars, &mut i))),
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                out.push(Tok::Var(name, read_path(&chars, &mut i)));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err("unterminated quoted string"),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            s.push(match chars.get(i) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some(c) => *c,
                                None => return err("unterminated quoted string"),
                            });
                        }
                        Some(c) => s.push(*c),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            '`' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return err("unterminated raw quoted string");
                }
                out.push(Tok::Str(chars[start..i].iter().collect()));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let v = if let Ok(n) = s.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(f) = s.parse::<f64>() {
                    Value::from(f)
                } else {
                    return err(format!("bad number syntax: {s:?}"));
                };
                out.push(Tok::Num(v));
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(out)
}

// ---- parsing ----

fn parse_pipe(toks: &[Tok]) -> Res<Pipe> {
    let mut decl = Vec::new();
    let mut body = toks;
    // `$x :=`, `$i, $e :=`
    if let Some(pos) = toks.iter().position(|t| *t == Tok::Decl || *t == Tok::Assign) {
        let vars = &toks[..pos];
        if vars.iter().all(|t| matches!(t, Tok::Var(_, p) if p.is_empty()) || *t == Tok::Comma)
            && !vars.is_empty()
        {
            decl = vars
                .iter()
                .filter_map(|t| if let Tok::Var(n, _) = t { Some(n.clone()) } else { None })
                .collect();
            body = &toks[pos + 1..];
        }
    }
    let mut cmds = Vec::new();
    let mut i = 0;
    let mut cur: Vec<Arg> = Vec::new();
    while i < body.len() {
        match &body[i] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return err("missing command before |");
                }
                cmds.push(std::mem::take(&mut cur));
            }
            Tok::Open => {
                let mut depth = 1;
                let start = i + 1;
                let mut j = start;
                while j < body.len() {
                    match body[j] {
                        Tok::Open => depth += 1,
                        Tok::Close(_) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(Tok::Close(path)) = body.get(j) else { return err("unclosed left paren") };
                cur.push(Arg::Sub(Box::new(parse_pipe(&body[start..j])?), path.clone()));
                i = j;
            }
            Tok::Close(_) => return err("unexpected right paren"),
            Tok::Field(p) => cur.push(Arg::Field(None, p.clone())),
            Tok::Var(n, p) => cur.push(Arg::Field(Some(n.clone()), p.clone())),
            Tok::Str(s) => cur.push(Arg::Lit(Value::from(s.clone()))),
            Tok::Num(n) => cur.push(Arg::Lit(n.clone())),
            Tok::Ident(id) => match id.as_str() {
                "true" => cur.push(Arg::Lit(Value::Bool(true))),
                "false" => cur.push(Arg::Lit(Value::Bool(false))),
                "nil" => cur.push(Arg::Lit(Value::Null)),
                f if FUNCS.contains(&f) => cur.push(Arg::Ident(f.to_string())),
                f => return err(format!("function {f:?} not defined")),
            },
            Tok::Decl | Tok::Assign | Tok::Comma => return err("unexpected := or , in pipeline"),
        }
        i += 1;
    }
    if cur.is_empty() {
        return err("missing value for command");
    }
    cmds.push(cur);
    Ok(Pipe { decl, cmds })
}

enum Stop {
    End,
    Else(Option<Vec<Tok>>),
    Eof,
}

struct Parser {
    items: Vec<(bool, String, usize)>,
    pos: usize,
}

impl Parser {
    /// Nodes until `{{end}}` / `{{else ...}}` / the end of the template.
    fn list(&mut self) -> Res<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let (is_action, text, _) = self.items[self.pos].clone();
            self.pos += 1;
            if !is_action {
                nodes.push(Node::Text(text));
                continue;
            }
            if text.starts_with("/*") {
                if !text.ends_with("*/") {
                    return err("unclosed comment");
                }
                continue;
            }
            let toks = lex(&text)?;
            match toks.first() {
                None => return err("missing value for command"),
                Some(Tok::Ident(k)) if k == "end" => return Ok((nodes, Stop::End)),
                Some(Tok::Ident(k)) if k == "else" => {
                    let rest = toks[1..].to_vec();
                    return Ok((nodes, Stop::Else(if rest.is_empty() { None } else { Some(rest) })));
                }
                Some(Tok::Ident(k)) if k == "if" => nodes.push(self.if_node(&toks[1..])?),
                Some(Tok::Ident(k)) if k == "range" || k == "with" => {
                    let pipe = parse_pipe(&toks[1..])?;
                    let (body, stop) = self.list()?;
                    let alt = match stop {
                        Stop::End => Vec::new(),
                        Stop::Else(None) => match self.list()? {
                            (alt, Stop::End) => alt,
                            _ => return err(format!("expected end after {k}'s else")),
                        },
                        Stop::Else(Some(_)) => return err(format!("{k} has else with a pipeline")),
                        Stop::Eof => return err(format!("unexpected EOF: {k} has no end")),
                    };
                    nodes.push(if k == "range" {
                        Node::Range(pipe, body, alt)
                    } else {
                        Node::With(pipe, body, alt)
                    });
                }
                Some(Tok::Ident(k))
                    if ["define", "template", "block", "break", "continue"].contains(&k.as_str()) =>
                {
                    return err(format!("{k} is not supported"));
                }
                _ => nodes.push(Node::Action(parse_pipe(&toks)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn if_node(&mut self, cond: &[Tok]) -> Res<Node> {
        let mut arms = vec![(parse_pipe(cond)?, Vec::new())];
        loop {
            let (body, stop) = self.list()?;
            if let Some(last) = arms.last_mut() {
                last.1 = body;
            }
            match stop {
                Stop::End => return Ok(Node::If(arms, Vec::new())),
                Stop::Else(None) => match self.list()? {
                    (alt, Stop::End) => return Ok(Node::If(arms, alt)),
                    _ => return err("expected end after else"),
                },
                Stop::Else(Some(t)) => {
                    if t.first() != Some(&Tok::Ident("if".into())) {
                        return err("else must be followed by if or end");
                    }
                    arms.push((parse_pipe(&t[1..])?, Vec::new()));
                }
                Stop::Eof => return err("unexpected EOF: if has no end"),
            }
        }
    }
}

impl Template {
    /// Parse `src`; the error says what is wrong (the caller names the template).
    pub fn parse(src: &str) -> Res<Template> {
        let mut p = Parser { items: split_actions(src)?, pos: 0 };
        let (nodes, stop) = p.list()?;
        match stop {
            Stop::Eof => Ok(Template { nodes, strict: false }),
            Stop::End => err("unexpected {{end}}"),
            Stop::Else(_) => err("unexpected {{else}}"),
        }
    }

    /// The text of the template for `data`.
    pub fn render(&self, data: &Value) -> Res<String> {
        let mut ex = Exec { strict: self.strict, header: false, vars: vec![("$".into(), data.clone())] };
        let mut out = String::new();
        ex.nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }

    /// A table's header row: every field `.X…` (with any arguments) is
    /// `headers.X` (or X itself), as Docker renders a `table` format's header.
    pub fn render_header(&self, headers: &Value) -> Res<String> {
        let mut ex = Exec { strict: false, header: true, vars: vec![("$".into(), headers.clone())] };
        let mut out = String::new();
        ex.nodes(&self.nodes, headers, &mut out)?;
        Ok(out)
    }
}

// ---- execution ----

struct Exec {
    strict: bool,
    header: bool,
    vars: Vec<(String, Value)>,
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A value as Go's fmt prints it with %v.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_string).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_string(&m[*k]))).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

const NO_VALUE: &str = "<no value>";

impl Exec {
    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Res<()> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        out.push_str(&go_string(&v));
                    }
                }
                Node::If(arms, alt) => {
                    let depth = self.vars.len();
                    let mut done = false;
                    for (cond, body) in arms {
                        if truth(&self.pipe(cond, dot)?) {
                            self.nodes(body, dot, out)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(alt, dot, out)?;
                    }
                    self.vars.truncate(depth);
                }
                Node::With(p, body, alt) => {
                    let depth = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    if truth(&v) {
                        self.nodes(body, &v, out)?
                    } else {
                        self.nodes(alt, dot, out)?
                    }
                    self.vars.truncate(depth);
                }
                Node::Range(p, body, alt) => {
                    let depth = self.vars.len();
                    let mut q = p.clone();
                    q.decl.clear();
                    let v = self.pipe(&q, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => {
                            a.iter().enumerate().map(|(i, e)| (Value::from(i), e.clone())).collect()
                        }
                        Value::Object(m) => {
                            let mut keys: Vec<&String> = m.keys().collect();
                            keys.sort();
                            keys.into_iter().map(|k| (Value::from(k.clone()), m[k].clone())).collect()
                        }
                        Value::Number(n) if n.as_i64().is_some() => {
                            (0..n.as_i64().unwrap_or(0)).map(|i| (Value::from(i), Value::from(i))).collect()
                        }
                        Value::Null => Vec::new(),
                        Value::String(s) if s == NO_VALUE => Vec::new(),
                        other => return err(format!("range can't iterate over {}", go_string(other))),
                    };
                    if items.is_empty() {
                        self.nodes(alt, dot, out)?;
                    }
                    for (k, e) in items {
                        let inner = self.vars.len();
                        match p.decl.as_slice() {
                            [one] => self.vars.push((one.clone(), e.clone())),
                            [a, b, ..] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), e.clone()));
                            }
                            _ => {}
                        }
                        self.nodes(body, &e, out)?;
                        self.vars.truncate(inner);
                    }
                    self.vars.truncate(depth);
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Res<Value> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(Value::Null);
        if let Some(name) = p.decl.first() {
            // `$x = v` assigns an existing variable; `$x := v` declares one.
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v.clone();
            }
            self.vars.push((name.clone(), v.clone()));
        }
        Ok(v)
    }

    fn walk(&self, mut v: Value, path: &[String], shown: &str) -> Res<Value> {
        for key in path {
            v = match v {
                Value::Object(mut m) => match m.remove(key) {
                    Some(x) => x,
                    None if self.strict => {
                        return err(format!("executing at <{shown}>: map has no entry for key {key:?}"));
                    }
                    None => Value::String(NO_VALUE.into()),
                },
                Value::Null => Value::Null,
                other => {
                    return err(format!(
                        "executing at <{shown}>: can't evaluate field {key} in {}",
                        go_string(&other)
                    ));
                }
            };
        }
        Ok(v)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Res<Value> {
        match a {
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Ident(f) => self.call(f, Vec::new()),
            Arg::Sub(p, path) => {
                let v = self.pipe(p, dot)?;
                self.walk(v, path, "(...)")
            }
            Arg::Field(var, path) => {
                let base = match var {
                    None => dot.clone(),
                    Some(n) => match self.vars.iter().rev().find(|(name, _)| name == n) {
                        Some((_, v)) => v.clone(),
                        None => return err(format!("undefined variable: {n}")),
                    },
                };
                if self.header
                    && var.is_none()
                    && let Some(first) = path.first()
                {
                    return Ok(match base.get(first) {
                        Some(h) => h.clone(),
                        None => Value::String(first.to_uppercase()),
                    });
                }
                let shown = format!("{}.{}", var.clone().unwrap_or_default(), path.join("."));
                self.walk(base, path, &shown)
            }
        }
    }

    fn command(&mut self, cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Res<Value> {
        let mut args = Vec::new();
        for a in &cmd[1..] {
            args.push(self.arg(a, dot)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        match &cmd[0] {
            Arg::Ident(f) => self.call(f, args),
            first => {
                let v = self.arg(first, dot)?;
                if args.is_empty() || self.header {
                    return Ok(v);
                }
                // `.Label "k"`: a map given arguments is indexed by them (Docker's
                // methods), and a missing key is empty, as Docker's Label.
                match v {
                    Value::Object(_) => index(v, &args, false),
                    other => err(format!("can't give argument to non-function {}", go_string(&other))),
                }
            }
        }
    }

    fn call(&mut self, f: &str, args: Vec<Value>) -> Res<Value> {
        let s = |i: usize| -> String { args.get(i).map(go_string).unwrap_or_default() };
        let need = |n: usize| -> Res<()> {
            if args.len() < n {
                err(format!("wrong number of args for {f}: want {n} got {}", args.len()))
            } else {
                Ok(())
            }
        };
        Ok(match f {
            "json" => {
                need(1)?;
                Value::String(serde_json::to_string(&args[0]).unwrap_or_default())
            }
            "join" => {
                need(2)?;
                match &args[0] {
                    Value::Array(a) => Value::String(a.iter().map(go_string).collect::<Vec<_>>().join(&s(1))),
                    other => Value::String(go_string(other)),
                }
            }
            "lower" => Value::String(s(0).to_lowercase()),
            "upper" => Value::String(s(0).to_uppercase()),
            "title" => Value::String(title(&s(0))),
            "split" => {
                need(2)?;
                Value::Array(s(0).split(s(1).as_str()).map(|p| Value::String(p.into())).collect())
            }
            "truncate" => {
                need(2)?;
                let n = args[1].as_i64().unwrap_or(0).max(0) as usize;
                Value::String(s(0).chars().take(n).collect())
            }
            "pad" => {
                need(3)?;
                let (a, b) = (
                    args[1].as_i64().unwrap_or(0).max(0) as usize,
                    args[2].as_i64().unwrap_or(0).max(0) as usize,
                );
                Value::String(format!("{}{}{}", " ".repeat(a), s(0), " ".repeat(b)))
            }
            "print" => Value::String(sprint(&args)),
            "println" => Value::String(args.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n"),
            "printf" => {
                need(1)?;
                Value::String(printf(&s(0), &args[1..]))
            }
            "eq" => {
                need(2)?;
                Value::Bool(args[1..].iter().any(|b| same(&args[0], b)))
            }
            "ne" => {
                need(2)?;
                Value::Bool(!same(&args[0], &args[1]))
            }
            "lt" | "le" | "gt" | "ge" => {
                need(2)?;
                let ord = compare(&args[0], &args[1])?;
                Value::Bool(match f {
                    "lt" => ord.is_lt(),
                    "le" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            "and" => {
                need(1)?;
                args.iter().find(|a| !truth(a)).unwrap_or(&args[args.len() - 1]).clone()
            }
            "or" => {
                need(1)?;
                args.iter().find(|a| truth(a)).unwrap_or(&args[args.len() - 1]).clone()
            }
            "not" => {
                need(1)?;
                Value::Bool(!truth(&args[0]))
            }
            "len" => {
                need(1)?;
                Value::from(match &args[0] {
                    Value::String(x) => x.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    other => return err(format!("len of {}", go_string(other))),
                })
            }
            "index" => {
                need(1)?;
                index(args[0].clone(), &args[1..], false)?
            }
            other => return err(format!("function {other:?} not defined")),
        })
    }
}

fn index(mut v: Value, keys: &[Value], strict: bool) -> Res<Value> {
    for k in keys {
        v = match (v, k) {
            (Value::Object(mut m), key) => match m.remove(&go_string(key)) {
                Some(x) => x,
                None if strict => return err(format!("map has no entry for key {:?}", go_string(key))),
                // The zero value of Docker's string maps (labels), not Go's <no value>.
                None => Value::String(String::new()),
            },
            (Value::Array(a), Value::Number(n)) => match n.as_u64().and_then(|i| a.get(i as usize)) {
                Some(x) => x.clone(),
                None => return err(format!("index out of range: {n}")),
            },
            (Value::Null, _) => Value::Null,
            (other, _) => return err(format!("can't index item of type {}", go_string(&other))),
        };
    }
    Ok(v)
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Res<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(std::cmp::Ordering::Equal)),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => err("incompatible types for comparison"),
    }
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase())
        } else {
            out.push(c)
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// fmt.Sprint: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_string(a));
    }
    out
}

/// fmt.Sprintf for %s %v %d %q %f %x %t %%, with flags `-`, `0`, width and precision.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut width, mut prec) = (false, false, String::new(), None::<String>);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' if width.is_empty() => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let prec_n = prec.as_deref().and_then(|p| p.parse::<usize>().ok().or(Some(0)));
        let mut text = match verb {
            'd' => arg
                .as_f64()
                .map(|f| format!("{}", f as i64))
                .unwrap_or_else(|| format!("%!d({})", go_string(arg))),
            'f' | 'g' | 'e' => match arg.as_f64() {
                Some(f) => format!("{:.*}", prec_n.unwrap_or(6), f),
                None => format!("%!f({})", go_string(arg)),
            },
            'x' => match arg {
                Value::Number(n) => format!("{:x}", n.as_i64().unwrap_or(0)),
                other => go_string(other).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            'q' => serde_json::to_string(&go_string(arg)).unwrap_or_default(),
            't' | 's' | 'v' => {
                let s = go_string(arg);
                match prec_n {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            other => format!("%!{other}({})", go_string(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let n = text.chars().count();
        if n < w {
            let pad = w - n;
            if left {
                text.push_str(&" ".repeat(pad));
            } else if zero && verb != 's' {
                text = format!("{}{text}", "0".repeat(pad));
            } else {
                text = format!("{}{text}", " ".repeat(pad));
            }
        }
        out.push_str(&text);
    }
    if next < args.len() {
        out.push_str(&format!(
            "%!(EXTRA {})",
            args[next..].iter().map(go_string).collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// Docker's preparation of a `--format`: `\t` and `\n` written as two
/// characters become a tab and a newline.
pub fn docker_escapes(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// Cells of rendered rows split at tabs, aligned as Docker's tabwriter
/// (minimum width 10, padding 3): the lines of a `table` format.
pub fn tabulate(lines: &[String]) -> Vec<String> {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: HashMap<usize, usize> = HashMap::new();
    for row in &cells {
        for (i, c) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let w = widths.entry(i).or_insert(0);
            *w = (*w).max(c.chars().count() + 3).max(10);
        }
    }
    cells
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate() {
                line.push_str(c);
                if i + 1 < row.len() {
                    let w = widths.get(&i).copied().unwrap_or(0);
                    line.push_str(&" ".repeat(w.saturating_sub(c.chars().count())));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: Value) -> String {
        match Template::parse(t) {
            Ok(tpl) => tpl.render(&v).unwrap_or_else(|e| format!("ERR {e}")),
            Err(e) => format!("PARSE {e}"),
        }
    }

    #[test]
    fn fields_nested_paths_and_missing_keys() {
        let v = json!({"ID": "abc", "State": {"Status": "running", "Pid": 42}});
        assert_eq!(r("{{.ID}} {{.State.Status}} {{ .State.Pid }}", v.clone()), "abc running 42");
        assert_eq!(r("{{.Nope}}", v.clone()), "<no value>");
        let mut strict = Template::parse("{{.Nope}}").expect("parse");
        strict.strict = true;
        assert!(strict.render(&v).is_err());
        assert_eq!(r("{{.}}", json!("x")), "x");
        assert_eq!(r("{{$.ID}}{{with .State}}{{.Pid}}{{end}}", v), "abc42");
    }

    #[test]
    fn json_and_index_and_method_style_calls() {
        let v = json!({"Labels": {"a": "1", "b c": "2"}, "L": [1, 2]});
        assert_eq!(r("{{json .Labels}}", v.clone()), r#"{"a":"1","b c":"2"}"#);
        assert_eq!(r(r#"{{index .Labels "b c"}}"#, v.clone()), "2");
        assert_eq!(r(r#"{{.Labels "a"}}"#, v.clone()), "1");
        assert_eq!(r(r#"[{{.Labels "zz"}}]"#, v.clone()), "[]");
        assert_eq!(r("{{index .L 1}}", v.clone()), "2");
        assert_eq!(r("{{json .}}", json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn control_flow() {
        let v = json!({"S": "running", "N": 0, "Xs": ["a", "b"], "M": {"k2": 2, "k1": 1}});
        assert_eq!(r(r#"{{if eq .S "running"}}up{{else}}down{{end}}"#, v.clone()), "up");
        assert_eq!(r(r#"{{if eq .S "x" "running"}}any{{end}}"#, v.clone()), "any");
        assert_eq!(r(r#"{{if ne .S "running"}}a{{else if .N}}b{{else}}c{{end}}"#, v.clone()), "c");
        assert_eq!(r(r#"{{if and .S (not .N)}}yes{{end}}"#, v.clone()), "yes");
        assert_eq!(r(r#"{{or .N "dflt"}}"#, v.clone()), "dflt");
        assert_eq!(r("{{range .Xs}}[{{.}}]{{end}}", v.clone()), "[a][b]");
        assert_eq!(r("{{range $i, $e := .Xs}}{{$i}}={{$e}} {{end}}", v.clone()), "0=a 1=b ");
        assert_eq!(r("{{range $k, $v := .M}}{{$k}}:{{$v}},{{end}}", v.clone()), "k1:1,k2:2,");
        assert_eq!(r("{{range .None}}x{{else}}empty{{end}}", v.clone()), "empty");
        assert_eq!(r("{{range .L}}x{{else}}empty{{end}}", json!({"L": []})), "empty");
        assert_eq!(r("{{$x := .S}}{{$x}}", v), "running");
    }

    #[test]
    fn pipelines_and_functions() {
        let v = json!({"Name": "Bird cage", "Xs": ["a", "b"]});
        assert_eq!(r("{{.Name | lower}}", v.clone()), "bird cage");
        assert_eq!(r("{{.Name | upper}}", v.clone()), "BIRD CAGE");
        assert_eq!(r("{{title \"hello world\"}}", v.clone()), "Hello World");
        assert_eq!(r(r#"{{join .Xs ", "}}"#, v.clone()), "a, b");
        assert_eq!(r(r#"{{split "a:b" ":"}}"#, v.clone()), "[a b]");
        assert_eq!(r(r#"{{truncate .Name 4}}"#, v.clone()), "Bird");
        assert_eq!(r(r#"[{{pad .Name 1 2}}]"#, v.clone()), "[ Bird cage  ]");
        assert_eq!(r(r#"{{printf "%-6s|%3d|%.1f|%q" "ab" 7 2.25 "x"}}"#, v.clone()), r#"ab    |  7|2.2|"x""#);
        assert_eq!(r(r#"{{println "a" 1}}"#, v.clone()), "a 1\n");
        assert_eq!(r(r#"{{len .Xs}} {{(index .Xs 0) | upper}}"#, v), "2 A");
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(r("a  {{- \"b\" -}}  c", json!({})), "abc");
        assert_eq!(r("a{{/* note */}}b", json!({})), "ab");
        assert_eq!(r("x{{ \"}}\" }}y", json!({})), "x}}y");
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert!(r("{{.ID", json!({})).starts_with("PARSE unclosed action"));
        assert!(r("{{if .A}}x", json!({})).contains("if has no end"));
        assert!(r("{{end}}", json!({})).contains("unexpected {{end}}"));
        assert!(r("{{nosuch .A}}", json!({})).contains("function \"nosuch\" not defined"));
        assert!(r("{{\"abc}}", json!({})).starts_with("PARSE"));
    }

    #[test]
    fn headers_and_tables() {
        let t = Template::parse("table {{.ID}}\t{{.Label \"k\"}}\t{{.Names}}").expect("parse");
        let h = t.render_header(&json!({"ID": "CONTAINER ID", "Label": "LABEL"})).expect("header");
        assert_eq!(h, "table CONTAINER ID\tLABEL\tNAMES");
        let lines = tabulate(&["A\tBB\tC".to_string(), "LONGER VALUE\tx\ty".to_string()]);
        assert_eq!(lines, ["A              BB        C", "LONGER VALUE   x         y"]);
        assert_eq!(docker_escapes(r"{{.A}}\t{{.B}}\n"), "{{.A}}\t{{.B}}\n");
    }
}
