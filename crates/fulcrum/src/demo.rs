//! `fulcrum demo`: the embedded default. Three built-in HTTP backends and a balancer on 127.0.0.1, configured
//! through the same haproxy.cfg parser as `fulcrum proxy`; a short tour shows round robin, a backend failing
//! its health checks and traffic moving away from it, then its return. Runs until Ctrl-C.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, Signal};

use fulcrum_proxy::origin::Origin;

/// Options of `fulcrum demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address of the balanced service (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Skip the scripted tour; just serve.
    #[arg(long)]
    no_tour: bool,
}

/// The configuration the demo runs, in haproxy.cfg form.
fn config_text(listen: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "\
global
    nbthread 1

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    option forwardfor

frontend demo
    bind {listen}
    default_backend demo_servers

backend demo_servers
    balance roundrobin
    option httpchk GET /health
"
    );
    for (i, addr) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "    server backend{} {addr} check inter 300ms fall 2 rise 2\n",
            i + 1
        ));
    }
    cfg
}

/// Runs the demo; returns the exit code.
pub fn main(args: DemoArgs) -> u8 {
    crate::logging::init("info");
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fulcrum demo: {e:#}");
            1
        }
    }
}

fn get(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let status = out.lines().next().unwrap_or("").to_string();
    Ok(format!("{} | {}", status, body.trim()))
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn run(args: DemoArgs) -> Result<()> {
    let local = "127.0.0.1:0".parse().expect("literal address");
    let origins = (1..=3)
        .map(|i| Origin::start(&format!("backend{i}"), local))
        .collect::<std::io::Result<Vec<_>>>()
        .context("starting the built-in backends")?;
    let addrs: Vec<SocketAddr> = origins.iter().map(Origin::addr).collect();

    // haproxy.cfg has no port 0: when asked for one, or when the port is taken, a free port is chosen here.
    let mut listen = args.listen;
    if listen.port() == 0 {
        listen.set_port(free_port(listen)?);
    }
    let bound = match start_proxy(listen, &addrs) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("fulcrum demo: {e:#}; using a free port instead");
            listen.set_port(free_port(listen)?);
            start_proxy(listen, &addrs)?
        }
    };
    let service = bound
        .local_addrs()
        .first()
        .map(|(_, a)| *a)
        .context("the demo frontend has no address")?;

    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("cannot block signals")?;
    let running = bound.spawn()?;

    println!("fulcrum demo: three built-in backends behind a round-robin balancer");
    for o in &origins {
        println!("  backend {} at http://{}/", o.name(), o.addr());
    }
    println!("service: http://{service}/");
    println!("try: curl http://{service}/");
    let _ = std::io::stdout().flush();

    if !args.no_tour {
        tour(service, &origins, &running)?;
    }
    println!("serving until Ctrl-C");
    let _ = std::io::stdout().flush();
    let _ = signals.wait();
    running.stop();
    for o in origins {
        o.stop();
    }
    Ok(())
}

fn free_port(addr: SocketAddr) -> Result<u16> {
    let l = std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))
        .context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn start_proxy(listen: SocketAddr, backends: &[SocketAddr]) -> Result<fulcrum_proxy::Bound> {
    let config = fulcrum_config::haproxy::parse_str("<demo>", &config_text(listen, backends))
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    Ok(fulcrum_proxy::bind(&config)?)
}

fn tour(
    service: SocketAddr,
    origins: &[Origin],
    running: &fulcrum_proxy::RunningProxy,
) -> Result<()> {
    let servers = running.snapshot().servers.clone();
    println!("\n-- round robin: six requests --");
    for i in 1..=6 {
        println!("request {i}: {}", get(service)?);
    }
    println!("\n-- backend2 starts failing its health checks --");
    origins[1].set_healthy(false);
    let down = wait_until(Duration::from_secs(10), || !servers[1].is_up());
    println!(
        "backend2 is {}",
        if down {
            "DOWN"
        } else {
            "still UP (unexpected)"
        }
    );
    for i in 1..=4 {
        println!("request {i}: {}", get(service)?);
    }
    println!("\n-- backend2 recovers --");
    origins[1].set_healthy(true);
    let up = wait_until(Duration::from_secs(10), || servers[1].is_up());
    println!(
        "backend2 is {}",
        if up { "UP" } else { "still DOWN (unexpected)" }
    );
    for i in 1..=3 {
        println!("request {i}: {}", get(service)?);
    }
    println!("-- tour done --\n");
    Ok(())
}
