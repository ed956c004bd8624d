//! Numbers, times and sizes as haproxy.cfg writes them.

use std::time::Duration;

/// The largest timer HAProxy accepts: 2^31-1 milliseconds (about 24.8 days).
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Parses a time: a bare number is milliseconds; suffixes `us`, `ms`, `s`, `m`, `h`, `d`.
pub fn parse_time(s: &str) -> Result<Duration, String> {
    let expected = || {
        format!("expected a time such as '500', '500ms', '2s', '1m' (units: us, ms, s, m, h, d; no unit means ms), got '{s}'")
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(expected());
    }
    let n: u64 = s[..digits].parse().map_err(|_| expected())?;
    let d = match &s[digits..] {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => n
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(expected)?,
        "h" => n
            .checked_mul(3600)
            .map(Duration::from_secs)
            .ok_or_else(expected)?,
        "d" => n
            .checked_mul(86400)
            .map(Duration::from_secs)
            .ok_or_else(expected)?,
        _ => return Err(expected()),
    };
    if d.as_millis() > u128::from(MAX_TIMER_MS) {
        return Err(format!(
            "time '{s}' is too large: timers are limited to 2147483647 ms (about 24.8 days)"
        ));
    }
    Ok(d)
}

/// Parses a size in bytes: a bare number, or with a `k`, `m` or `g` suffix (1024-based, either case).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let expected =
        || format!("expected a size such as '16384', '16k', '1m', '1g' (1024-based), got '{s}'");
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(expected());
    }
    let n: u64 = s[..digits].parse().map_err(|_| expected())?;
    let mult: u64 = match &s[digits..] {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return Err(expected()),
    };
    n.checked_mul(mult).ok_or_else(expected)
}

/// Parses a non-negative integer within `min..=max`.
pub fn parse_uint(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = match s.parse() {
        Ok(n) if !s.starts_with('+') => n,
        _ => {
            return Err(format!(
                "expected an integer between {min} and {max}, got '{s}'"
            ))
        }
    };
    if n < min || n > max {
        return Err(format!(
            "expected an integer between {min} and {max}, got '{s}'"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_time("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_time("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_time("0"), Ok(Duration::ZERO));
        for bad in [
            "",
            "s",
            "5x",
            "-1",
            "1.5s",
            "5 s",
            "30d",
            "99999999999999999999999",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_time("5x").unwrap_err().contains("expected a time"));
        assert!(parse_time("30d").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        for bad in ["", "k", "1t", "1kb", "-1", "99999999999999999g"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint("7", 0, 10), Ok(7));
        assert!(parse_uint("11", 0, 10).is_err());
        assert!(parse_uint("+1", 0, 10).is_err());
        assert!(parse_uint("x", 0, 10)
            .unwrap_err()
            .contains("between 0 and 10"));
    }
}
