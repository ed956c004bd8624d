//! The URI normalisers of `http-request normalize-uri`, as pure functions of a request target.
//!
//! A target is the path, query and fragment of a request line (`/a//b?x=1`), or `*`; a caller with an absolute
//! URI passes its path and query. The path is what comes before the first `?` or `#`, the query what follows the
//! `?` up to a `#`, the fragment what follows the `#`. Each normaliser rewrites one of these parts and leaves the
//! others byte for byte; behaviour follows haproxy 2.6, observed black-box (the cases in the tests below were
//! answered by haproxy 2.6.12).

/// One normaliser of `http-request normalize-uri`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// `path-merge-slashes`: runs of `/` in the path become one `/`.
    PathMergeSlashes,
    /// `path-strip-dot`: `.` segments of the path are removed (a final one leaves its `/`).
    PathStripDot,
    /// `path-strip-dotdot [full]`: each `..` segment removes itself and the segment before it (a final one
    /// leaves its `/`). A `..` with nothing before it to remove is kept, or dropped with `full`.
    PathStripDotdot {
        /// `full`: drop the `..` segments that climb above the root
        full: bool,
    },
    /// `percent-decode-unreserved [strict]`: `%XX` escapes of unreserved characters (letters, digits, `-`, `.`,
    /// `_`, `~`) in the path and query become those characters.
    PercentDecodeUnreserved {
        /// `strict`: a `%` not followed by two hexadecimal digits is an error
        strict: bool,
    },
    /// `percent-to-uppercase [strict]`: the hexadecimal digits of `%xx` escapes in the path and query become
    /// upper case.
    PercentToUppercase {
        /// `strict`: a `%` not followed by two hexadecimal digits is an error
        strict: bool,
    },
    /// `query-sort-by-name`: the `&`-separated parameters of the query are sorted by name (the part before the
    /// first `=`, compared byte by byte); parameters of the same name keep their order. A final `&` is dropped.
    QuerySortByName,
    /// `fragment-strip`: the fragment and its `#` are removed.
    FragmentStrip,
    /// `fragment-encode`: each `#` from the fragment's start on is written `%23`.
    FragmentEncode,
}

/// Why a target could not be normalised (HAProxy then answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// Under `strict`, a `%` not followed by two hexadecimal digits.
    #[error("invalid percent-encoding at byte {at}")]
    BadPercent {
        /// offset of the `%` in the target
        at: usize,
    },
}

/// Applies `n` to `target`. `Ok(None)` when nothing changes (the common case, without allocating when the
/// normaliser finds nothing to do in a quick scan).
pub fn normalize(target: &[u8], n: Normalizer) -> Result<Option<Vec<u8>>, NormalizeError> {
    let frag = target
        .iter()
        .position(|&c| c == b'#')
        .unwrap_or(target.len());
    let path_end = target[..frag]
        .iter()
        .position(|&c| c == b'?')
        .unwrap_or(frag);
    let (path, rest) = target.split_at(path_end);
    let out = match n {
        Normalizer::PathMergeSlashes => {
            if !path.windows(2).any(|w| w == b"//") {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(target.len());
            for &c in path {
                if !(c == b'/' && out.last() == Some(&b'/')) {
                    out.push(c);
                }
            }
            out.extend_from_slice(rest);
            out
        }
        Normalizer::PathStripDot => {
            let Some(segments) = segments(path) else {
                return Ok(None);
            };
            if !segments.iter().any(|s| *s == b".") {
                return Ok(None);
            }
            let last = segments.len() - 1;
            let kept: Vec<&[u8]> = segments
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match *s {
                    b"." if i == last => Some(&b""[..]),
                    b"." => None,
                    s => Some(s),
                })
                .collect();
            join(&kept, rest)
        }
        Normalizer::PathStripDotdot { full } => {
            let Some(segments) = segments(path) else {
                return Ok(None);
            };
            if !segments.iter().any(|s| *s == b"..") {
                return Ok(None);
            }
            let last = segments.len() - 1;
            // (segment, whether it is a `..` kept because nothing was left to remove)
            let mut stack: Vec<(&[u8], bool)> = Vec::with_capacity(segments.len());
            for (i, s) in segments.iter().enumerate() {
                if *s == b".." {
                    match stack.last() {
                        Some((_, false)) => {
                            stack.pop();
                        }
                        _ if full => {}
                        _ => stack.push((s, true)),
                    }
                    if i == last {
                        stack.push((b"", false));
                    }
                } else {
                    stack.push((s, false));
                }
            }
            let kept: Vec<&[u8]> = stack.into_iter().map(|(s, _)| s).collect();
            join(&kept, rest)
        }
        Normalizer::PercentDecodeUnreserved { strict } => {
            let end = frag;
            if !target[..end].contains(&b'%') {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(target.len());
            let mut i = 0;
            while i < end {
                let c = target[i];
                if c != b'%' {
                    out.push(c);
                    i += 1;
                    continue;
                }
                match escaped(&target[..end], i) {
                    Some(v) if is_unreserved(v) => out.push(v),
                    Some(_) => out.extend_from_slice(&target[i..i + 3]),
                    None if strict => return Err(NormalizeError::BadPercent { at: i }),
                    None => {
                        out.push(b'%');
                        i += 1;
                        continue;
                    }
                }
                i += 3;
            }
            out.extend_from_slice(&target[end..]);
            out
        }
        Normalizer::PercentToUppercase { strict } => {
            let end = frag;
            if !target[..end].contains(&b'%') {
                return Ok(None);
            }
            let mut out = target.to_vec();
            let mut i = 0;
            while i < end {
                if target[i] != b'%' {
                    i += 1;
                    continue;
                }
                if escaped(&target[..end], i).is_some() {
                    out[i + 1].make_ascii_uppercase();
                    out[i + 2].make_ascii_uppercase();
                    i += 3;
                } else if strict {
                    return Err(NormalizeError::BadPercent { at: i });
                } else {
                    i += 1;
                }
            }
            out
        }
        Normalizer::QuerySortByName => {
            let Some(query) = target[..frag].get(path_end + 1..) else {
                return Ok(None);
            };
            // a final `&` ends the last parameter rather than starting an empty one (observed)
            let ended = query.strip_suffix(b"&");
            let mut params: Vec<&[u8]> = ended.unwrap_or(query).split(|&c| c == b'&').collect();
            let name = |p: &[u8]| -> usize { p.iter().position(|&c| c == b'=').unwrap_or(p.len()) };
            if ended.is_none()
                && params
                    .windows(2)
                    .all(|w| w[0][..name(w[0])] <= w[1][..name(w[1])])
            {
                return Ok(None);
            }
            // a stable sort: parameters of the same name keep their order
            params.sort_by(|a, b| a[..name(a)].cmp(&b[..name(b)]));
            let mut out = Vec::with_capacity(target.len());
            out.extend_from_slice(&target[..=path_end]);
            out.extend_from_slice(&params.join(&b'&'));
            out.extend_from_slice(&target[frag..]);
            out
        }
        Normalizer::FragmentStrip => {
            if frag == target.len() {
                return Ok(None);
            }
            target[..frag].to_vec()
        }
        Normalizer::FragmentEncode => {
            if frag == target.len() {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(target.len() + 4);
            out.extend_from_slice(&target[..frag]);
            for &c in &target[frag..] {
                if c == b'#' {
                    out.extend_from_slice(b"%23");
                } else {
                    out.push(c);
                }
            }
            out
        }
    };
    Ok((out != target).then_some(out))
}

/// The segments of a path that starts with `/` (`/a//b/` gives `a`, ``, `b`, ``); `None` for another path (`*`).
fn segments(path: &[u8]) -> Option<Vec<&[u8]>> {
    let inner = path.strip_prefix(b"/")?;
    Some(inner.split(|&c| c == b'/').collect())
}

/// `/` followed by the segments joined by `/`, then `rest` (the query and fragment).
fn join(segments: &[&[u8]], rest: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(rest.len() + 1 + segments.iter().map(|s| s.len() + 1).sum::<usize>());
    out.push(b'/');
    out.extend_from_slice(&segments.join(&b'/'));
    out.extend_from_slice(rest);
    out
}

/// The byte a `%XX` at `s[i]` stands for, when two hexadecimal digits follow.
fn escaped(s: &[u8], i: usize) -> Option<u8> {
    let hex = |c: u8| char::from(c).to_digit(16);
    let hi = hex(*s.get(i + 1)?)?;
    let lo = hex(*s.get(i + 2)?)?;
    Some((hi * 16 + lo) as u8)
}

/// RFC 3986's unreserved characters.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Normalizer::*;

    fn run(n: Normalizer, target: &str) -> String {
        match normalize(target.as_bytes(), n) {
            Ok(Some(out)) => String::from_utf8(out).unwrap(),
            Ok(None) => target.to_string(),
            Err(_) => "error".to_string(),
        }
    }

    /// (normaliser, target, what haproxy 2.6.12 made of it, or "error" where it answered 400)
    #[test]
    fn like_haproxy() {
        let dotdot = PathStripDotdot { full: false };
        let dotdot_full = PathStripDotdot { full: true };
        let decode = PercentDecodeUnreserved { strict: false };
        let decode_strict = PercentDecodeUnreserved { strict: true };
        let upper = PercentToUppercase { strict: false };
        let upper_strict = PercentToUppercase { strict: true };
        let cases: &[(Normalizer, &str, &str)] = &[
            (PathMergeSlashes, "/foo///bar", "/foo/bar"),
            (PathMergeSlashes, "///foo///bar///", "/foo/bar/"),
            (PathMergeSlashes, "///", "/"),
            (PathMergeSlashes, "//foo?bar=///", "/foo?bar=///"),
            (PathMergeSlashes, "*", "*"),
            (PathStripDot, "/.", "/"),
            (PathStripDot, "/./", "/"),
            (PathStripDot, "/a/.", "/a/"),
            (PathStripDot, "/a/./a", "/a/a"),
            (PathStripDot, "/a.", "/a."),
            (PathStripDot, "/.a", "/.a"),
            (PathStripDot, "/a/../", "/a/../"),
            (PathStripDot, "/a/./../b", "/a/../b"),
            (PathStripDot, "/./..", "/.."),
            (PathStripDot, "//a//b//", "//a//b//"),
            (PathStripDot, "/?a=/./", "/?a=/./"),
            (dotdot, "/foo/..", "/"),
            (dotdot, "/foo/bar/../", "/foo/"),
            (dotdot, "/foo/../../bar/", "/../bar/"),
            (dotdot_full, "/foo/../../bar/", "/bar/"),
            (dotdot, "/foo//../../bar/", "/bar/"),
            (dotdot, "/foo/../?bar=/foo/../", "/?bar=/foo/../"),
            (dotdot, "/../..", "/../../"),
            (dotdot, "/..", "/../"),
            (dotdot, "/a/../..", "/../"),
            (dotdot, "/../a/..", "/../"),
            (dotdot, "/a/./../b", "/a/b"),
            (dotdot, "/a/.././b", "/./b"),
            (dotdot, "/./..", "/"),
            (dotdot, "/a/b/c/../../..", "/"),
            (dotdot, "/a/b/c/../../../..", "/../"),
            (dotdot, "/.", "/."),
            (dotdot, "/..a/b", "/..a/b"),
            (dotdot, "/a/...", "/a/..."),
            (dotdot, "/%2e%2e/a", "/%2e%2e/a"),
            (dotdot, "/a/b/..?x=/../", "/a/?x=/../"),
            (dotdot_full, "/../..", "/"),
            (dotdot_full, "/../a/..", "/"),
            (dotdot_full, "/a/b/c/../../../..", "/"),
            (dotdot_full, "*", "*"),
            (decode, "/%61?%61=%61", "/a?a=a"),
            (decode, "/%3F?foo=bar", "/%3F?foo=bar"),
            (decode, "/%%36%36", "/%66"),
            (decode_strict, "/%%36%36", "error"),
            (decode, "/%2e%2e/a", "/../a"),
            (
                decode,
                "/%61%2d%2E%5F%7e%7E%41%5A%30%39%2f%3f%25",
                "/a-._~~AZ09%2f%3f%25",
            ),
            (decode, "/%41?x=%41%3d", "/A?x=A%3d"),
            (decode, "/%aa%Ab%aA%zz%a", "/%aa%Ab%aA%zz%a"),
            (decode_strict, "/%aa%Ab%aA%zz%a", "error"),
            (decode, "/x%", "/x%"),
            (decode_strict, "/x%4", "error"),
            (decode, "/a?b=%2e", "/a?b=."),
            (upper, "/%aa?a=%aa", "/%AA?a=%AA"),
            (upper, "/%zz?a=%zz", "/%zz?a=%zz"),
            (upper_strict, "/%zz?a=%zz", "error"),
            (upper, "/%aa%Ab%aA%zz%a", "/%AA%AB%AA%zz%a"),
            (upper_strict, "/%aa%Ab", "/%AA%AB"),
            (upper_strict, "/x%", "error"),
            (upper, "/%%41", "/%%41"),
            (upper_strict, "/%%41", "error"),
            (QuerySortByName, "/?z=z&a=a", "/?a=a&z=z"),
            (QuerySortByName, "/?c&b&a&z&x&y", "/?a&b&c&x&y&z"),
            (
                QuerySortByName,
                "/?aaaa=&a=&aa=&aaa=",
                "/?a=&aa=&aaa=&aaaa=",
            ),
            (
                QuerySortByName,
                "/?a=5&b=3&a=1&a=2&b=4",
                "/?a=5&a=1&a=2&b=3&b=4",
            ),
            (QuerySortByName, "/?", "/?"),
            (QuerySortByName, "/?b&&a", "/?&a&b"),
            (QuerySortByName, "/?b=1&a&=z&a=0", "/?=z&a&a=0&b=1"),
            (QuerySortByName, "/?B&a&_&~", "/?B&_&a&~"),
            (QuerySortByName, "/?a=1&a", "/?a=1&a"),
            (QuerySortByName, "/?a;b=1&a=2", "/?a=2&a;b=1"),
            (QuerySortByName, "*", "*"),
            (QuerySortByName, "/?a&", "/?a"),
            (QuerySortByName, "/?&", "/?"),
            (QuerySortByName, "/?a&&", "/?&a"),
            (QuerySortByName, "/?&&", "/?&"),
            (QuerySortByName, "/?b&a&&", "/?&a&b"),
            (QuerySortByName, "/?&a", "/?&a"),
            (QuerySortByName, "/?z&z&", "/?z&z"),
            (FragmentStrip, "/#foo", "/"),
            (FragmentStrip, "/%23foo", "/%23foo"),
            (FragmentEncode, "/#foo", "/%23foo"),
            (FragmentEncode, "/#foo/#foo", "/%23foo/%23foo"),
            (FragmentEncode, "/%23foo", "/%23foo"),
        ];
        for &(n, target, want) in cases {
            assert_eq!(run(n, target), want, "{n:?} of {target}");
        }
    }

    #[test]
    fn untouched_parts_stay() {
        // the fragment is neither decoded nor sorted; a query is not a path
        assert_eq!(
            run(PercentToUppercase { strict: false }, "/%aa?q=%bb#%cc"),
            "/%AA?q=%BB#%cc"
        );
        assert_eq!(run(QuerySortByName, "/?b&a#z&y"), "/?a&b#z&y");
        assert_eq!(run(PathMergeSlashes, "/a?//#//"), "/a?//#//");
        assert_eq!(run(FragmentStrip, "/a?b#c#d"), "/a?b");
        assert_eq!(normalize(b"/a/b", PathStripDotdot { full: true }), Ok(None));
        assert_eq!(
            normalize(b"/%zz", PercentToUppercase { strict: true }),
            Err(NormalizeError::BadPercent { at: 1 })
        );
    }
}
