//! The protocol checks and the agent exchange against scripted servers on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_health::agent::{AgentAdmin, AgentState};
use fulcrum_health::protocol::{MysqlCheck, PgsqlCheck, SmtpCheck};
use fulcrum_health::{
    agent_exchange, protocol_check, AgentReply, CheckStatus, Probe, ProtocolCheck,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(2);
const SHORT: Duration = Duration::from_millis(300);

/// One step of a scripted server.
#[derive(Clone)]
enum Step {
    /// Write these bytes.
    Send(&'static [u8]),
    /// Read until this many bytes came (or the peer closed).
    Recv(usize),
}

/// A server running `script` on every connection, then reading what is left until the peer closes (at most
/// 200 ms) and closing; everything it read is sent on the channel.
async fn scripted(script: Vec<Step>) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let script = script.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                for step in script {
                    match step {
                        Step::Send(b) => {
                            let _ = s.write_all(b).await;
                        }
                        Step::Recv(n) => {
                            while got.len() < n {
                                match s.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(k) => got.extend_from_slice(&buf[..k]),
                                }
                            }
                        }
                    }
                }
                let tail = async {
                    while let Ok(k @ 1..) = s.read(&mut buf).await {
                        got.extend_from_slice(&buf[..k]);
                    }
                };
                let _ = tokio::time::timeout(Duration::from_millis(200), tail).await;
                let _ = tx.send(got);
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn smtp_greets_hellos_and_quits() {
    let (addr, mut got) = scripted(vec![
        Step::Send(b"220 mx.example ESMTP\r\n"),
        Step::Recv(17),
        Step::Send(b"250-mx.example\r\n250 PIPELINING\r\n"),
    ])
    .await;
    let check = ProtocolCheck::Smtp(SmtpCheck::new("EHLO", "domain.tld").unwrap());
    let o = protocol_check(addr, &check, TIMEOUT).await;
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Ok, Some(250), Some("mx.example"))
    );
    assert_eq!(got.recv().await.unwrap(), b"EHLO domain.tld\r\nQUIT\r\n");
}

#[tokio::test]
async fn smtp_refusal_is_a_wrong_status() {
    let (addr, _) = scripted(vec![Step::Send(b"421 Try again later\r\n")]).await;
    let o = protocol_check(addr, &ProtocolCheck::Smtp(SmtpCheck::default()), TIMEOUT).await;
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Status, Some(421), Some("Try again later"))
    );
}

#[tokio::test]
async fn redis_ping() {
    let (addr, mut got) = scripted(vec![Step::Recv(14), Step::Send(b"+PONG\r\n")]).await;
    let o = Probe::Protocol(ProtocolCheck::Redis)
        .run(addr, TIMEOUT)
        .await;
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Ok, Some(0), Some("Redis server is ok"))
    );
    assert_eq!(got.recv().await.unwrap(), b"*1\r\n$4\r\nPING\r\n");
}

#[tokio::test]
async fn redis_error_then_close() {
    let (addr, _) = scripted(vec![Step::Recv(14), Step::Send(b"-Error message\r\n")]).await;
    let o = protocol_check(addr, &ProtocolCheck::Redis, TIMEOUT).await;
    assert_eq!(
        (o.status, o.info.as_deref()),
        (CheckStatus::L7Status, Some("-Error message"))
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (addr, _) = scripted(vec![Step::Recv(usize::MAX)]).await;
    let o = protocol_check(addr, &ProtocolCheck::Ldap, SHORT).await;
    assert_eq!(o.status, CheckStatus::L7Timeout);
    assert!(o.duration >= SHORT);
}

#[tokio::test]
async fn pgsql_and_mysql() {
    let (addr, mut got) = scripted(vec![Step::Recv(23), Step::Send(b"R\0\0\0\x08\0\0\0\0")]).await;
    let pg = ProtocolCheck::Pgsql(PgsqlCheck::new("postgres").unwrap());
    let o = protocol_check(addr, &pg, TIMEOUT).await;
    assert_eq!(
        (o.status, o.info.as_deref()),
        (CheckStatus::L7Ok, Some("PostgreSQL server is ok"))
    );
    assert_eq!(
        got.recv().await.unwrap(),
        b"\0\0\0\x17\0\x03\0\0user\0postgres\0\0"
    );

    let (addr, mut got) = scripted(vec![Step::Send(b"\x0b\0\0\0\x0a5.7.44\0abc")]).await;
    let my = ProtocolCheck::Mysql(MysqlCheck::handshake_only());
    let o = protocol_check(addr, &my, TIMEOUT).await;
    assert_eq!(
        (o.status, o.info.as_deref()),
        (CheckStatus::L7Ok, Some("5.7.44"))
    );
    assert_eq!(got.recv().await.unwrap(), b"");
}

#[tokio::test]
async fn an_unreachable_network_is_a_general_socket_error() {
    // TCP towards the broadcast address fails in connect() itself, as HAProxy reports it.
    let addr: SocketAddr = "255.255.255.255:11111".parse().unwrap();
    let o = protocol_check(addr, &ProtocolCheck::Redis, TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L4Connection);
    assert_eq!(
        o.info.as_deref(),
        Some("General socket error (Network is unreachable)")
    );
}

#[tokio::test]
async fn agent_reports() {
    let (addr, mut got) = scripted(vec![
        Step::Recv(5),
        Step::Send(b"75%,maxconn:30,maint,down\n"),
    ])
    .await;
    let AgentReply::Line { report, .. } = agent_exchange(addr, Some(b"pouet"), TIMEOUT).await
    else {
        panic!("expected a line");
    };
    assert_eq!(report.weight(100), Some(75));
    assert_eq!(report.maxconn, Some(30));
    assert_eq!(report.admin, Some(AgentAdmin::Maint));
    assert!(matches!(
        report.state,
        Some(AgentState::Down { word: "down", .. })
    ));
    assert_eq!(got.recv().await.unwrap(), b"pouet");

    let (addr, _) = scripted(vec![]).await;
    match agent_exchange(addr, None, TIMEOUT).await {
        AgentReply::Empty(o) => assert_eq!(
            o.info.as_deref(),
            Some("TCPCHK got an empty response at step 1")
        ),
        other => panic!("{other:?}"),
    }
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(
        agent_exchange(closed, None, TIMEOUT).await,
        AgentReply::Unreachable(_)
    ));
}
