use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parse a `Retry-After` header value: delay in seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let now = chrono::Utc::now();
    let wait = when.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Time until a rate-limit reset given as UTC epoch seconds (`x-ratelimit-reset`,
/// `X-Rate-Limit-Reset`). A reset in the past yields zero.
pub fn parse_reset_epoch(value: &str) -> Option<Duration> {
    let reset = value.trim().parse::<u64>().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("42"), Some(Duration::from_secs(42)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_http_date_in_past_is_zero() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_none() {
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn reset_epoch_future() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let wait = parse_reset_epoch(&(now + 30).to_string()).unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
        assert_eq!(parse_reset_epoch("1"), Some(Duration::ZERO));
    }
}
