//! SMTP_CHECK against a scripted SMTP responder on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_health::keepalived::{Checker, ConnectOptions, SmtpCheck};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A responder that sends `greeting`, then answers each command line with `answer(line)` (`None`: stay
/// silent); the command lines are sent on the channel.
async fn responder(
    greeting: &'static str,
    answer: fn(&str) -> Option<&'static str>,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = s.into_split();
                let _ = write.write_all(greeting.as_bytes()).await;
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line.clone());
                    match answer(&line) {
                        Some(reply) => {
                            let _ = write.write_all(reply.as_bytes()).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn check(timeout: Duration) -> SmtpCheck {
    SmtpCheck::new(
        Some("checker.example"),
        ConnectOptions::with_timeout(timeout),
    )
    .unwrap()
}

fn polite(line: &str) -> Option<&'static str> {
    Some(match line {
        "QUIT" => "221 2.0.0 Bye\r\n",
        l if l.starts_with("HELO ") => "250-mail.example\r\n250 Hello\r\n",
        _ => "500 What?\r\n",
    })
}

#[tokio::test]
async fn greeting_helo_quit() {
    let (addr, mut lines) = responder("220-mail.example ESMTP\r\n220 no UCE\r\n", polite).await;
    let r = Checker::Smtp(check(Duration::from_secs(3))).run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "greeting 220, HELO 250");
    assert_eq!(lines.recv().await.unwrap(), "HELO checker.example");
    assert_eq!(lines.recv().await.unwrap(), "QUIT");
}

#[tokio::test]
async fn a_refusing_server_fails() {
    let (addr, _l) = responder("554 go away\r\n", polite).await;
    let r = check(Duration::from_secs(3)).run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "greeting 554, expected 220")
    );

    let (addr, _l) = responder("220 ok\r\n", |_| Some("501 bad HELO\r\n")).await;
    let r = check(Duration::from_secs(3)).run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "HELO reply 501, expected 250")
    );

    let (addr, _l) = responder("HTTP/1.0 400 Bad\r\n", polite).await;
    let r = check(Duration::from_secs(3)).run(addr).await;
    assert_eq!((r.up, r.reason.as_str()), (false, "invalid greeting"));
}

#[tokio::test]
async fn silence_times_out() {
    let (addr, _l) = responder("220 ok\r\n", |_| None).await;
    let start = Instant::now();
    let r = check(Duration::from_millis(300)).run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "waiting for the HELO reply timed out")
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(start.elapsed() < Duration::from_secs(2));

    // No greeting at all.
    let (addr, _l) = responder("", |_| None).await;
    let r = check(Duration::from_millis(300)).run(addr).await;
    assert_eq!(r.reason, "waiting for the greeting timed out");
}
