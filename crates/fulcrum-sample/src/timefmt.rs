//! Dates for `ltime`, `utime` and `http_date`.
//!
//! HAProxy hands the format to the C library's `strftime(3)`. The formatter here is written by
//! hand on top of chrono's calendar (chrono's own formatter reports an error on directives glibc
//! copies through, and lacks glibc's `^`, `#` and width flags), and it follows glibc in the C
//! locale: unknown directives are copied as they are, `%E`/`%O` modifiers are ignored, and a
//! date that cannot be represented makes the sample absent instead of printing garbage.

use chrono::{DateTime, Datelike, Timelike};

/// One piece of a compiled `strftime` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Text copied as it is.
    Literal(Vec<u8>),
    /// A `%` directive.
    Directive {
        /// `_`, `-`, `0`, `^` or `#`, if given (the last one wins for padding).
        pad: Option<u8>,
        /// `^` given: upper-case the result.
        upper: bool,
        /// `#` given: swap the case of names.
        swap: bool,
        /// Minimum width, if given.
        width: Option<usize>,
        /// The conversion character.
        conv: u8,
    },
}

/// A `strftime` format compiled at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format(Vec<Item>);

const CONVERSIONS: &[u8] = b"aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%";

impl Format {
    /// Compiles `fmt`; never fails (what is not a known directive is literal text).
    pub(crate) fn compile(fmt: &[u8]) -> Format {
        let mut items = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' {
                lit.push(fmt[i]);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            let (mut pad, mut upper, mut swap) = (None, false, false);
            while let Some(&f) = fmt.get(i).filter(|f| b"_-0^#".contains(f)) {
                match f {
                    b'^' => upper = true,
                    b'#' => swap = true,
                    _ => pad = Some(f),
                }
                i += 1;
            }
            let mut width = None;
            while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                width = Some(
                    width
                        .unwrap_or(0usize)
                        .saturating_mul(10)
                        .saturating_add(usize::from(d - b'0'))
                        .min(1024),
                );
                i += 1;
            }
            if matches!(fmt.get(i), Some(b'E' | b'O'))
                && fmt.get(i + 1).is_some_and(|c| CONVERSIONS.contains(c))
            {
                i += 1;
            }
            match fmt.get(i) {
                Some(&conv) if CONVERSIONS.contains(&conv) => {
                    if !lit.is_empty() {
                        items.push(Item::Literal(std::mem::take(&mut lit)));
                    }
                    items.push(Item::Directive {
                        pad,
                        upper,
                        swap,
                        width,
                        conv,
                    });
                    i += 1;
                }
                Some(_) => {
                    // glibc copies an unknown directive, flags and all
                    lit.extend_from_slice(&fmt[start..=i]);
                    i += 1;
                }
                None => lit.extend_from_slice(&fmt[start..]),
            }
        }
        if !lit.is_empty() {
            items.push(Item::Literal(lit));
        }
        Format(items)
    }

    /// Formats `unix_secs` shifted by `offset` seconds east of UTC; `zone` is what `%Z` prints.
    /// `None` when the date is out of the calendar's range.
    pub(crate) fn render(&self, unix_secs: i64, offset: i32, zone: &str) -> Option<Vec<u8>> {
        let tm = Tm::new(unix_secs, offset, zone)?;
        let mut out = Vec::new();
        for item in &self.0 {
            match item {
                Item::Literal(l) => out.extend_from_slice(l),
                Item::Directive {
                    pad,
                    upper,
                    swap,
                    width,
                    conv,
                } => tm.directive(*conv, *pad, *upper, *swap, *width, &mut out),
            }
        }
        Some(out)
    }
}

/// A broken-down date.
struct Tm<'z> {
    unix: i64,
    offset: i32,
    zone: &'z str,
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    wday: u32,
    yday: u32,
    iso_year: i64,
    iso_week: u32,
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl<'z> Tm<'z> {
    fn new(unix: i64, offset: i32, zone: &'z str) -> Option<Tm<'z>> {
        let dt = DateTime::from_timestamp(unix.checked_add(i64::from(offset))?, 0)?.naive_utc();
        let iso = dt.iso_week();
        Some(Tm {
            unix,
            offset,
            zone,
            year: i64::from(dt.year()),
            month: dt.month(),
            day: dt.day(),
            hour: dt.hour(),
            min: dt.minute(),
            sec: dt.second(),
            wday: dt.weekday().num_days_from_sunday(),
            yday: dt.ordinal0(),
            iso_year: i64::from(iso.year()),
            iso_week: iso.week(),
        })
    }

    fn directive(
        &self,
        conv: u8,
        pad: Option<u8>,
        upper: bool,
        swap: bool,
        width: Option<usize>,
        out: &mut Vec<u8>,
    ) {
        // glibc: an explicit width pads with zeros (spaces with `_` or `-`); without one, the
        // directive's own width and fill apply, and `-` drops the padding
        let num = |v: i64, w: usize, default_pad: u8, out: &mut Vec<u8>| {
            let digits = v.unsigned_abs().to_string();
            let fill = match (pad, width) {
                (Some(b'_'), _) | (Some(b'-'), Some(_)) => Some(b' '),
                (Some(b'-'), None) => None,
                (Some(b'0'), _) | (_, Some(_)) => Some(b'0'),
                _ => Some(default_pad),
            };
            let w = width.unwrap_or(w);
            let len = digits.len() + usize::from(v < 0);
            match fill {
                Some(b'0') => {
                    if v < 0 {
                        out.push(b'-');
                    }
                    out.resize(out.len() + w.saturating_sub(len), b'0');
                }
                Some(c) => {
                    out.resize(out.len() + w.saturating_sub(len), c);
                    if v < 0 {
                        out.push(b'-');
                    }
                }
                None => {
                    if v < 0 {
                        out.push(b'-');
                    }
                }
            }
            out.extend_from_slice(digits.as_bytes());
        };
        let text = |s: &str, swap_to_upper: bool, out: &mut Vec<u8>| {
            let s = if upper || (swap && swap_to_upper) {
                s.to_ascii_uppercase()
            } else if swap {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            };
            let fill = if pad == Some(b'0') { b'0' } else { b' ' };
            out.resize(out.len() + width.unwrap_or(0).saturating_sub(s.len()), fill);
            out.extend_from_slice(s.as_bytes());
        };
        let hour12 = if self.hour % 12 == 0 {
            12
        } else {
            self.hour % 12
        };
        let am_pm = if self.hour < 12 { "AM" } else { "PM" };
        match conv {
            b'a' => text(&DAYS[self.wday as usize][..3], true, out),
            b'A' => text(DAYS[self.wday as usize], true, out),
            b'b' | b'h' => text(&MONTHS[self.month as usize - 1][..3], true, out),
            b'B' => text(MONTHS[self.month as usize - 1], true, out),
            b'c' => text(&self.sub("%a %b %e %H:%M:%S %Y"), true, out),
            b'C' => num(self.year.div_euclid(100), 2, b'0', out),
            b'd' => num(i64::from(self.day), 2, b'0', out),
            b'D' | b'x' => text(&self.sub("%m/%d/%y"), false, out),
            b'e' => num(i64::from(self.day), 2, b' ', out),
            b'F' => text(&self.sub("%Y-%m-%d"), false, out),
            b'g' => num(self.iso_year.rem_euclid(100), 2, b'0', out),
            b'G' => num(self.iso_year, 1, b'0', out),
            b'H' => num(i64::from(self.hour), 2, b'0', out),
            b'I' => num(i64::from(hour12), 2, b'0', out),
            b'j' => num(i64::from(self.yday) + 1, 3, b'0', out),
            b'k' => num(i64::from(self.hour), 2, b' ', out),
            b'l' => num(i64::from(hour12), 2, b' ', out),
            b'm' => num(i64::from(self.month), 2, b'0', out),
            b'M' => num(i64::from(self.min), 2, b'0', out),
            b'n' => text("\n", false, out),
            b'p' => text(am_pm, false, out),
            b'P' => text(&am_pm.to_ascii_lowercase(), false, out),
            b'r' => text(&self.sub("%I:%M:%S %p"), false, out),
            b'R' => text(&self.sub("%H:%M"), false, out),
            b's' => num(self.unix, 1, b'0', out),
            b'S' => num(i64::from(self.sec), 2, b'0', out),
            b't' => text("\t", false, out),
            b'T' | b'X' => text(&self.sub("%H:%M:%S"), false, out),
            b'u' => num(i64::from((self.wday + 6) % 7 + 1), 1, b'0', out),
            b'U' => num(i64::from((self.yday + 7 - self.wday) / 7), 2, b'0', out),
            b'V' => num(i64::from(self.iso_week), 2, b'0', out),
            b'w' => num(i64::from(self.wday), 1, b'0', out),
            b'W' => num(
                i64::from((self.yday + 7 - (self.wday + 6) % 7) / 7),
                2,
                b'0',
                out,
            ),
            b'y' => num(self.year.rem_euclid(100), 2, b'0', out),
            b'Y' => num(self.year, 1, b'0', out),
            b'z' => {
                let sign = if self.offset < 0 { "-" } else { "+" };
                let a = self.offset.unsigned_abs() / 60;
                text(&format!("{sign}{:02}{:02}", a / 60, a % 60), false, out)
            }
            b'Z' => text(self.zone, false, out),
            _ => out.push(b'%'),
        }
    }

    /// A composite directive, rendered through the same formatter.
    fn sub(&self, fmt: &str) -> String {
        let mut out = Vec::new();
        for item in Format::compile(fmt.as_bytes()).0 {
            match item {
                Item::Literal(l) => out.extend_from_slice(&l),
                Item::Directive {
                    pad,
                    upper,
                    swap,
                    width,
                    conv,
                } => self.directive(conv, pad, upper, swap, width, &mut out),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The unit of `date(offset,unit)` and `http_date(offset,unit)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
}

impl Unit {
    /// Parses `s`, `ms` or `us`.
    pub(crate) fn parse(s: &str) -> Option<Unit> {
        match s {
            "s" => Some(Unit::S),
            "ms" => Some(Unit::Ms),
            "us" => Some(Unit::Us),
            _ => None,
        }
    }
}

/// Dates are masked to 55 bits before formatting, as HAProxy does (a negative date becomes a
/// very large one, which the calendar then refuses).
pub(crate) fn mask55(t: i64) -> i64 {
    t & 0x007f_ffff_ffff_ffff
}

/// `http_date`: an IMF-fixdate (`Thu, 10 Jul 2014 13:23:50 GMT`), with `.fraction` (not
/// zero-padded, as HAProxy prints it) when the unit is `ms` or `us`.
pub(crate) fn http_date(t: i64, offset: i64, unit: Unit) -> Option<Vec<u8>> {
    let t = t.wrapping_add(offset);
    let (secs, frac) = match unit {
        Unit::S => (t, None),
        Unit::Ms => (t / 1000, Some(t % 1000)),
        Unit::Us => (t / 1_000_000, Some(t % 1_000_000)),
    };
    let dt = DateTime::from_timestamp(mask55(secs), 0)?.naive_utc();
    let wday = dt.weekday().num_days_from_sunday() as usize;
    let mut s = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02}",
        &DAYS[wday][..3],
        dt.day(),
        &MONTHS[dt.month() as usize - 1][..3],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if let Some(frac) = frac {
        s.push_str(&format!(".{frac}"));
    }
    s.push_str(" GMT");
    Some(s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utime(t: i64, fmt: &str) -> String {
        String::from_utf8(Format::compile(fmt.as_bytes()).render(t, 0, "GMT").unwrap()).unwrap()
    }

    #[test]
    fn glibc_directives() {
        // observed with haproxy 2.6.12: int(1404998630),utime("...")
        assert_eq!(utime(1404998630, "%Y%m%d%H%M%S"), "20140710132350");
        assert_eq!(
            utime(
                1404998630,
                "%a %A %b %B %c %C %d %D %e %F %g %G %h %H %I %j %k %l %m %M %n %p %P %r %R %s %S %t %T %u %U %V %w %W %x %X %y %Y %z %Z %%"
            ),
            "Thu Thursday Jul July Thu Jul 10 13:23:50 2014 20 10 07/10/14 10 2014-07-10 14 2014 Jul 13 01 191 13  1 07 23 \n PM pm 01:23:50 PM 13:23 1404998630 50 \t 13:23:50 4 27 28 4 27 07/10/14 13:23:50 14 2014 +0000 GMT %"
        );
        assert_eq!(
            utime(1404998630, "%Q|%E|%O|%+|%5Y|%-d|%_d|%0e|%^a|%#b"),
            "%Q|%E|%O|%+|02014|10|10|10|THU|JUL"
        );
        assert_eq!(utime(1404998630, "%"), "%");
        assert_eq!(utime(1404998630, "abc%"), "abc%");
        assert_eq!(utime(1404998630, ""), "");
    }

    #[test]
    fn more_directives() {
        // 2021-01-03 is a Sunday in ISO week 53 of 2020; 07:05:09; observed with haproxy 2.6.12
        let t = 1609657509;
        assert_eq!(utime(t, "%G-W%V-%u %g"), "2020-W53-7 20");
        assert_eq!(utime(t, "%U %W %w %j"), "01 00 0 003");
        assert_eq!(utime(t, "%I %l %k %p %-H %_m"), "07  7  7 AM 7  1");
        assert_eq!(utime(t, "%Ey %OH %Ec"), "21 07 Sun Jan  3 07:05:09 2021");
        // observed with haproxy 2.6.12
        assert_eq!(
            utime(t, "%10A|%-10A|%#p|%^B"),
            "    Sunday|    Sunday|am|JANUARY"
        );
        assert_eq!(
            utime(t, "%_5d|%-5d|%05e|%3a|%^10b|%#Z|%#a|%_Y|%3j|%C|%-j"),
            "    3|    3|00003|Sun|       JAN|gmt|SUN|2021|003|20|3"
        );
        assert_eq!(utime(0, "%F %T %s"), "1970-01-01 00:00:00 0");
        // local time: offset applies to the fields, not to %s
        let f = Format::compile(b"%H:%M %z %Z %s");
        assert_eq!(
            f.render(0, 3600 + 1800, "+0130").unwrap(),
            b"01:30 +0130 +0130 0"
        );
        assert_eq!(
            Format::compile(b"%z").render(0, -3600, "x").unwrap(),
            b"-0100"
        );
    }

    #[test]
    fn out_of_range_is_absent() {
        assert!(Format::compile(b"%Y")
            .render(mask55(-1), 0, "GMT")
            .is_none());
        assert!(Format::compile(b"%Y").render(i64::MAX, 1, "GMT").is_none());
    }

    #[test]
    fn http_dates() {
        // observed with haproxy 2.6.12
        let h = |t, o, u| String::from_utf8(http_date(t, o, u).unwrap()).unwrap();
        assert_eq!(h(1404998630, 0, Unit::S), "Thu, 10 Jul 2014 13:23:50 GMT");
        assert_eq!(
            h(1404998630, 3600, Unit::S),
            "Thu, 10 Jul 2014 14:23:50 GMT"
        );
        assert_eq!(
            h(1404998630123, 0, Unit::Ms),
            "Thu, 10 Jul 2014 13:23:50.123 GMT"
        );
        assert_eq!(
            h(1404998630005, 0, Unit::Ms),
            "Thu, 10 Jul 2014 13:23:50.5 GMT"
        );
        assert_eq!(
            h(1404998630000005, 0, Unit::Us),
            "Thu, 10 Jul 2014 13:23:50.5 GMT"
        );
        assert!(http_date(-1, 0, Unit::S).is_none());
        assert_eq!(Unit::parse("ms"), Some(Unit::Ms));
        assert_eq!(Unit::parse("ns"), None);
    }
}
