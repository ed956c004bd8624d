//! mode tcp over splice(2): content intact both ways, half-close, resets, idle timeout, exact byte counts,
//! urgent data, and the same through a running proxy.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream as StdStream};
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use common::*;
use fulcrum_proxy::splice::bidirectional;

const MB20: usize = 20 * 1024 * 1024;

/// FNV-1a over `data`, enough to tell two byte streams apart.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A connected pair: the blocking peer end and the tokio end the splice works on.
async fn connected() -> (StdStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let peer = StdStream::connect(addr).unwrap();
    let (mine, _) = l.accept().await.unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (peer, mine)
}

/// client <-> a [splice] b <-> server.
async fn setup() -> (StdStream, TcpStream, TcpStream, StdStream) {
    let (client, a) = connected().await;
    let (server, b) = connected().await;
    (client, a, b, server)
}

/// Writes `data` then half-closes, on its own thread, while this end goes on reading.
fn send_then_close(s: &StdStream, data: Vec<u8>) -> JoinHandle<()> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    })
}

/// Reads until EOF on its own thread.
fn read_all(s: &StdStream) -> JoinHandle<Vec<u8>> {
    let mut r = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        all
    })
}

#[tokio::test]
async fn splice_moves_20_mb_each_way_intact_and_counts_exactly() {
    let (client, a, b, server) = setup().await;
    let up = noise(1, MB20);
    let down = noise(2, MB20 + 12_345);
    let (up_sum, down_sum) = (checksum(&up), checksum(&down));
    let down_len = down.len() as u64;
    let writers = [send_then_close(&client, up), send_then_close(&server, down)];
    let got_by_server = read_all(&server);
    let got_by_client = read_all(&client);
    let end = bidirectional(&a, &b, Some(Duration::from_secs(20))).await;
    drop((a, b));
    for w in writers {
        w.join().unwrap();
    }
    let (s, c) = (got_by_server.join().unwrap(), got_by_client.join().unwrap());
    assert_eq!((s.len(), checksum(&s)), (MB20, up_sum));
    assert_eq!((c.len() as u64, checksum(&c)), (down_len, down_sum));
    assert_eq!((end.a_to_b, end.b_to_a), (MB20 as u64, down_len));
    assert!(!end.a_failed && !end.b_failed && !end.timed_out, "{end:?}");
}

#[tokio::test]
async fn splice_passes_half_close_and_the_answer_comes_back() {
    let (mut client, a, b, mut server) = setup().await;
    // The server answers only once it saw the client's EOF, then closes.
    let srv = std::thread::spawn(move || {
        let mut req = Vec::new();
        server.read_to_end(&mut req).unwrap();
        server
            .write_all(format!("answer:{}", req.len()).as_bytes())
            .unwrap();
    });
    let cli = std::thread::spawn(move || {
        client.write_all(b"hello").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        reply
    });
    let end = bidirectional(&a, &b, None).await;
    drop((a, b));
    srv.join().unwrap();
    assert_eq!(cli.join().unwrap(), "answer:5");
    assert_eq!((end.a_to_b, end.b_to_a), (5, 8));
    assert!(!end.a_failed && !end.b_failed && !end.timed_out, "{end:?}");
}

#[tokio::test]
async fn splice_marks_the_server_failed_on_reset() {
    let (mut client, a, b, mut server) = setup().await;
    let srv = std::thread::spawn(move || {
        server.write_all(b"partial").unwrap();
        // Linger 0: close sends RST instead of FIN.
        socket2::SockRef::from(&server)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(server);
    });
    let end = bidirectional(&a, &b, Some(Duration::from_secs(10))).await;
    drop((a, b));
    srv.join().unwrap();
    assert!(end.b_failed && !end.a_failed && !end.timed_out, "{end:?}");
    assert_eq!((end.a_to_b, end.b_to_a), (0, 7));
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    assert_eq!(got, b"partial");
}

#[tokio::test]
async fn splice_marks_the_client_failed_on_reset() {
    let (client, a, b, _server) = setup().await;
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    let end = bidirectional(&a, &b, Some(Duration::from_secs(10))).await;
    assert!(end.a_failed && !end.b_failed && !end.timed_out, "{end:?}");
}

#[tokio::test]
async fn splice_stops_when_idle() {
    let (_client, a, b, _server) = setup().await;
    let t0 = Instant::now();
    let end = bidirectional(&a, &b, Some(Duration::from_millis(200))).await;
    assert!(end.timed_out && !end.a_failed && !end.b_failed, "{end:?}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!((end.a_to_b, end.b_to_a), (0, 0));
}

#[tokio::test]
async fn splice_idle_timeout_counts_from_the_last_byte() {
    let (mut client, a, b, mut server) = setup().await;
    let idle = Duration::from_millis(500);
    // One byte every 100 ms for 600 ms keeps the connection alive well past one idle period.
    let cli = std::thread::spawn(move || {
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(100));
            client.write_all(b"x").unwrap();
        }
        (Instant::now(), client)
    });
    let srv = std::thread::spawn(move || {
        let mut got = [0u8; 6];
        server.read_exact(&mut got).unwrap();
        server
    });
    let end = bidirectional(&a, &b, Some(idle)).await;
    let stopped = Instant::now();
    let (last_write, _client) = cli.join().unwrap();
    let _server = srv.join().unwrap();
    assert!(end.timed_out, "{end:?}");
    assert_eq!((end.a_to_b, end.b_to_a), (6, 0));
    assert!(
        stopped >= last_write + idle,
        "stopped {:?} after the last byte",
        stopped - last_write
    );
}

#[tokio::test]
async fn splice_steps_over_an_urgent_mark() {
    let (client, a, b, mut server) = setup().await;
    let got = std::thread::spawn(move || {
        let mut all = Vec::new();
        server.read_to_end(&mut all).unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        all
    });
    let mut c = client.try_clone().unwrap();
    let cli = std::thread::spawn(move || {
        c.write_all(b"abc").unwrap();
        // The last byte of an out-of-band send is urgent; without SO_OOBINLINE the receiver drops it from the
        // stream, as recv(2) did on the copy path.
        socket2::SockRef::from(&c).send_out_of_band(b"X").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"def").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
    });
    let end = bidirectional(&a, &b, Some(Duration::from_secs(5))).await;
    drop((a, b));
    cli.join().unwrap();
    drop(client);
    assert!(!end.timed_out && !end.a_failed && !end.b_failed, "{end:?}");
    assert_eq!(got.join().unwrap(), b"abcdef");
    assert_eq!(end.a_to_b, 6);
}

/// Everything sent before the relay starts: the bytes after the urgent mark and the FIN wait together behind the
/// mark, where splice answers 0 as at the end of the stream; the bytes after the mark still go through.
#[tokio::test]
async fn splice_steps_over_an_urgent_mark_with_the_fin_behind() {
    let (client, a, b, mut server) = setup().await;
    let got = std::thread::spawn(move || {
        let mut all = Vec::new();
        server.read_to_end(&mut all).unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        all
    });
    let mut c = client.try_clone().unwrap();
    c.write_all(b"abc").unwrap();
    socket2::SockRef::from(&c).send_out_of_band(b"X").unwrap();
    c.write_all(b"def").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let end = bidirectional(&a, &b, Some(Duration::from_secs(5))).await;
    drop((a, b));
    drop(client);
    assert!(!end.timed_out && !end.a_failed && !end.b_failed, "{end:?}");
    assert_eq!(got.join().unwrap(), b"abcdef");
    assert_eq!(end.a_to_b, 6);
}

#[test]
fn tcp_mode_moves_20_mb_each_way_through_the_proxy() {
    // The server sends its own 20 MB while reading the client's, and reports what it read in a side channel.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = l.local_addr().unwrap();
    let down = noise(7, MB20);
    let down_sum = checksum(&down);
    let srv = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let w = send_then_close(&s, down);
        let got = read_all(&s).join().unwrap();
        w.join().unwrap();
        (got.len(), checksum(&got))
    });
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 20s
    timeout server 20s
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    server s1 {server_addr}
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let up = noise(8, MB20);
    let up_sum = checksum(&up);
    let client = StdStream::connect(p.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let w = send_then_close(&client, up);
    let got = read_all(&client).join().unwrap();
    w.join().unwrap();
    assert_eq!((got.len(), checksum(&got)), (MB20, down_sum));
    assert_eq!(srv.join().unwrap(), (MB20, up_sum));
    // The counters are added once the connection ended on the proxy's side: give it a moment.
    let stats = &p.running.as_ref().unwrap().snapshot().frontends[0].stats;
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.bytes_out.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stats.bytes_in.load(Ordering::Relaxed), MB20 as u64);
    assert_eq!(stats.bytes_out.load(Ordering::Relaxed), MB20 as u64);
}
