//! What reading a request head and a response head share: httparse's verdict against the size limit, where each
//! header lies in the buffer, and the header map built over the head's bytes without copying them.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// Where a header's name and value lie in the head: name offset and length, value offset and length.
pub(crate) type Span = (usize, usize, usize, usize);

/// Why a head could not be read.
pub(crate) enum Refused {
    /// Longer than allowed, or too many header lines.
    TooLarge,
    /// Not HTTP/1.x syntax.
    Syntax(httparse::Error),
}

/// httparse's verdict on `received` bytes: the head's length once complete, `None` while more may come.
pub(crate) fn complete(
    parsed: httparse::Result<usize>,
    received: usize,
    max_head: usize,
) -> Result<Option<usize>, Refused> {
    match parsed {
        Ok(httparse::Status::Complete(n)) if n > max_head => Err(Refused::TooLarge),
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if received > max_head => Err(Refused::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(Refused::TooLarge),
        Err(e) => Err(Refused::Syntax(e)),
    }
}

/// Where the header lines of a head lie: inline for up to 32 of them. A zeroed array sized for the most a head
/// may have (3 KB) was written for every head read.
pub(crate) type Spans = smallvec::SmallVec<[Span; 32]>;

/// Room for the header lines httparse reads, left uninitialised: an array of empty headers sized for the most a
/// head may have was written for every head read.
pub(crate) fn header_slots<'b, const N: usize>() -> [std::mem::MaybeUninit<httparse::Header<'b>>; N]
{
    [const { std::mem::MaybeUninit::uninit() }; N]
}

/// Records in `spans` where each of `headers` lies relative to `base` (the buffer's start). Filled in place:
/// inline, the spans are a kilobyte, not to be copied from function to function.
pub(crate) fn record(headers: &[httparse::Header<'_>], base: usize, spans: &mut Spans) {
    spans.clear();
    spans.extend(headers.iter().map(|h| {
        (
            h.name.as_ptr() as usize - base,
            h.name.len(),
            h.value.as_ptr() as usize - base,
            h.value.len(),
        )
    }));
}

/// The header map of a head whose headers lie at `spans` in `head`; values share its bytes. `None`: a name or a
/// value the HTTP types refuse. With `verbatim` (`option accept-invalid-http-request` / `-response`), a line whose
/// name only [`lenient_name_byte`]s make invalid is kept there instead, its name lower-cased, as HAProxy passes it on.
pub(crate) fn header_map(
    head: &Bytes,
    spans: &[Span],
    mut verbatim: Option<&mut Vec<(Bytes, Bytes)>>,
) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &(n, nl, v, vl) in spans {
        let raw_name = &head[n..n + nl];
        let value = head.slice(v..v + vl);
        match HeaderName::from_bytes(raw_name) {
            Ok(name) => headers.append(name, HeaderValue::from_maybe_shared(value).ok()?),
            Err(_) => {
                let kept = verbatim.as_deref_mut()?;
                if raw_name.is_empty() || !raw_name.iter().all(|&b| lenient_name_byte(b)) {
                    return None;
                }
                // The value must still be one the HTTP types accept.
                HeaderValue::from_maybe_shared(value.clone()).ok()?;
                kept.push((Bytes::from(raw_name.to_ascii_lowercase()), value));
                true
            }
        };
    }
    Some(headers)
}

/// Whether `b` may stand in a header name under `option accept-invalid-http-request` / `-response`: a token byte,
/// or any other visible ASCII byte but `:`, or a byte from 0x80. HAProxy 2.6 also takes spaces, tabs and control
/// bytes (NUL included) there; fulcrum does not: a name with a space before its colon is the classic way to make a
/// server read a `Content-Length` the proxy did not (RFC 9112 section 5.1 says to refuse it), and control bytes
/// are refused in values too.
pub(crate) fn lenient_name_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && b != b':'
}

/// For `option accept-invalid-http-request` / `-response`: a copy of the head at the start of `buf` in which each
/// header-name byte that only the option allows ([`lenient_name_byte`] but not a token byte) is replaced by a
/// token byte, and, in a request line (`request`), each byte from 0x80 after the method by an ASCII letter (httparse
/// wants the target to be UTF-8), so that httparse can read the head. The copy has the same length, so offsets
/// carry over, and the head's own bytes are read there. `None` when no byte had to be replaced. Lines are found as
/// httparse finds them: empty lines before the start line are skipped, a line ends at LF, and the first empty line
/// ends the head.
pub(crate) fn lenient_copy(buf: &[u8], request: bool) -> Option<Vec<u8>> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut copy: Option<Vec<u8>> = None;
    let line_end = buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |i| start + i);
    if request {
        if let Some(sp) = buf[start..line_end].iter().position(|&b| b == b' ') {
            for i in start + sp..line_end {
                if buf[i] >= 0x80 {
                    copy.get_or_insert_with(|| buf.to_vec())[i] = b'x';
                }
            }
        }
    }
    // Past the start line.
    let mut at = line_end + 1;
    while at < buf.len() {
        let end = buf[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| at + i);
        let line = &buf[at..end];
        if line.is_empty() || line == b"\r" {
            break;
        }
        if line[0] != b' ' && line[0] != b'\t' {
            let name_len = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            for i in at..at + name_len {
                let b = buf[i];
                if lenient_name_byte(b) && !is_token(b) {
                    copy.get_or_insert_with(|| buf.to_vec())[i] = b'x';
                }
            }
        }
        at = end + 1;
    }
    copy
}

/// A token byte (RFC 9110 section 5.6.2): what a header name is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// HTTP/1.0 for minor version 0, else HTTP/1.1.
pub(crate) fn version(minor: u8) -> Version {
    if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}
