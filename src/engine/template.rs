//! `template::` — Go text/template, as Docker's `--format` (`runtime::template`).

use super::{RhaiResult, at};
use crate::runtime::template;
use rhai::plugin::*;
use rhai::{Array, Map};

/// A parsed template (`template::parse`), rendered row by row.
#[derive(Clone)]
pub struct Template(std::rc::Rc<template::Template>);

fn invalid(text: &str, e: impl std::fmt::Display) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), "invalid".into());
    m.insert("message".into(), format!("invalid template {text:?}: {e}").into());
    EvalAltResult::ErrorRuntime(m.into(), Position::NONE).into()
}

fn value(v: &Dynamic) -> RhaiResult<serde_json::Value> {
    rhai::serde::from_dynamic(v)
}

fn parse_text(text: &str, strict: bool) -> RhaiResult<Template> {
    let mut t = template::Template::parse(text).map_err(|e| invalid(text, e))?;
    t.strict = strict;
    Ok(Template(std::rc::Rc::new(t)))
}

fn failed(e: impl std::fmt::Display) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), "invalid".into());
    m.insert("message".into(), format!("template: {e}").into());
    EvalAltResult::ErrorRuntime(m.into(), Position::NONE).into()
}

fn render_one(t: &Template, data: &Dynamic) -> RhaiResult<String> {
    t.0.render(&value(data)?).map_err(failed)
}

#[export_module]
mod api {
    use super::*;

    /// Parse `text` once to render many values; throws kind `invalid` naming
    /// the template and what is wrong. A field missing from a map renders
    /// `<no value>`, as Go's.
    #[rhai_fn(return_raw)]
    pub fn parse(ctx: NativeCallContext, text: &str) -> RhaiResult<Template> {
        at(&ctx, || parse_text(text, false))
    }

    /// `parse`, and with `strict` a field missing from a map is an error
    /// (as Docker's `ps --format` fields are).
    #[rhai_fn(name = "parse", return_raw)]
    pub fn parse_strict(ctx: NativeCallContext, text: &str, strict: bool) -> RhaiResult<Template> {
        at(&ctx, || parse_text(text, strict))
    }

    /// Render `text` for `data` (a map, array or value); throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn render(ctx: NativeCallContext, text: &str, data: Dynamic) -> RhaiResult<String> {
        at(&ctx, || render_one(&parse_text(text, false)?, &data))
    }

    /// The template's text for `data`; throws kind `invalid` when a field or function fails.
    #[rhai_fn(name = "render", global, return_raw)]
    pub fn render_parsed(ctx: NativeCallContext, t: &mut Template, data: Dynamic) -> RhaiResult<String> {
        at(&ctx, || render_one(t, &data))
    }

    /// The template's text for each item of `rows`.
    #[rhai_fn(global, return_raw)]
    pub fn render_all(ctx: NativeCallContext, t: &mut Template, rows: Array) -> RhaiResult<Array> {
        at(&ctx, || rows.iter().map(|r| render_one(t, r).map(Dynamic::from)).collect())
    }

    /// A `table` format's header: each field `.X` is `headers.X` (or X in capitals).
    #[rhai_fn(global, return_raw)]
    pub fn header(ctx: NativeCallContext, t: &mut Template, headers: Map) -> RhaiResult<String> {
        at(&ctx, || t.0.render_header(&value(&Dynamic::from_map(headers))?).map_err(failed))
    }

    /// Docker's reading of a `--format`: `\t` and `\n` typed as two characters
    /// become a tab and a newline.
    pub fn unescape(text: &str) -> String {
        template::docker_escapes(text)
    }

    /// Lines split at tabs and aligned as Docker's tables (columns at least
    /// 10 wide, 3 spaces between).
    pub fn tabulate(lines: Array) -> Array {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        template::tabulate(&lines).into_iter().map(Dynamic::from).collect()
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
