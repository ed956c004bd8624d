//! The error responses the proxy generates itself, shaped like HAProxy's: a status line, `cache-control: no-cache`,
//! `content-type: text/html`, `connection: close` and a small HTML body naming the status.

use bytes::Bytes;

/// A status the proxy can answer with on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// 400: the request could not be parsed.
    BadRequest,
    /// 403: denied by a rule.
    Forbidden,
    /// 408: the request head did not arrive within `timeout http-request`.
    RequestTimeout,
    /// 500: an internal error.
    Internal,
    /// 502: the server's response was invalid or the server closed too early.
    BadGateway,
    /// 503: no server is available.
    ServiceUnavailable,
    /// 504: the server did not answer within `timeout server`.
    GatewayTimeout,
}

impl ProxyError {
    /// The error the proxy generates with this status, if it is one of its own.
    pub fn from_status(status: u16) -> Option<Self> {
        Some(match status {
            400 => ProxyError::BadRequest,
            403 => ProxyError::Forbidden,
            408 => ProxyError::RequestTimeout,
            500 => ProxyError::Internal,
            502 => ProxyError::BadGateway,
            503 => ProxyError::ServiceUnavailable,
            504 => ProxyError::GatewayTimeout,
            _ => return None,
        })
    }

    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            ProxyError::BadRequest => 400,
            ProxyError::Forbidden => 403,
            ProxyError::RequestTimeout => 408,
            ProxyError::Internal => 500,
            ProxyError::BadGateway => 502,
            ProxyError::ServiceUnavailable => 503,
            ProxyError::GatewayTimeout => 504,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            ProxyError::BadRequest => "Bad request",
            ProxyError::Forbidden => "Forbidden",
            ProxyError::RequestTimeout => "Request Time-out",
            ProxyError::Internal => "Internal Server Error",
            ProxyError::BadGateway => "Bad Gateway",
            ProxyError::ServiceUnavailable => "Service Unavailable",
            ProxyError::GatewayTimeout => "Gateway Time-out",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            ProxyError::BadRequest => "The request could not be understood.",
            ProxyError::Forbidden => "Access to this resource is forbidden.",
            ProxyError::RequestTimeout => "The request was not received in time.",
            ProxyError::Internal => "The proxy met an internal error.",
            ProxyError::BadGateway => "The server returned an invalid or incomplete response.",
            ProxyError::ServiceUnavailable => "No server is available for this request.",
            ProxyError::GatewayTimeout => "The server did not respond in time.",
        }
    }

    /// The HTML body.
    pub fn body(self) -> Bytes {
        Bytes::from(format!(
            "<html><body><h1>{} {}</h1>\n{}\n</body></html>\n",
            self.status(),
            self.reason(),
            self.explanation()
        ))
    }

    /// A complete HTTP/1.1 response, for writing straight to a socket when no HTTP layer is left to do it.
    pub fn raw_response(self) -> Vec<u8> {
        let body = self.body();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n",
            self.status(),
            self.reason(),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// The reason phrase HAProxy uses for a status it generates, or the standard one.
fn reason_for(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    }
}

/// A generated page for any status (`deny_status`, tarpit): the same shape as the built-in errors.
pub fn page_response(status: u16) -> http::Response<crate::http::body::ProxyBody> {
    let body = Bytes::from(format!(
        "<html><body><h1>{status} {}</h1>\nThe request was refused by a rule.\n</body></html>\n",
        reason_for(status)
    ));
    let mut resp = http::Response::new(crate::http::body::ProxyBody::fixed(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_response_is_well_formed() {
        for e in [
            ProxyError::BadRequest,
            ProxyError::RequestTimeout,
            ProxyError::BadGateway,
            ProxyError::ServiceUnavailable,
            ProxyError::GatewayTimeout,
        ] {
            let raw = String::from_utf8(e.raw_response()).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", e.status())));
            assert!(head.contains(&format!("content-length: {}", body.len())));
            assert!(body.contains(&format!("<h1>{} ", e.status())));
        }
    }
}
