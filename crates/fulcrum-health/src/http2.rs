//! HTTP checks over HTTP/2 (`server ... proto h2` or `check-proto h2`): the check's request sent as one stream with
//! the `h2` crate's client, and its response judged by the same rules as an HTTP/1 one (the head and body are
//! laid out as HTTP/1 text for [`crate::response::evaluate`]).

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::outcome::{CheckOutcome, CheckStatus};
use crate::response::{evaluate, Expect, MAX_RESPONSE};

/// The parts of the check's HTTP/1 request that an HTTP/2 stream carries.
struct Parts {
    request: http::Request<()>,
    body: Bytes,
}

/// Reads back the request the check renders (its own bytes, valid by construction): method, target, headers
/// other than the connection-specific ones, and the body. `Host` becomes the `:authority`.
fn parts(raw: &[u8]) -> Option<Parts> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut fields);
    let httparse::Status::Complete(head_len) = req.parse(raw).ok()? else {
        return None;
    };
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .unwrap_or("localhost");
    let uri = format!("http://{host}{}", req.path?);
    let mut b = http::Request::builder().method(req.method?).uri(uri);
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "te"
        ) {
            continue;
        }
        b = b.header(name, h.value);
    }
    Some(Parts {
        request: b.body(()).ok()?,
        body: Bytes::copy_from_slice(&raw[head_len..]),
    })
}

/// Sends a check's `request` (as written for HTTP/1) as an HTTP/2 stream on `stream` and judges the response by
/// `expect`.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    request: &[u8],
    expect: &Expect,
    start: Instant,
) -> CheckOutcome {
    let text = match round_trip(stream, request).await {
        Ok(t) => t,
        Err(info) => {
            return CheckOutcome::new(CheckStatus::L7Response, start.elapsed()).with_info(info)
        }
    };
    match evaluate(&text, true, expect) {
        Some(v) => {
            let mut outcome = CheckOutcome::new(v.status, start.elapsed());
            outcome.code = v.code;
            if let Some(info) = v.info {
                outcome = outcome.with_info(info);
            }
            outcome
        }
        None => CheckOutcome::new(CheckStatus::L7Response, start.elapsed()),
    }
}

/// Sends the HTTP/1 request `raw` as one HTTP/2 stream on `stream` (a new connection: the preface and settings
/// first) and gives the response laid out as HTTP/1 text (at most [`MAX_RESPONSE`] bytes), or why there is none
/// (the check's `info`). The scripted checks (`http-check connect proto h2`) speak HTTP/2 through it too.
pub(crate) async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    raw: &[u8],
) -> Result<Vec<u8>, String> {
    let Some(Parts { request, body }) = parts(raw) else {
        return Err("invalid check request".into());
    };
    let (mut client, conn) = h2::client::handshake(stream)
        .await
        .map_err(|e| format!("HTTP/2 handshake failed ({e})"))?;
    // The connection is driven beside the stream; it ends with this check (dropped with it).
    let conn = async move {
        let _ = conn.await;
    };
    let stream_exchange = async move {
        let end_of_stream = body.is_empty();
        let (response, mut send) = client.send_request(request, end_of_stream)?;
        if !end_of_stream {
            send.send_data(body, true)?;
        }
        let response = response.await?;
        let (head, mut recv) = response.into_parts();
        let mut text = format!(
            "HTTP/1.1 {} {}\r\n",
            head.status.as_str(),
            head.status.canonical_reason().unwrap_or("")
        )
        .into_bytes();
        for (name, value) in &head.headers {
            text.extend_from_slice(name.as_str().as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value.as_bytes());
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"\r\n");
        while let Some(data) = recv.data().await {
            let data = data?;
            let _ = recv.flow_control().release_capacity(data.len());
            text.extend_from_slice(&data);
            if text.len() >= MAX_RESPONSE {
                text.truncate(MAX_RESPONSE);
                break;
            }
        }
        Ok::<_, h2::Error>(text)
    };
    tokio::select! {
        r = stream_exchange => r.map_err(|e| format!("HTTP/2 stream failed ({e})")),
        () = conn => Err("HTTP/2 connection closed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_read_back_for_a_stream() {
        // As `http::HttpCheck` writes it for `http-check send meth POST uri /status?x=1 ver HTTP/1.1 hdr Host
        // app.test hdr X-Test 1 body ping`.
        let request =
            b"POST /status?x=1 HTTP/1.1\r\nHost: app.test\r\nX-Test: 1\r\nContent-Length: 4\r\n\
                        Connection: close\r\n\r\nping";
        let p = parts(request).unwrap();
        assert_eq!(p.request.method(), "POST");
        assert_eq!(p.request.uri(), "http://app.test/status?x=1");
        assert_eq!(p.request.headers()["x-test"], "1");
        assert!(p.request.headers().get("host").is_none());
        assert!(p.request.headers().get("connection").is_none());
        assert_eq!(p.request.headers()["content-length"], "4");
        assert_eq!(&p.body[..], b"ping");
    }
}
