//! `fulcrum demo`: the embedded default. Three built-in HTTP backends and a balancer on 127.0.0.1, configured
//! through the same haproxy.cfg parser as `fulcrum proxy`, with a stats page, Prometheus metrics and the runtime
//! API on a unix socket; a short tour shows round robin, a backend failing its health checks and traffic moving
//! away from it, then its return. Runs until Ctrl-C (SIGINT) or SIGTERM, then exits 0 having closed every port
//! and removed its socket directory. `fulcrum demo --print-config` prints the haproxy.cfg it runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, Signal};

use fulcrum_proxy::origin::Origin;

/// Options of `fulcrum demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address of the balanced service (port 0 picks a free port). The built-in backends default to the three
    /// ports after the stats port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the stats page and Prometheus metrics [default: the service port + 1].
    #[arg(long)]
    stats: Option<SocketAddr>,
    /// Skip the scripted tour; just serve.
    #[arg(long)]
    no_tour: bool,
    /// Print the haproxy.cfg equivalent of what the demo runs (for `fulcrum proxy -f`) and exit; with
    /// --cluster, the cluster's haproxy.cfg and keepalived.conf files.
    #[arg(long)]
    print_config: bool,
    /// Build the "HAProxy + keepalived" tutorial cluster in network namespaces (a client, two directors
    /// running `fulcrum proxy` and `fulcrum keepalived`, two web servers) and walk through a failover, then
    /// remove it all. Linux, root, iproute2.
    #[arg(long, conflicts_with_all = ["listen", "stats", "no_tour"])]
    cluster: bool,
}

/// The name of the frontend serving the balanced service.
const SERVICE_FE: &str = "demo";
/// The name of the frontend serving the stats page and the metrics.
const STATS_FE: &str = "stats";

/// What the demo runs: its addresses and its runtime API socket.
struct Plan {
    listen: SocketAddr,
    stats: SocketAddr,
    backends: Vec<SocketAddr>,
    socket: PathBuf,
}

impl Plan {
    /// The addresses asked for on the command line, before anything is bound: the stats port follows the
    /// service port, the backends the stats port (port 0 stays 0, a free port chosen later).
    fn requested(args: &DemoArgs, socket: PathBuf) -> Plan {
        let after = |a: SocketAddr, n: u16| -> SocketAddr {
            let port = match a.port() {
                0 => 0,
                p => p.checked_add(n).unwrap_or(0),
            };
            SocketAddr::new(a.ip(), port)
        };
        let stats = args.stats.unwrap_or_else(|| after(args.listen, 1));
        Plan {
            listen: args.listen,
            stats,
            backends: (1..=3).map(|i| after(stats, i)).collect(),
            socket,
        }
    }
}

/// The configuration the demo runs, in haproxy.cfg form (comments included: this is also what `--print-config`
/// prints).
fn config_text(plan: &Plan) -> String {
    let Plan {
        listen,
        stats,
        backends,
        socket,
    } = plan;
    let socket = socket.display();
    let example = backends.first().map_or(8082, SocketAddr::port);
    let mut cfg = format!(
        "\
# fulcrum demo: a round-robin balancer in front of three HTTP servers, with a stats page, Prometheus
# metrics and the runtime API. `fulcrum demo` runs this configuration (with its runtime API socket in a
# directory of its own, removed on exit); `fulcrum proxy -f FILE` runs it too.
#
# The servers backend1..3 are built into `fulcrum demo`: each answers \"Hello from backendN\" on / and
# \"ok\" on /health, and the demo's tour makes backend2 fail its health checks for a moment. `fulcrum proxy`
# does not start them: run HTTP servers of your own at those addresses (answering 200 on /health), e.g.
#     mkdir -p /tmp/b1 && echo ok > /tmp/b1/health && python3 -m http.server -d /tmp/b1 -b 127.0.0.1 {example}
# or point the server lines at real servers.
#
#   the service:         curl http://{listen}/
#   the stats page:      http://{stats}/stats  (servers can be drained or put in maintenance from it)
#   Prometheus metrics:  curl http://{stats}/metrics
#   the runtime API:     echo \"show stat\" | socat - UNIX:{socket}  (\"help\" lists its commands)

global
    nbthread 1
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    option forwardfor

frontend {SERVICE_FE}
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
    cfg.push_str(&format!(
        "
frontend {STATS_FE}
    bind {stats}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s
    stats admin if LOCALHOST
"
    ));
    cfg
}

/// Runs the demo; returns the exit code.
pub fn main(args: DemoArgs) -> u8 {
    if args.cluster {
        return crate::demo_cluster::main(args.print_config);
    }
    if args.print_config {
        // The socket of a printed configuration lives at a fixed path: the per-run directory of the demo would
        // not exist when `fulcrum proxy -f` runs it.
        let plan = Plan::requested(&args, std::env::temp_dir().join("fulcrum-demo.sock"));
        let fixed = [plan.listen, plan.stats];
        if fixed.iter().chain(&plan.backends).any(|a| a.port() == 0) {
            eprintln!("fulcrum demo: --print-config needs fixed ports: haproxy.cfg has no port 0");
            return 2;
        }
        print!("{}", config_text(&plan));
        return 0;
    }
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

/// A directory of this run (for the runtime API socket), removed when dropped.
struct RunDir(PathBuf);

impl RunDir {
    fn create() -> Result<RunDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("fulcrum-demo.{}", std::process::id()));
        // A directory left by an earlier process of the same pid (killed with SIGKILL) is stale.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(RunDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `addr`, or a free port on its address when its port is 0 or already taken.
fn usable(addr: SocketAddr, what: &str) -> Result<SocketAddr> {
    if addr.port() != 0 {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => return Ok(addr),
            Err(e) => eprintln!("fulcrum demo: {what} {addr}: {e}; using a free port instead"),
        }
    }
    // haproxy.cfg has no port 0: a free port is chosen here.
    let l = std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))
        .context("finding a free port")?;
    Ok(l.local_addr()?)
}

/// Starts a built-in backend on `addr`, or on a free port when that one is taken.
fn start_origin(name: &str, addr: SocketAddr) -> Result<Origin> {
    if addr.port() != 0 {
        if let Ok(o) = Origin::start(name, addr) {
            return Ok(o);
        }
    }
    Origin::start(name, SocketAddr::new(addr.ip(), 0))
        .with_context(|| format!("starting the built-in backend {name}"))
}

fn run(args: DemoArgs) -> Result<()> {
    // Blocked before any thread starts, so that every thread inherits the mask and only `waiter` below takes
    // SIGINT and SIGTERM (a thread with them unblocked would let the default action kill the process).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("cannot block signals")?;
    let stopping = Arc::new(AtomicBool::new(false));
    let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
    {
        let stopping = stopping.clone();
        std::thread::Builder::new()
            .name("fulcrum-signals".into())
            .spawn(move || {
                let sig = signals.wait().ok();
                stopping.store(true, Ordering::SeqCst);
                let _ = stopped_tx.send(sig);
            })
            .context("starting the signal thread")?;
    }

    let dir = RunDir::create()?;
    let mut plan = Plan::requested(&args, dir.path().join("runtime.sock"));
    let origins = plan
        .backends
        .iter()
        .enumerate()
        .map(|(i, &a)| start_origin(&format!("backend{}", i + 1), a))
        .collect::<Result<Vec<_>>>()?;
    plan.backends = origins.iter().map(Origin::addr).collect();
    plan.listen = usable(plan.listen, "service")?;
    plan.stats = usable(plan.stats, "stats")?;

    let config = fulcrum_config::haproxy::parse_str("<demo>", &config_text(&plan))
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    let bound = fulcrum_proxy::bind(&config)?;
    let addr_of = |fe: &str| {
        bound
            .local_addrs()
            .iter()
            .find(|(name, _)| name == fe)
            .map(|(_, a)| *a)
            .with_context(|| format!("the demo's {fe} frontend has no address"))
    };
    let service = addr_of(SERVICE_FE)?;
    let stats = addr_of(STATS_FE)?;
    let running = bound.spawn()?;

    println!("fulcrum demo: three built-in backends behind a round-robin balancer");
    for o in &origins {
        println!("  backend {} at http://{}/", o.name(), o.addr());
    }
    println!("service: http://{service}/");
    println!("stats page: http://{stats}/stats");
    println!("prometheus metrics: http://{stats}/metrics");
    println!("runtime API socket: {}", plan.socket.display());
    println!("try: curl http://{service}/");
    println!(
        "try: echo \"show stat\" | socat - UNIX:{}",
        plan.socket.display()
    );
    println!("the haproxy.cfg it runs: fulcrum demo --print-config");
    let _ = std::io::stdout().flush();

    if !args.no_tour {
        tour(service, &origins, &running, &stopping)?;
    }
    if !stopping.load(Ordering::SeqCst) {
        println!("serving until Ctrl-C");
        let _ = std::io::stdout().flush();
    }
    let sig = stopped_rx.recv().ok().flatten();
    running.stop();
    for o in origins {
        o.stop();
    }
    drop(dir);
    println!(
        "fulcrum demo: stopped{}",
        sig.map_or(String::new(), |s| format!(" on {s}"))
    );
    Ok(())
}

fn tour(
    service: SocketAddr,
    origins: &[Origin],
    running: &fulcrum_proxy::RunningProxy,
    stopping: &AtomicBool,
) -> Result<()> {
    let stop = || stopping.load(Ordering::SeqCst);
    let servers = running.snapshot().servers.clone();
    println!("\n-- round robin: six requests --");
    for i in 1..=6 {
        if stop() {
            return Ok(());
        }
        println!("request {i}: {}", get(service)?);
    }
    println!("\n-- backend2 starts failing its health checks --");
    origins[1].set_healthy(false);
    let down = wait_until(Duration::from_secs(10), || stop() || !servers[1].is_up());
    if stop() {
        return Ok(());
    }
    println!(
        "backend2 is {}",
        if down {
            "DOWN"
        } else {
            "still UP (unexpected)"
        }
    );
    for i in 1..=4 {
        if stop() {
            return Ok(());
        }
        println!("request {i}: {}", get(service)?);
    }
    println!("\n-- backend2 recovers --");
    origins[1].set_healthy(true);
    let up = wait_until(Duration::from_secs(10), || stop() || servers[1].is_up());
    if stop() {
        return Ok(());
    }
    println!(
        "backend2 is {}",
        if up { "UP" } else { "still DOWN (unexpected)" }
    );
    for i in 1..=3 {
        if stop() {
            return Ok(());
        }
        println!("request {i}: {}", get(service)?);
    }
    println!("-- tour done --\n");
    Ok(())
}
