//! `mode tcp` over a TLS client connection: the clear text of the client's TLS session relayed to and from the
//! server's plain socket, through user space (splice cannot see inside TLS), with the same ending reasons and byte
//! counts as the clear-text relay.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::data::client_io::{poll_write_stream, shutdown_write};
use crate::net::relay::SpliceEnd;
use crate::net::tls_io::TlsSession;

/// Buffer of each direction (HAProxy's `tune.bufsize`).
const BUF: usize = 16 * 1024;

/// Relays between the client (`client` with its TLS session) and `server` until both directions ended, one side
/// failed, or nothing moved for `idle`.
pub async fn relay(
    client: &TcpStream,
    tls: &TlsSession,
    server: &TcpStream,
    idle: Option<Duration>,
) -> SpliceEnd {
    let last = Cell::new(Instant::now());
    let (a_to_b, b_to_a) = (Cell::new(0u64), Cell::new(0u64));
    let (a_failed, b_failed) = (Cell::new(false), Cell::new(false));
    let up = async {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); BUF];
        loop {
            let n = match poll_fn(|cx| tls.poll_read(client, cx, &mut buf)).await {
                Ok(0) => {
                    let _ = shutdown_write(server);
                    return;
                }
                Ok(n) => n,
                Err(_) => {
                    a_failed.set(true);
                    return;
                }
            };
            last.set(Instant::now());
            a_to_b.set(a_to_b.get() + n as u64);
            // SAFETY: `poll_read` initialised the first `n` bytes.
            let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
            let mut at = 0;
            while at < n {
                match poll_fn(|cx| poll_write_stream(server, cx, &data[at..])).await {
                    Ok(w) if w > 0 => at += w,
                    _ => {
                        b_failed.set(true);
                        return;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; BUF];
        loop {
            let n = match server
                .readable()
                .await
                .and_then(|()| server.try_read(&mut buf))
            {
                Ok(0) => {
                    tls.close(client);
                    let _ = shutdown_write(client);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => {
                    b_failed.set(true);
                    return;
                }
            };
            last.set(Instant::now());
            b_to_a.set(b_to_a.get() + n as u64);
            let mut at = 0;
            while at < n {
                let slice = [io::IoSlice::new(&buf[at..n])];
                match poll_fn(|cx| tls.poll_write(client, cx, &slice)).await {
                    Ok(w) if w > 0 => at += w,
                    _ => {
                        a_failed.set(true);
                        return;
                    }
                }
            }
        }
    };
    let watchdog = async {
        match idle {
            None => std::future::pending().await,
            Some(limit) => loop {
                tokio::time::sleep_until(last.get() + limit).await;
                if last.get().elapsed() >= limit {
                    return;
                }
            },
        }
    };
    let both = async {
        // A direction that ends cleanly leaves the other running (half-close); a failure ends both, as in the
        // clear-text relay.
        let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            tokio::select! {
                _ = &mut up, if !up_done => up_done = true,
                _ = &mut down, if !down_done => down_done = true,
            }
            if a_failed.get() || b_failed.get() {
                break;
            }
        }
    };
    let timed_out = tokio::select! {
        _ = both => false,
        _ = watchdog => true,
    };
    SpliceEnd {
        a_to_b: a_to_b.get(),
        b_to_a: b_to_a.get(),
        a_failed: a_failed.get(),
        b_failed: b_failed.get(),
        timed_out,
    }
}
