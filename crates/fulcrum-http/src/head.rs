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

/// Records where each of `headers` lies relative to `base` (the buffer's start); returns how many.
pub(crate) fn record(headers: &[httparse::Header<'_>], base: usize, spans: &mut [Span]) -> usize {
    let mut count = 0;
    for (h, span) in headers.iter().zip(spans.iter_mut()) {
        *span = (
            h.name.as_ptr() as usize - base,
            h.name.len(),
            h.value.as_ptr() as usize - base,
            h.value.len(),
        );
        count += 1;
    }
    count
}

/// The header map of a head whose headers lie at `spans` in `head`; values share its bytes. `None`: a name or a
/// value the HTTP types refuse.
pub(crate) fn header_map(head: &Bytes, spans: &[Span]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &(n, nl, v, vl) in spans {
        let name = HeaderName::from_bytes(&head[n..n + nl]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl)).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// HTTP/1.0 for minor version 0, else HTTP/1.1.
pub(crate) fn version(minor: u8) -> Version {
    if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}
