use super::{DecoderError, NeedMore};
use crate::ext::Protocol;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::fmt;

/// HTTP/2 Header
#[derive(Debug, Clone, Eq, PartialEq)]
pub enum Header<T = HeaderName> {
    Field { name: T, value: HeaderValue },
    // TODO: Change these types to `http::uri` types.
    Authority(BytesStr),
    Method(Method),
    Scheme(BytesStr),
    Path(BytesStr),
    Protocol(Protocol),
    Status(StatusCode),
    /// fulcrum: a field whose name or value is not valid (see `MalformedField`).
    Malformed(MalformedField),
}

/// fulcrum: a field the decoder cannot represent as a valid header: an
/// unknown pseudo-header, a name that is not a lower-case token, a value with
/// forbidden bytes, or a pseudo-header value that is not valid syntax. It keeps
/// its bytes so the dynamic table stays in step with the peer's: the header
/// block carrying it is malformed (RFC 9113 section 8.1.1), which is a stream
/// error, not a connection error. `bad_request` marks the ones HAProxy answers
/// with a 400 (a method that is not a token, a `:scheme` or `:authority` that
/// is not text) rather than with a stream reset.
#[derive(Debug, Clone, Eq, PartialEq)]
pub struct MalformedField {
    pub name: Bytes,
    pub value: Bytes,
    pub bad_request: bool,
}

impl<T> Header<T> {
    fn malformed(name: Bytes, value: Bytes, bad_request: bool) -> Self {
        Header::Malformed(MalformedField {
            name,
            value,
            bad_request,
        })
    }

    /// A pseudo-header whose value must be text: `make` it, or a malformed
    /// field when the value is not UTF-8.
    fn text(
        name: &'static [u8],
        value: Bytes,
        bad_request: bool,
        make: fn(BytesStr) -> Self,
    ) -> Self {
        if std::str::from_utf8(&value).is_ok() {
            make(BytesStr(value))
        } else {
            Header::malformed(Bytes::from_static(name), value, bad_request)
        }
    }
}

/// The header field name
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub enum Name<'a> {
    Field(&'a HeaderName),
    Authority,
    Method,
    Scheme,
    Path,
    Protocol,
    Status,
    /// fulcrum: the name of a malformed field, as received.
    Malformed(&'a Bytes),
}

#[doc(hidden)]
#[derive(Clone, Eq, PartialEq, Default)]
pub struct BytesStr(Bytes);

pub fn len(name: &HeaderName, value: &HeaderValue) -> usize {
    let n: &str = name.as_ref();
    32 + n.len() + value.len()
}

impl Header<Option<HeaderName>> {
    pub fn reify(self) -> Result<Header, HeaderValue> {
        use self::Header::*;

        Ok(match self {
            Field {
                name: Some(n),
                value,
            } => Field { name: n, value },
            Field { name: None, value } => return Err(value),
            Authority(v) => Authority(v),
            Method(v) => Method(v),
            Scheme(v) => Scheme(v),
            Path(v) => Path(v),
            Protocol(v) => Protocol(v),
            Status(v) => Status(v),
            Malformed(v) => Malformed(v),
        })
    }
}

impl Header {
    pub fn new(name: Bytes, value: Bytes) -> Result<Header, DecoderError> {
        if name.is_empty() {
            return Err(DecoderError::NeedMore(NeedMore::UnexpectedEndOfStream));
        }
        if name[0] == b':' {
            // fulcrum: invalid values and unknown pseudo-headers are kept as
            // malformed fields (a stream error) instead of failing the decoder
            // (a connection error).
            match &name[1..] {
                b"authority" => Ok(Header::text(b":authority", value, true, Header::Authority)),
                b"method" => Ok(Name::Method.into_entry_lossy(value)),
                b"scheme" => Ok(Header::text(b":scheme", value, true, Header::Scheme)),
                b"path" => Ok(Header::text(b":path", value, false, Header::Path)),
                b"protocol" => Ok(Name::Protocol.into_entry_lossy(value)),
                b"status" => {
                    let status = StatusCode::from_bytes(&value)?;
                    Ok(Header::Status(status))
                }
                _ => Ok(Header::malformed(name, value, false)),
            }
        } else {
            // HTTP/2 requires lower case header names
            match (
                HeaderName::from_lowercase(&name),
                HeaderValue::from_bytes(&value),
            ) {
                (Ok(name), Ok(value)) => Ok(Header::Field { name, value }),
                _ => Ok(Header::malformed(name, value, false)),
            }
        }
    }

    pub fn len(&self) -> usize {
        match *self {
            Header::Field {
                ref name,
                ref value,
            } => len(name, value),
            Header::Authority(ref v) => 32 + 10 + v.len(),
            Header::Method(ref v) => 32 + 7 + v.as_ref().len(),
            Header::Scheme(ref v) => 32 + 7 + v.len(),
            Header::Path(ref v) => 32 + 5 + v.len(),
            Header::Protocol(ref v) => 32 + 9 + v.as_str().len(),
            Header::Status(_) => 32 + 7 + 3,
            Header::Malformed(ref m) => 32 + m.name.len() + m.value.len(),
        }
    }

    /// Returns the header name
    pub fn name(&self) -> Name<'_> {
        match *self {
            Header::Field { ref name, .. } => Name::Field(name),
            Header::Authority(..) => Name::Authority,
            Header::Method(..) => Name::Method,
            Header::Scheme(..) => Name::Scheme,
            Header::Path(..) => Name::Path,
            Header::Protocol(..) => Name::Protocol,
            Header::Status(..) => Name::Status,
            Header::Malformed(ref m) => Name::Malformed(&m.name),
        }
    }

    pub fn value_slice(&self) -> &[u8] {
        match *self {
            Header::Field { ref value, .. } => value.as_ref(),
            Header::Authority(ref v) => v.as_ref(),
            Header::Method(ref v) => v.as_ref().as_ref(),
            Header::Scheme(ref v) => v.as_ref(),
            Header::Path(ref v) => v.as_ref(),
            Header::Protocol(ref v) => v.as_ref(),
            Header::Status(ref v) => v.as_str().as_ref(),
            Header::Malformed(ref m) => m.value.as_ref(),
        }
    }

    pub fn value_eq(&self, other: &Header) -> bool {
        match *self {
            Header::Field { ref value, .. } => {
                let a = value;
                match *other {
                    Header::Field { ref value, .. } => a == value,
                    _ => false,
                }
            }
            Header::Authority(ref a) => match *other {
                Header::Authority(ref b) => a == b,
                _ => false,
            },
            Header::Method(ref a) => match *other {
                Header::Method(ref b) => a == b,
                _ => false,
            },
            Header::Scheme(ref a) => match *other {
                Header::Scheme(ref b) => a == b,
                _ => false,
            },
            Header::Path(ref a) => match *other {
                Header::Path(ref b) => a == b,
                _ => false,
            },
            Header::Protocol(ref a) => match *other {
                Header::Protocol(ref b) => a == b,
                _ => false,
            },
            Header::Status(ref a) => match *other {
                Header::Status(ref b) => a == b,
                _ => false,
            },
            Header::Malformed(ref a) => match *other {
                Header::Malformed(ref b) => a.value == b.value,
                _ => false,
            },
        }
    }

    pub fn is_sensitive(&self) -> bool {
        match *self {
            Header::Field { ref value, .. } => value.is_sensitive(),
            // TODO: Technically these other header values can be sensitive too.
            _ => false,
        }
    }

    pub fn skip_value_index(&self) -> bool {
        use http::header;

        match *self {
            Header::Field { ref name, .. } => matches!(
                *name,
                header::AGE
                    | header::AUTHORIZATION
                    | header::CONTENT_LENGTH
                    | header::ETAG
                    | header::IF_MODIFIED_SINCE
                    | header::IF_NONE_MATCH
                    | header::LOCATION
                    | header::COOKIE
                    | header::SET_COOKIE
            ),
            Header::Path(..) => true,
            _ => false,
        }
    }
}

// Mostly for tests
impl From<Header> for Header<Option<HeaderName>> {
    fn from(src: Header) -> Self {
        match src {
            Header::Field { name, value } => Header::Field {
                name: Some(name),
                value,
            },
            Header::Authority(v) => Header::Authority(v),
            Header::Method(v) => Header::Method(v),
            Header::Scheme(v) => Header::Scheme(v),
            Header::Path(v) => Header::Path(v),
            Header::Protocol(v) => Header::Protocol(v),
            Header::Status(v) => Header::Status(v),
            Header::Malformed(v) => Header::Malformed(v),
        }
    }
}

impl<'a> Name<'a> {
    pub fn into_entry(self, value: Bytes) -> Result<Header, DecoderError> {
        match self {
            Name::Status => {
                match StatusCode::from_bytes(&value) {
                    Ok(status) => Ok(Header::Status(status)),
                    // TODO: better error handling
                    Err(_) => Err(DecoderError::InvalidStatusCode),
                }
            }
            Name::Malformed(name) => Header::new(name.clone(), value),
            name => Ok(name.into_entry_lossy(value)),
        }
    }

    /// fulcrum: the field this name and value make, or a malformed field
    /// when the value is not valid for the name (never for `:status`).
    fn into_entry_lossy(self, value: Bytes) -> Header {
        match self {
            Name::Field(name) => match HeaderValue::from_bytes(&value) {
                Ok(value) => Header::Field {
                    name: name.clone(),
                    value,
                },
                Err(_) => Header::malformed(Bytes::copy_from_slice(name.as_ref()), value, false),
            },
            Name::Authority => Header::text(b":authority", value, true, Header::Authority),
            Name::Method => match Method::from_bytes(&value) {
                Ok(method) => Header::Method(method),
                Err(_) => Header::malformed(Bytes::from_static(b":method"), value, true),
            },
            Name::Scheme => Header::text(b":scheme", value, true, Header::Scheme),
            Name::Path => Header::text(b":path", value, false, Header::Path),
            Name::Protocol => match Protocol::try_from(value.clone()) {
                Ok(protocol) => Header::Protocol(protocol),
                Err(_) => Header::malformed(Bytes::from_static(b":protocol"), value, false),
            },
            Name::Status => Header::malformed(Bytes::from_static(b":status"), value, false),
            Name::Malformed(name) => Header::malformed(name.clone(), value, false),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match *self {
            Name::Field(ref name) => name.as_ref(),
            Name::Authority => b":authority",
            Name::Method => b":method",
            Name::Scheme => b":scheme",
            Name::Path => b":path",
            Name::Protocol => b":protocol",
            Name::Status => b":status",
            Name::Malformed(name) => name.as_ref(),
        }
    }
}

// ===== impl BytesStr =====

impl BytesStr {
    pub(crate) const fn from_static(value: &'static str) -> Self {
        BytesStr(Bytes::from_static(value.as_bytes()))
    }

    pub(crate) fn from(value: &str) -> Self {
        BytesStr(Bytes::copy_from_slice(value.as_bytes()))
    }

    #[doc(hidden)]
    pub fn try_from(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(bytes.as_ref())?;
        Ok(BytesStr(bytes))
    }

    pub(crate) fn as_str(&self) -> &str {
        // Safety: check valid utf-8 in constructor
        unsafe { std::str::from_utf8_unchecked(self.0.as_ref()) }
    }

    pub(crate) fn into_inner(self) -> Bytes {
        self.0
    }
}

impl std::ops::Deref for BytesStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for BytesStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl fmt::Debug for BytesStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
