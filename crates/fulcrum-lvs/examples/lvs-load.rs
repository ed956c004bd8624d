//! A small, bounded load generator and server for `bench/lvs-vs-routing.sh` (std only).
//!
//! ```text
//! lvs-load serve NAME TCP_PORT[,PORT...] UDP_PORT THREADS [UDP_ADDR...]
//!                                                     # TCP: send NAME and close; UDP: echo (on
//!                                                     # each UDP_ADDR, else on [::], so that direct-routed
//!                                                     # replies leave from the VIP)
//! lvs-load cps SECONDS THREADS HOST:PORT [HOST:PORT...]  # connect, read to EOF, close, repeat
//! lvs-load pps SECONDS THREADS WINDOW HOST:PORT [...]    # UDP request/reply with WINDOW in flight
//! ```
//! `cps` prints `cps=N errors=E`; `pps` prints `replies_per_s=N pps=2N lost=L` (each reply is one packet
//! in and one out through the director).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!("usage: lvs-load serve NAME TCP_PORT[,PORT...] UDP_PORT THREADS [UDP_ADDR...] | cps SECONDS THREADS ADDR... | pps SECONDS THREADS WINDOW ADDR...");
    std::process::exit(2)
}

fn num<T: std::str::FromStr>(s: Option<&String>) -> T {
    s.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

fn addrs(v: &[String]) -> Vec<SocketAddr> {
    let a: Vec<SocketAddr> = v.iter().filter_map(|s| s.parse().ok()).collect();
    if a.is_empty() || a.len() != v.len() {
        usage()
    }
    a
}

fn serve(name: String, tcp: &str, udp: u16, threads: usize, udp_addrs: &[String]) {
    let mut hs = Vec::new();
    for port in tcp.split(',') {
        let port: u16 = port.parse().unwrap_or_else(|_| usage());
        let l = TcpListener::bind(("::", port)).unwrap_or_else(|e| panic!("bind tcp: {e}"));
        for _ in 0..threads {
            let l = l.try_clone().unwrap_or_else(|e| panic!("{e}"));
            let msg = name.clone().into_bytes();
            hs.push(std::thread::spawn(move || loop {
                if let Ok((mut c, _)) = l.accept() {
                    let _ = c.write_all(&msg);
                }
            }));
        }
    }
    let binds: Vec<String> = if udp_addrs.is_empty() {
        vec!["::".to_string()]
    } else {
        udp_addrs.to_vec()
    };
    for a in binds {
        let ip: std::net::IpAddr = a.parse().unwrap_or_else(|_| usage());
        let u = UdpSocket::bind((ip, udp)).unwrap_or_else(|e| panic!("bind udp: {e}"));
        for _ in 0..threads {
            let u = u.try_clone().unwrap_or_else(|e| panic!("{e}"));
            hs.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                loop {
                    if let Ok((n, a)) = u.recv_from(&mut buf) {
                        let _ = u.send_to(&buf[..n], a);
                    }
                }
            }));
        }
    }
    for h in hs {
        let _ = h.join();
    }
}

fn cps(secs: u64, threads: usize, targets: Vec<SocketAddr>) {
    let ok = Arc::new(AtomicU64::new(0));
    let err = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (ok, err, stop, targets) = (ok.clone(), err.clone(), stop.clone(), targets.clone());
            std::thread::spawn(move || {
                let mut i = t;
                let mut buf = [0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    let a = targets[i % targets.len()];
                    i += 1;
                    match TcpStream::connect_timeout(&a, Duration::from_secs(1)) {
                        Ok(mut c) => {
                            let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                            let mut got = 0;
                            loop {
                                match c.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => got += n,
                                    Err(_) => {
                                        got = 0;
                                        break;
                                    }
                                }
                            }
                            if got > 0 {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                err.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            err.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        let _ = h.join();
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "cps={:.0} errors={}",
        ok.load(Ordering::Relaxed) as f64 / dt,
        err.load(Ordering::Relaxed)
    );
}

fn pps(secs: u64, threads: usize, window: usize, targets: Vec<SocketAddr>) {
    let replies = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (replies, lost, stop) = (replies.clone(), lost.clone(), stop.clone());
            let a = targets[t % targets.len()];
            std::thread::spawn(move || {
                let bind: SocketAddr = if a.is_ipv6() {
                    "[::]:0".parse().unwrap_or_else(|_| usage())
                } else {
                    "0.0.0.0:0".parse().unwrap_or_else(|_| usage())
                };
                let Ok(u) = UdpSocket::bind(bind) else { return };
                if u.connect(a).is_err() {
                    return;
                }
                let _ = u.set_read_timeout(Some(Duration::from_millis(200)));
                let msg = [0x55u8; 64];
                let mut buf = [0u8; 256];
                for _ in 0..window {
                    let _ = u.send(&msg);
                }
                while !stop.load(Ordering::Relaxed) {
                    match u.recv(&mut buf) {
                        Ok(_) => {
                            replies.fetch_add(1, Ordering::Relaxed);
                            let _ = u.send(&msg);
                        }
                        Err(_) => {
                            // Refill the window after a loss.
                            lost.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..window {
                                let _ = u.send(&msg);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        let _ = h.join();
    }
    let r = replies.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "replies_per_s={r:.0} pps={:.0} lost={}",
        2.0 * r,
        lost.load(Ordering::Relaxed)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(
            args.get(1).cloned().unwrap_or_else(|| usage()),
            args.get(2).map_or_else(|| usage(), String::as_str),
            num(args.get(3)),
            num(args.get(4)),
            &args[5.min(args.len())..],
        ),
        Some("cps") => {
            let secs: u64 = num(args.get(1));
            cps(
                secs.clamp(1, 300),
                num(args.get(2)),
                addrs(&args[3.min(args.len())..]),
            )
        }
        Some("pps") => {
            let secs: u64 = num(args.get(1));
            pps(
                secs.clamp(1, 300),
                num(args.get(2)),
                num(args.get(3)),
                addrs(&args[4.min(args.len())..]),
            )
        }
        _ => usage(),
    }
}
