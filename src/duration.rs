//! Durations as users write them in plans and config: `500ms`, `30s`, `15m`, `24h`,
//! `7d`, `90d`, `2w`, `1h30m`, `1h 30m`.
//!
//! A duration is one or more `<whole number><unit>` parts, optionally separated by
//! spaces. Units: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w` (and the long forms `sec`,
//! `min`, `hour(s)`, `day(s)`, `week(s)`…). Units are lower case so `m` (minutes) can
//! never be mistaken for months; months and years are refused (write days). Zero,
//! empty, negative, fractional and absurdly long (over [`MAX_DURATION_DAYS`] days)
//! durations are refused with a message naming the offending text.
//!
//! Three ways to use it: [`parse_duration`] / [`format_duration`]; the serde helpers in
//! [`text`] (`#[serde(with = "crate::duration::text")]` on a `std::time::Duration`);
//! or the [`PlanDuration`] type, which keeps the text as written.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest accepted duration, in days (100 years). Longer values are almost
/// certainly typos and would overflow millisecond counters downstream.
pub const MAX_DURATION_DAYS: u64 = 36_500;

/// A JSON Schema / ECMA-262 pattern for duration strings (it does not exclude zero).
pub const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*(ns|nsecs?|nanos|nanoseconds?|us|usecs?|micros|microseconds?|ms|msecs?|millis|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*)+$";

const EXAMPLES: &str = "e.g. 30s, 15m, 24h, 7d, 1h30m";

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Nanoseconds per unit, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" | "nsec" | "nsecs" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "us" | "usec" | "usecs" | "micros" | "microsecond" | "microseconds" => 1_000,
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SEC,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * NANOS_PER_SEC,
        "d" | "day" | "days" => 86_400 * NANOS_PER_SEC,
        "w" | "week" | "weeks" => 7 * 86_400 * NANOS_PER_SEC,
        _ => return None,
    })
}

fn unknown_unit(text: &str, unit: &str) -> String {
    let hint = match unit {
        "M" | "mo" | "mon" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" => {
            "months and years are not supported, write days (e.g. 90d, 365d)".to_string()
        }
        _ if unit_nanos(&unit.to_ascii_lowercase()).is_some() => {
            format!("units are lower case (`{}`)", unit.to_ascii_lowercase())
        }
        _ => "known units: ms, s, m, h, d, w".to_string(),
    };
    format!("invalid duration `{text}`: unknown unit `{unit}`; {hint}")
}

/// Parse a duration as users write it. The error names the text and what is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration ({EXAMPLES})"));
    }
    if trimmed.starts_with('-') {
        return Err(format!(
            "invalid duration `{trimmed}`: must be positive ({EXAMPLES})"
        ));
    }
    let mut total: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            let found = rest.chars().next().unwrap_or(' ');
            return Err(format!(
                "invalid duration `{trimmed}`: expected a number at `{found}` ({EXAMPLES})"
            ));
        }
        let digits = &rest[..digits_end];
        rest = rest[digits_end..].trim_start();
        if rest.starts_with(['.', ',']) {
            return Err(format!(
                "invalid duration `{trimmed}`: fractions are not supported, combine units instead (e.g. 1h30m)"
            ));
        }
        let unit_end = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        if unit.is_empty() {
            return Err(format!(
                "invalid duration `{trimmed}`: `{digits}` needs a unit ({EXAMPLES})"
            ));
        }
        let per_unit = unit_nanos(unit).ok_or_else(|| unknown_unit(trimmed, unit))?;
        let too_large = || {
            format!("invalid duration `{trimmed}`: too long (the limit is {MAX_DURATION_DAYS}d)")
        };
        let value: u128 = digits.parse().map_err(|_| too_large())?;
        total = value
            .checked_mul(per_unit)
            .and_then(|part| total.checked_add(part))
            .filter(|t| *t <= u128::from(MAX_DURATION_DAYS) * 86_400 * NANOS_PER_SEC)
            .ok_or_else(too_large)?;
        rest = rest[unit_end..].trim_start();
    }
    if total == 0 {
        return Err(format!(
            "invalid duration `{trimmed}`: must be greater than zero"
        ));
    }
    // Bounded by MAX_DURATION_DAYS above, so both parts fit.
    let secs = u64::try_from(total / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let nanos = u32::try_from(total % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Format a duration compactly, the way it would be written: `15m`, `1h30m`, `7d`,
/// `500ms`. Lossless: `parse_duration(&format_duration(d)) == Ok(d)` for any non-zero
/// duration within the limit. Zero formats as `0s`.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_nanos();
    if total == 0 {
        return "0s".to_string();
    }
    let mut rest = total;
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400 * NANOS_PER_SEC),
        ("h", 3_600 * NANOS_PER_SEC),
        ("m", 60 * NANOS_PER_SEC),
        ("s", NANOS_PER_SEC),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        let count = rest / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            rest %= size;
        }
    }
    out
}

/// Serde helpers storing a `std::time::Duration` as its text (`"15m"`):
/// `#[serde(with = "crate::duration::text")]`.
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Duration>` (`#[serde(default, with = "…::text::option")]`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use std::time::Duration;

        pub fn serialize<S: Serializer>(
            duration: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match duration {
                Some(d) => s.serialize_str(&super::super::format_duration(*d)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::super::parse_duration(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A duration that remembers how it was written: deserializes from a string
/// (`"90d"`), serializes back to that same text, and documents itself in JSON Schema
/// as a string with [`DURATION_PATTERN`]. Equality and order are by length of time.
#[derive(Debug, Clone)]
pub struct PlanDuration {
    text: String,
    duration: Duration,
}

impl PlanDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let duration = parse_duration(text)?;
        Ok(Self {
            text: text.trim().to_string(),
            duration,
        })
    }

    /// The length of time.
    pub fn get(&self) -> Duration {
        self.duration
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<Duration> for PlanDuration {
    fn from(duration: Duration) -> Self {
        Self {
            text: format_duration(duration),
            duration,
        }
    }
}

impl From<PlanDuration> for Duration {
    fn from(value: PlanDuration) -> Self {
        value.duration
    }
}

impl FromStr for PlanDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for PlanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for PlanDuration {
    fn eq(&self, other: &Self) -> bool {
        self.duration == other.duration
    }
}

impl Eq for PlanDuration {}

impl PartialOrd for PlanDuration {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PlanDuration {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.duration.cmp(&other.duration)
    }
}

impl std::hash::Hash for PlanDuration {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.duration.hash(state);
    }
}

impl Serialize for PlanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PlanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for PlanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        duration_schema()
    }
}

/// The JSON Schema of a duration string.
pub fn duration_schema() -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": "A duration: whole numbers with units ms, s, m, h, d, w (e.g. 30s, 15m, 24h, 7d, 1h30m).",
        "examples": ["30s", "15m", "24h", "7d", "1h30m"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn parses_what_users_write() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("15m", Duration::from_secs(900)),
            ("24h", Duration::from_secs(DAY)),
            ("7d", Duration::from_secs(7 * DAY)),
            ("90d", Duration::from_secs(90 * DAY)),
            ("2w", Duration::from_secs(14 * DAY)),
            ("1h30m", Duration::from_secs(5_400)),
            ("1h 30m", Duration::from_secs(5_400)),
            (" 2 days ", Duration::from_secs(2 * DAY)),
            ("1m30s250ms", Duration::from_millis(90_250)),
            ("10 minutes", Duration::from_secs(600)),
            ("36500d", Duration::from_secs(MAX_DURATION_DAYS * DAY)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn refuses_nonsense_with_the_offending_text() {
        for (bad, says) in [
            ("", "empty duration"),
            ("  ", "empty duration"),
            ("0", "needs a unit"),
            ("0s", "greater than zero"),
            ("0h0m", "greater than zero"),
            ("-5m", "must be positive"),
            ("15", "`15` needs a unit"),
            ("fifteen minutes", "expected a number at `f`"),
            ("1.5h", "fractions are not supported"),
            ("3M", "months and years are not supported"),
            ("1y", "months and years are not supported"),
            ("5H", "units are lower case (`h`)"),
            ("5 fortnights", "unknown unit `fortnights`"),
            ("15m!", "expected a number at `!`"),
            ("36501d", "too long"),
            ("99999999999999999999d", "too long"),
            ("999999999999999999999999999999999999999999999w", "too long"),
        ] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(error.contains(says), "{bad:?}: {error}");
            if !bad.trim().is_empty() {
                assert!(
                    error.contains(&format!("`{}`", bad.trim())),
                    "{bad:?}: {error}"
                );
            }
        }
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        for (text, formatted) in [
            ("15m", "15m"),
            ("24h", "1d"),
            ("7d", "7d"),
            ("2w", "14d"),
            ("90d", "90d"),
            ("1h 30m", "1h30m"),
            ("500ms", "500ms"),
            ("1d1h1m1s1ms", "1d1h1m1s1ms"),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), formatted);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::ZERO), "0s");
        let odd = Duration::new(3_661, 1_001_001);
        assert_eq!(format_duration(odd), "1h1m1s1ms1us1ns");
        assert_eq!(parse_duration(&format_duration(odd)), Ok(odd));
    }

    #[test]
    fn plan_duration_keeps_its_text() {
        let d: PlanDuration = serde_json::from_str("\"1h 30m\"").unwrap();
        assert_eq!(d.get(), Duration::from_secs(5_400));
        assert_eq!(d.to_string(), "1h 30m");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h 30m\"");
        assert_eq!(d, PlanDuration::from(Duration::from_secs(5_400)));
        assert_eq!(
            PlanDuration::from(Duration::from_secs(90)).as_str(),
            "1m30s"
        );
        let error = serde_json::from_str::<PlanDuration>("\"soon\"").unwrap_err();
        assert!(error.to_string().contains("`soon`"), "{error}");
        assert!(serde_json::from_str::<PlanDuration>("15").is_err());
    }

    #[test]
    fn schema_is_a_string_with_a_pattern() {
        let schema = serde_json::to_value(schemars::schema_for!(PlanDuration)).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["pattern"], DURATION_PATTERN);
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct WithHelpers {
        #[serde(with = "text")]
        every: Duration,
        #[serde(default, with = "text::option")]
        timeout: Option<Duration>,
    }

    #[test]
    fn serde_helpers_round_trip() {
        let value: WithHelpers = serde_json::from_str(r#"{"every": "2w"}"#).unwrap();
        assert_eq!(value.every, Duration::from_secs(14 * DAY));
        assert_eq!(value.timeout, None);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"every":"14d","timeout":null}"#);
        assert_eq!(serde_json::from_str::<WithHelpers>(&json).unwrap(), value);
        let error = serde_json::from_str::<WithHelpers>(r#"{"every": "0s"}"#).unwrap_err();
        assert!(error.to_string().contains("greater than zero"), "{error}");
    }
}
