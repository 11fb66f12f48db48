//! Wall-clock time as containers' records, logs and people spell it: Unix
//! nanoseconds in, RFC 3339 out, and back; Docker's `--since`/`--until`
//! forms; Docker's wording of a duration ("Up 5 minutes").

use super::civil::{civil_from_days, days_from_civil};
use super::error::{Error, Result};

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_secs() as i64 * 1_000_000_000 + i64::from(now.subsec_nanos())
}

/// RFC 3339 in UTC with `digits` (0, 3 or 9) of fractional second:
/// `2026-12-02T13:57:02.123Z`.
pub fn format(ns: i64, digits: u32) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let date = format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
    match digits {
        0 => format!("{date}Z"),
        3 => format!("{date}.{:03}Z", frac / 1_000_000),
        _ => format!("{date}.{frac:09}Z"),
    }
}

fn invalid(text: &str, what: &str) -> Error {
    Error::invalid(format!("invalid time \"{text}\": {what}"))
}

/// Nanoseconds since the epoch of an RFC 3339 time: `2026-12-02T13:57:02Z`,
/// with an optional fraction and a `Z` or `±HH:MM` zone; the date alone, or
/// date and time without a zone, are UTC (as Docker reads them).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo as u32, d as u32) * 86_400;
    let mut frac = 0i64;
    let mut i = 10;
    if i < b.len() {
        if b[i] != b'T' && b[i] != b't' && b[i] != b' ' {
            return None;
        }
        if b.len() < i + 9 || b[i + 3] != b':' || b[i + 6] != b':' {
            return None;
        }
        let (h, mi, s) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?, num(i + 7..i + 9)?);
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + s;
        i += 9;
        if i < b.len() && b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &text[start..i];
            if digits.is_empty() {
                return None;
            }
            let mut padded: String = digits.chars().take(9).collect();
            while padded.len() < 9 {
                padded.push('0');
            }
            frac = padded.parse().ok()?;
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
                secs -= if sign == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    Some(secs * 1_000_000_000 + frac)
}

/// Nanoseconds in a Go duration: `300ms`, `1.5s`, `10m`, `1h30m`, `2h45m10s`
/// (units ns, us, µs, ms, s, m, h).
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Some(total as i64)
}

/// A point in time as Docker's `--since`/`--until` take it: RFC 3339 (or its
/// date, or date and time), Unix seconds with an optional fraction
/// (`1733150000.5`), or a duration before `now` (`10m`, `1h30m`).
pub fn parse_instant(text: &str, now: i64) -> Result<i64> {
    let t = text.trim();
    if let Some(ns) = parse_rfc3339(t) {
        return Ok(ns);
    }
    if !t.is_empty()
        && t.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && t.bytes().filter(|&c| c == b'.').count() <= 1
    {
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let secs: i64 = whole.parse().map_err(|_| invalid(text, "seconds out of range"))?;
        let mut f: String = frac.chars().take(9).collect();
        while f.len() < 9 {
            f.push('0');
        }
        let nanos: i64 = f.parse().unwrap_or(0);
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(nanos))
            .ok_or_else(|| invalid(text, "seconds out of range"));
    }
    if let Some(d) = parse_duration(t) {
        return Ok(now - d);
    }
    Err(invalid(text, "use RFC 3339 (2026-12-02T10:00:00Z), Unix seconds, or a duration such as 10m"))
}

/// A duration in seconds as Docker words it (go-units' HumanDuration):
/// "Less than a second", "About a minute", "5 minutes", "About an hour",
/// "3 hours", "4 days", "2 weeks", "3 months", "2 years".
pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let ns = 1_764_683_822_123_456_789;
        assert_eq!(format(ns, 9), "2025-12-02T13:57:02.123456789Z");
        assert_eq!(format(ns, 3), "2025-12-02T13:57:02.123Z");
        assert_eq!(format(ns, 0), "2025-12-02T13:57:02Z");
        assert_eq!(parse_rfc3339("2025-12-02T13:57:02.123456789Z"), Some(ns));
        assert_eq!(parse_rfc3339("2025-12-02T14:57:02.123456789+01:00"), Some(ns));
        assert_eq!(parse_rfc3339("1970-01-01"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        for bad in [
            "2025-13-01",
            "2025-12-02T25:00:00Z",
            "2025-12-02T13:57",
            "2025-12-02T13:57:02+0100",
            "yesterday",
            "2025-12-02T13:57:02.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_as_docker_takes_them() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(parse_instant("1733150000", now).ok(), Some(1_733_150_000_000_000_000));
        assert_eq!(parse_instant("1733150000.5", now).ok(), Some(1_733_150_000_500_000_000));
        assert_eq!(parse_instant("10m", now).ok(), Some(now - 600_000_000_000));
        assert_eq!(parse_instant("1h30m", now).ok(), Some(now - 5_400_000_000_000));
        assert_eq!(parse_instant("1.5s", now).ok(), Some(now - 1_500_000_000));
        let e = parse_instant("soon", now).unwrap_err().to_string();
        assert!(e.contains("\"soon\""), "{e}");
        assert!(parse_instant("10x", now).is_err());
        assert!(parse_instant("1.2.3", now).is_err());
    }

    #[test]
    fn durations_worded_as_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(4 * 86_400), "4 days");
        assert_eq!(human_duration(15 * 86_400), "2 weeks");
        assert_eq!(human_duration(90 * 86_400), "3 months");
        assert_eq!(human_duration(800 * 86_400), "2 years");
    }
}
