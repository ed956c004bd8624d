//! DNS_CHECK against a tiny UDP responder on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_health::keepalived::{
    Checker, ConnectOptions, DnsCheck, DnsType, DEFAULT_DNS_NAME, DEFAULT_DNS_TYPE,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A reply to `query`: its id and question echoed, QR set, `rcode`, `answers` in the header.
fn reply(query: &[u8], id: [u8; 2], qr: bool, rcode: u8, answers: u16) -> Vec<u8> {
    let mut r = query.to_vec();
    r[0..2].copy_from_slice(&id);
    r[2] = if qr { 0x81 } else { 0x01 };
    r[3] = 0x80 | rcode;
    r[6..8].copy_from_slice(&answers.to_be_bytes());
    r
}

/// A responder answering each query with the datagrams `answer(query)` returns; queries are sent on the
/// channel.
async fn responder(
    answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let query = buf[..n].to_vec();
            for datagram in answer(&query) {
                socket.send_to(&datagram, peer).await.unwrap();
            }
            let _ = tx.send(query);
        }
    });
    (addr, rx)
}

fn check(qtype: DnsType, name: &str) -> DnsCheck {
    DnsCheck::new(qtype, name, super::quick()).unwrap()
}

#[tokio::test]
async fn noerror_passes_and_the_query_is_well_formed() {
    let (addr, mut queries) = responder(|q| vec![reply(q, [q[0], q[1]], true, 0, 1)]).await;
    let c = Checker::Dns(check(DnsType::A, "example.com"));
    let r = c.run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "NOERROR, 1 answer(s)");
    let q = queries.recv().await.unwrap();
    assert_eq!(&q[2..12], &[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x01\x00\x01");

    // keepalived's defaults: SOA for the root. An empty answer section still passes.
    let (addr, mut queries) = responder(|q| vec![reply(q, [q[0], q[1]], true, 0, 0)]).await;
    let r = check(DEFAULT_DNS_TYPE, DEFAULT_DNS_NAME).run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(&queries.recv().await.unwrap()[12..], &[0, 0, 6, 0, 1]);
}

#[tokio::test]
async fn an_error_rcode_fails() {
    let (addr, _q) = responder(|q| vec![reply(q, [q[0], q[1]], true, 3, 0)]).await;
    let r = check(DnsType::Soa, "missing.example").run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "DNS error rcode 3 (NXDOMAIN)")
    );
    let (addr, _q) = responder(|q| vec![reply(q, [q[0], q[1]], true, 2, 0)]).await;
    let r = check(DnsType::Soa, "example").run(addr).await;
    assert_eq!(r.reason, "DNS error rcode 2 (SERVFAIL)");
}

#[tokio::test]
async fn stray_datagrams_are_ignored() {
    // A short datagram, a reply with another id, a query-looking packet with the right id, then the
    // real reply: only the last one counts.
    let (addr, _q) = responder(|q| {
        let wrong = [q[0] ^ 0xff, q[1]];
        vec![
            vec![1, 2, 3],
            reply(q, wrong, true, 3, 0),
            reply(q, [q[0], q[1]], false, 3, 0),
            reply(q, [q[0], q[1]], true, 0, 2),
        ]
    })
    .await;
    let r = check(DnsType::Mx, "example.org").run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "NOERROR, 2 answer(s)");
}

#[tokio::test]
async fn silence_times_out_and_a_closed_port_fails() {
    let (addr, _q) = responder(|q| vec![reply(q, [q[0] ^ 1, q[1]], true, 0, 1)]).await;
    let c = DnsCheck::new(
        DnsType::A,
        "example.com",
        ConnectOptions::with_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let start = Instant::now();
    let r = c.run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "waiting for the DNS response timed out")
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(start.elapsed() < Duration::from_secs(2));

    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let r = check(DnsType::A, "example.com").run(closed).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "no DNS response: Connection refused")
    );
}
