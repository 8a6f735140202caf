//! Durations as users write them in plans and config: `500ms`, `30s`, `15m`, `24h`,
//! `7d`, `2w`, `1h30m`. Parsing is humantime's; zero and empty are refused.

use std::time::Duration;

/// Parse a duration; the error names the text and the expected form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration (expected e.g. 30s, 15m, 24h, 7d)".to_string());
    }
    let duration = humantime::parse_duration(trimmed).map_err(|e| {
        format!("invalid duration `{trimmed}`: {e} (expected e.g. 30s, 15m, 24h, 7d)")
    })?;
    if duration.is_zero() {
        return Err(format!(
            "invalid duration `{trimmed}`: must be greater than zero"
        ));
    }
    Ok(duration)
}

/// Format a duration the way it is written (`15m`, `1h 30m`).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Serde helpers storing a `Duration` as its text (`"15m"`).
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

    /// The same for `Option<Duration>`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_write() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "  ",
            "0",
            "0s",
            "fifteen minutes",
            "-5m",
            "15",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_duration("soon").unwrap_err().contains("`soon`"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["15m", "24h", "7days", "500ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
