//! The status line of an HTTP/1 response, as the HTTP checks read it (below both the check context, which
//! exposes the status to `http-check` rules, and the response judge in `response.rs`).

/// A parsed status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// The three-digit status code.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a [u8],
}

/// Parses `HTTP/x.y SP NNN [SP reason]` (without the line ending); `None` when malformed.
pub fn parse_status_line(line: &[u8]) -> Option<StatusLine<'_>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/")?;
    let [major, b'.', minor, rest @ ..] = rest else {
        return None;
    };
    if !major.is_ascii_digit() || !minor.is_ascii_digit() {
        return None;
    }
    let start = rest.iter().position(|&c| c != b' ')?;
    if start == 0 {
        return None;
    }
    let rest = &rest[start..];
    let [a, b, c, tail @ ..] = rest else {
        return None;
    };
    if ![a, b, c].iter().all(|d| d.is_ascii_digit()) {
        return None;
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    let reason = match tail {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    Some(StatusLine { code, reason })
}
