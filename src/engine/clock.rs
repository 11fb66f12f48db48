//! `clock::` — wall-clock time in Unix nanoseconds, RFC 3339 text, and
//! Docker's wording of durations.

use super::{RhaiResult, at, rt};
use crate::runtime::clock;
use rhai::plugin::*;

#[export_module]
mod api {
    use super::*;

    /// Nanoseconds since the Unix epoch, now.
    pub fn now() -> i64 {
        clock::now_ns()
    }

    /// Nanoseconds since the epoch of `text` as Docker's `--since`/`--until`
    /// take it: RFC 3339 (`2026-12-02T10:00:00Z`, a date, or date and time in
    /// UTC), Unix seconds (`1764669600.5`), or a duration before now (`10m`,
    /// `1h30m`); throws kind `invalid` naming the text.
    #[rhai_fn(return_raw)]
    pub fn parse(ctx: NativeCallContext, text: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(clock::parse_instant(text, clock::now_ns())))
    }

    /// RFC 3339 UTC text of `ns` with nanoseconds: `2026-12-02T13:57:02.123456789Z`.
    pub fn format(ns: i64) -> String {
        clock::format(ns, 9)
    }

    /// RFC 3339 UTC text of `ns` with `digits` (0, 3 or 9) of fractional second.
    #[rhai_fn(name = "format")]
    pub fn format_digits(ns: i64, digits: i64) -> String {
        clock::format(ns, digits.clamp(0, 9) as u32)
    }

    /// Nanoseconds in a Go duration (`300ms`, `1.5s`, `1h30m`); throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn duration(ctx: NativeCallContext, text: &str) -> RhaiResult<i64> {
        at(&ctx, || {
            rt(clock::parse_duration(text).ok_or_else(|| {
                crate::runtime::error::Error::invalid(format!(
                    "invalid duration \"{text}\": use e.g. 300ms, 10s, 1h30m"
                ))
            }))
        })
    }

    /// `secs` seconds as Docker words them: "Less than a second", "About a
    /// minute", "5 minutes", "3 hours", "2 weeks" (as in `Up 5 minutes`).
    pub fn human(secs: i64) -> String {
        clock::human_duration(secs)
    }

    /// Seconds from the RFC 3339 time `text` to now (negative for the future);
    /// `()` when `text` is not a time.
    pub fn seconds_since(text: &str) -> Dynamic {
        match clock::parse_rfc3339(text) {
            Some(ns) => Dynamic::from_int((clock::now_ns() - ns).div_euclid(1_000_000_000)),
            None => Dynamic::UNIT,
        }
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
