//! Dates as HAProxy writes them in logs, formatted by hand (no allocation). Local time comes from the C library's
//! `localtime_r`, called at most once per second and thread: only the UTC offset is taken from it.

use std::cell::Cell;
use std::sync::OnceLock;

use super::digits::{push_padded, push_uint};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Full year.
    pub year: i64,
    /// 1-12
    pub month: u32,
    /// 1-31
    pub day: u32,
    /// 0-23
    pub hour: u32,
    /// 0-59
    pub min: u32,
    /// 0-60
    pub sec: u32,
    /// Offset from UTC in seconds (0 for UTC dates).
    pub offset: i64,
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC date of `secs` shifted by `offset` seconds.
pub fn civil(secs: i64, offset: i64) -> Civil {
    let t = secs + offset;
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    Civil {
        year,
        month,
        day,
        hour: (s / 3600) as u32,
        min: (s / 60 % 60) as u32,
        sec: (s % 60) as u32,
        offset,
    }
}

thread_local! {
    /// (second, UTC offset) of the last local-time conversion on this thread.
    static OFFSET_CACHE: Cell<(i64, i64)> = const { Cell::new((i64::MIN, 0)) };
    static FORCE_UTC: Cell<bool> = const { Cell::new(false) };
}

fn utc_offset(secs: i64) -> i64 {
    if FORCE_UTC.with(Cell::get) {
        return 0;
    }
    OFFSET_CACHE.with(|c| {
        let (cached, off) = c.get();
        if cached == secs {
            return off;
        }
        let off = system_offset(secs);
        c.set((secs, off));
        off
    })
}

fn system_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills; both pointers are valid for the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// The local date of `secs`.
pub fn local(secs: i64) -> Civil {
    civil(secs, utc_offset(secs))
}

/// Makes this thread format local dates as UTC until the guard is dropped (for tests).
pub fn force_utc_for_tests() -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            FORCE_UTC.with(|f| f.set(false));
        }
    }
    FORCE_UTC.with(|f| f.set(true));
    Guard
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

fn month(m: u32) -> &'static str {
    MONTHS[(m as usize + 11) % 12]
}

/// `DD/Mon/YYYY:HH:MM:SS`
fn push_day_time(out: &mut Vec<u8>, c: &Civil) {
    push_padded(out, u64::from(c.day), 2);
    out.push(b'/');
    push_str(out, month(c.month));
    out.push(b'/');
    push_padded(out, c.year.max(0) as u64, 4);
    out.push(b':');
    push_hms(out, c);
}

fn push_hms(out: &mut Vec<u8>, c: &Civil) {
    push_padded(out, u64::from(c.hour), 2);
    out.push(b':');
    push_padded(out, u64::from(c.min), 2);
    out.push(b':');
    push_padded(out, u64::from(c.sec), 2);
}

/// `%t`, `%tr`: `24/Nov/2026:21:49:47.795`, local time, from microseconds since the epoch.
pub fn push_log_date(out: &mut Vec<u8>, us: i64) {
    let c = local(us.div_euclid(1_000_000));
    push_day_time(out, &c);
    out.push(b'.');
    push_padded(out, (us.rem_euclid(1_000_000) / 1000) as u64, 3);
}

/// `%T`, `%Tl`, `%trg`, `%trl`: `24/Nov/2026:21:49:47 +0000`, in UTC or local time.
pub fn push_clf_date(out: &mut Vec<u8>, us: i64, local_time: bool) {
    let secs = us.div_euclid(1_000_000);
    let c = if local_time {
        local(secs)
    } else {
        civil(secs, 0)
    };
    push_day_time(out, &c);
    out.push(b' ');
    push_offset(out, c.offset, false);
}

fn push_offset(out: &mut Vec<u8>, offset: i64, colon: bool) {
    out.push(if offset < 0 { b'-' } else { b'+' });
    let a = offset.unsigned_abs();
    push_padded(out, a / 3600, 2);
    if colon {
        out.push(b':');
    }
    push_padded(out, a / 60 % 60, 2);
}

/// The RFC 3164 timestamp: `Nov 24 21:49:47`, `Nov  4 01:02:03` (day padded with a space), local time.
pub fn push_rfc3164(out: &mut Vec<u8>, us: i64) {
    let c = local(us.div_euclid(1_000_000));
    push_str(out, month(c.month));
    out.push(b' ');
    if c.day < 10 {
        out.push(b' ');
    }
    push_uint(out, u64::from(c.day));
    out.push(b' ');
    push_hms(out, &c);
}

/// The RFC 5424 timestamp: `2026-11-24T21:51:15.595582+00:00`, local time with its offset.
pub fn push_rfc5424(out: &mut Vec<u8>, us: i64) {
    let c = local(us.div_euclid(1_000_000));
    push_padded(out, c.year.max(0) as u64, 4);
    out.push(b'-');
    push_padded(out, u64::from(c.month), 2);
    out.push(b'-');
    push_padded(out, u64::from(c.day), 2);
    out.push(b'T');
    push_hms(out, &c);
    out.push(b'.');
    push_padded(out, us.rem_euclid(1_000_000) as u64, 6);
    push_offset(out, c.offset, true);
}

/// The host name (`%H`, RFC 5424 when asked), read once.
pub fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return "localhost".to_string();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    })
}

/// Microseconds since the Unix epoch of a wall-clock time.
pub fn unix_us(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn dates() {
        let _utc = force_utc_for_tests();
        // 2026-11-24T21:51:15.595582Z
        let us = 1_795_557_075_595_582;
        assert_eq!(s(|o| push_log_date(o, us)), "24/Nov/2026:21:51:15.595");
        assert_eq!(
            s(|o| push_clf_date(o, us, true)),
            "24/Nov/2026:21:51:15 +0000"
        );
        assert_eq!(s(|o| push_rfc3164(o, us)), "Nov 24 21:51:15");
        assert_eq!(
            s(|o| push_rfc5424(o, us)),
            "2026-11-24T21:51:15.595582+00:00"
        );
        // 2024-02-04T01:02:03Z: a single-digit day and a leap year.
        let us = 1_707_008_523_000_000;
        assert_eq!(s(|o| push_rfc3164(o, us)), "Feb  4 01:02:03");
        assert_eq!(s(|o| push_log_date(o, us)), "04/Feb/2024:01:02:03.000");
        assert_eq!(civil(0, 0).year, 1970);
        assert_eq!(
            civil(951_782_400, 0),
            Civil {
                year: 2000,
                month: 2,
                day: 29,
                hour: 0,
                min: 0,
                sec: 0,
                offset: 0
            }
        );
    }

    #[test]
    fn offsets() {
        let c = civil(0, -5 * 3600 - 1800);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.min),
            (1969, 12, 31, 18, 30)
        );
        assert_eq!(s(|o| push_offset(o, -5 * 3600 - 1800, true)), "-05:30");
        assert_eq!(s(|o| push_offset(o, 3600, false)), "+0100");
    }
}
