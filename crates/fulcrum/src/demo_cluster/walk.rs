//! The scripted walk-through: build the cluster, show round robin, take a web server out and back, fail the
//! master director and time the backup's takeover from the client's side; then remove everything.

use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::page::ClusterPage;
use super::topology::Topology;
use super::web::{Client, Reply, WebServer};
use super::{
    with_metrics, Ctx, Host, Interrupted, HOSTS, LB1, LB2, PORT, PREFIX_LEN, VIP, WEB1, WEB2,
};

/// How long the proxies get to answer after they start.
const PROXY_START: Duration = Duration::from_secs(10);
/// How long VRRP gets to elect a master (lb2 waits 3 adverts and a skew before claiming the VIP itself).
const ELECTION: Duration = Duration::from_secs(15);
/// How long the health checks get to take a server out or in (`check`: every 2 s, 3 failures, 2 successes).
const HEALTH: Duration = Duration::from_secs(20);
/// How long the backup gets to take over.
const FAILOVER: Duration = Duration::from_secs(20);
/// Requests in a row that must all reach web2 once the proxy has marked web1 DOWN.
const STREAK: usize = 5;

/// Builds the cluster, walks through it, and removes it (also when a step fails or a signal arrives).
pub fn run(ctx: &Ctx) -> Result<()> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let files = with_metrics()?;
    ctx.say("building the \"HAProxy + keepalived\" tutorial cluster in network namespaces");
    let mut topo = Topology::create(&HOSTS)?;
    let result = ClusterPage::start(&[LB1, LB2], |role| topo.ns(role)).and_then(|page| {
        walk(ctx, &mut topo, &exe, &files, &page)?;
        hold(ctx, &page)
    });
    if let Err(e) = &result {
        if !e.is::<Interrupted>() {
            eprintln!(
                "fulcrum demo --cluster: a step failed; the end of each process's log:\n{}",
                topo.logs()
            );
        }
    }
    ctx.say("cleaning up: stopping the processes by PID, deleting the namespaces");
    let prefix = topo.prefix().to_string();
    let dir = topo.dir().display().to_string();
    let done = topo.teardown();
    ctx.say(format!(
        "stopped {} running processes, deleted {} namespaces ({prefix}-*), removed {dir}",
        done.processes,
        done.namespaces.len()
    ));
    if !done.left.is_empty() {
        let left = done.left.join("; ");
        return result.and(Err(anyhow::anyhow!("could not delete: {left}")));
    }
    result
}

/// The service through the virtual IP.
fn service() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(VIP, PORT))
}

fn addr_of(h: Host) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(h.addr, PORT))
}

/// The director a web server saw a request come from.
fn director(from: Option<IpAddr>) -> &'static str {
    match from {
        Some(IpAddr::V4(a)) if a == LB1.addr => LB1.role,
        Some(IpAddr::V4(a)) if a == LB2.addr => LB2.role,
        _ => "?",
    }
}

/// Which web server answered, if one did.
fn served_by(r: &Result<Reply>) -> Option<&str> {
    match r {
        Ok(r) if r.status == 200 => r.body.strip_prefix("served by "),
        _ => None,
    }
}

/// One line about a request's outcome.
fn describe(r: &Result<Reply>) -> String {
    match r {
        Ok(r) if r.status == 200 && r.from.is_some() => {
            format!("{} (through {})", r.body, director(r.from))
        }
        Ok(r) if r.from.is_some() => format!("HTTP {} (through {})", r.status, director(r.from)),
        Ok(r) => format!("HTTP {} from the proxy", r.status),
        Err(e) => format!("failed: {e:#}"),
    }
}

/// Why a request failed (or what it got instead of an answer from a web server).
fn failure(r: &Result<Reply>) -> String {
    match r {
        Err(e) => format!("{e:#}"),
        Ok(_) => describe(r),
    }
}

/// The first line of `log` containing `what`, from `what` on.
fn log_line(log: &str, what: &str) -> Option<String> {
    log.lines()
        .find_map(|l| l.find(what).map(|i| l[i..].trim().to_string()))
}

/// On a terminal, the cluster stays up after the walk-through until Ctrl-C, so that its page and namespaces can
/// be looked at; Ctrl-C then ends the demo normally. Elsewhere (scripts, tests) the demo ends at once.
fn hold(ctx: &Ctx, page: &ClusterPage) -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    ctx.say(format!(
        "the cluster stays up for you to look around: the cluster page is {}, the namespaces are listed by \
         `ip netns`; Ctrl-C removes everything",
        page.url()
    ));
    loop {
        match ctx.sleep(Duration::from_secs(1)) {
            Ok(()) => {}
            Err(e) if e.is::<Interrupted>() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Prints what the cluster page shows once `ok` holds for its lines (or, after `within`, what it shows then).
fn show_page(ctx: &Ctx, page: &ClusterPage, within: Duration, ok: impl Fn(&[String]) -> bool) {
    let (lines, held) = page.wait_for(within, ok);
    ctx.say(if held {
        "the cluster page shows:"
    } else {
        "the cluster page does not show it yet; it shows:"
    });
    for l in lines {
        ctx.detail(l);
    }
}

/// Whether the line of `role` (`role: ...`) contains `what`.
fn line_has(lines: &[String], role: &str, what: &str) -> bool {
    lines.iter().any(|l| {
        l.strip_prefix(role)
            .and_then(|l| l.strip_prefix(": "))
            .is_some_and(|l| l.contains(what))
    })
}

fn walk(
    ctx: &Ctx,
    topo: &mut Topology,
    exe: &Path,
    files: &(String, String, String),
    page: &ClusterPage,
) -> Result<()> {
    ctx.say(format!(
        "cluster page: {} (each director's VRRP state, the virtual IP it holds, L4 services and proxy \
         backends, read from their metrics endpoints every second)",
        page.url()
    ));
    ctx.detail(format!(
        "namespaces {}-<host>, one bridge (br0, in {}) every host's eth0 is cabled to:",
        topo.prefix(),
        topo.ns("switch")
    ));
    for h in HOSTS {
        let what = match h.role {
            "client" => "the client (a thread of this demo)",
            "lb1" | "lb2" => "a director: fulcrum proxy + fulcrum keepalived",
            _ => "a web server (a thread of this demo)",
        };
        let addr = format!("{}/{PREFIX_LEN}", h.addr);
        ctx.detail(format!("{:<7} {addr:<15} {what}", h.role));
    }
    ctx.check()?;

    let mut web1 = Some(WebServer::start(&topo.ns(WEB1.role), WEB1.role, PORT)?);
    let _web2 = WebServer::start(&topo.ns(WEB2.role), WEB2.role, PORT)?;
    let client = Client::start(&topo.ns("client"))?;
    ctx.say("web1 and web2 listen on port 80, answering \"served by web1\" / \"served by web2\"");

    let hcfg = topo.write("haproxy.cfg", &files.0)?;
    let kconf = [
        topo.write("keepalived-lb1.conf", &files.1)?,
        topo.write("keepalived-lb2.conf", &files.2)?,
    ];
    ctx.say(format!(
        "files in {}: haproxy.cfg, keepalived-lb1.conf (MASTER, priority 101), keepalived-lb2.conf \
         (BACKUP, priority 100)",
        topo.dir().display()
    ));
    let lbs = [LB1, LB2];
    let mut proxies = [0usize; 2];
    for (i, lb) in lbs.iter().enumerate() {
        let args = [OsStr::new("proxy"), OsStr::new("-f"), hcfg.as_os_str()];
        proxies[i] = topo.spawn(lb.role, &format!("{}-proxy", lb.role), exe, &args)?;
    }
    ctx.say("lb1, lb2: started `fulcrum proxy -f haproxy.cfg`");
    for (i, lb) in lbs.iter().enumerate() {
        let end = Instant::now() + PROXY_START;
        loop {
            ctx.check()?;
            topo.alive(proxies[i])?;
            let r = client.get(
                addr_of(*lb),
                Duration::from_millis(500),
                Duration::from_secs(2),
            );
            if served_by(&r).is_some() {
                ctx.say(format!(
                    "{}'s proxy answers on {}: {}",
                    lb.role,
                    addr_of(*lb),
                    describe(&r)
                ));
                break;
            }
            if Instant::now() > end {
                bail!(
                    "{}'s proxy did not answer on {} within {PROXY_START:?}: {}",
                    lb.role,
                    addr_of(*lb),
                    describe(&r)
                );
            }
            ctx.sleep(Duration::from_millis(100))?;
        }
    }

    // lb1 first, lb2 once lb1 is MASTER: two directors started at the same instant both wait as BACKUP for
    // ~3.6 s, and the one whose timer runs out first holds the VIP for a moment even with the lower priority
    // (keepalived does the same).
    let mut vrrp = [0usize; 2];
    for (i, lb) in lbs.iter().enumerate() {
        let mut args = ["keepalived", "-n", "-l", "-f"].map(OsStr::new).to_vec();
        args.push(kconf[i].as_os_str());
        let started = Instant::now();
        vrrp[i] = topo.spawn(lb.role, &format!("{}-keepalived", lb.role), exe, &args)?;
        let conf = &kconf[i];
        ctx.say(format!(
            "{}: started `fulcrum keepalived -n -l -f {}`",
            lb.role,
            conf.file_name()
                .unwrap_or(conf.as_os_str())
                .to_string_lossy()
        ));
        // lb1 waits until it holds the VIP, lb2 until it says it is BACKUP.
        let want = if i == 0 {
            "entering MASTER"
        } else {
            "entering BACKUP"
        };
        let mut logged = None;
        loop {
            ctx.check()?;
            topo.alive(vrrp[i])?;
            topo.alive(proxies[i])?;
            if logged.is_none() {
                logged = log_line(&topo.log(vrrp[i]), want);
            }
            let holds = topo.holds(lb.role, VIP);
            let done = if i == 0 {
                holds
            } else {
                // Its log may say it otherwise: a second is enough to start.
                logged.is_some() || started.elapsed() > Duration::from_secs(1)
            };
            if done {
                let took = started.elapsed().as_secs_f64();
                if let Some(line) = &logged {
                    ctx.say(format!("{}'s keepalived logs: {line}", lb.role));
                }
                if i == 0 {
                    ctx.say(format!(
                        "lb1 holds the virtual IP {VIP}: it is MASTER, {took:.2} s after its keepalived \
                         started (below priority 255 keepalived starts as BACKUP and takes over when no \
                         advert came for 3 x advert_int + skew)"
                    ));
                } else if holds || !topo.holds(LB1.role, VIP) {
                    bail!("lb2 took the virtual IP from lb1 on start");
                } else {
                    ctx.say(
                        "lb2 is BACKUP: it hears lb1's adverts, of a higher priority than its own",
                    );
                }
                break;
            }
            if started.elapsed() > ELECTION {
                bail!("lb1 did not take the virtual IP {VIP} within {ELECTION:?}");
            }
            ctx.sleep(Duration::from_millis(50))?;
        }
    }
    let (master, backup) = (0, 1);
    let (m, b) = (lbs[master], lbs[backup]);
    show_page(ctx, page, Duration::from_secs(5), |l| {
        line_has(l, "lb1", &format!("MASTER holding {VIP}"))
            && line_has(l, "lb2", "VI_1 BACKUP")
            && line_has(l, "lb1", "web1 UP, web2 UP")
            && line_has(l, "lb2", "web1 UP, web2 UP")
    });

    // Round robin through the virtual IP.
    ctx.say(format!(
        "round robin: 6 requests from the client to http://{VIP}/"
    ));
    let mut seen = [0usize; 2];
    for i in 1..=6 {
        ctx.check()?;
        let r = client.get(service(), Duration::from_secs(1), Duration::from_secs(3));
        match served_by(&r) {
            Some("web1") => seen[0] += 1,
            Some("web2") => seen[1] += 1,
            _ => {}
        }
        ctx.detail(format!("request {i}: {}", describe(&r)));
    }
    ctx.say(format!(
        "web1 served {} and web2 served {} of the 6 requests",
        seen[0], seen[1]
    ));

    // web1 fails.
    if let Some(w) = web1.take() {
        w.stop();
    }
    let t_fail = Instant::now();
    ctx.say(format!(
        "web1 fails: its server stops listening ({} refuses connections); the proxies check it every 2 s \
         and take it out after 3 failed checks",
        addr_of(WEB1)
    ));
    let (mut sent, mut failed, mut streak) = (0usize, 0usize, 0usize);
    let mut streak_start = Duration::ZERO;
    let mut marked: Option<Duration> = None;
    loop {
        ctx.check()?;
        let started = Instant::now();
        let r = client.get(service(), Duration::from_secs(1), Duration::from_secs(3));
        sent += 1;
        if served_by(&r) == Some("web2") {
            if streak == 0 {
                streak_start = started - t_fail;
            }
            streak += 1;
        } else {
            streak = 0;
            failed += 1;
            if failed == 1 {
                ctx.say(format!("a request fails: {}", failure(&r)));
            }
        }
        if marked.is_none() {
            if let Some(line) =
                log_line(&topo.log(proxies[master]), "Server http_back/web1 is DOWN")
            {
                marked = Some(t_fail.elapsed());
                ctx.say(format!("{}'s proxy logs: {line}", m.role));
            }
        }
        if marked.is_some() && streak >= STREAK {
            break;
        }
        if t_fail.elapsed() > HEALTH {
            bail!(
                "web1 was not taken out within {HEALTH:?} ({}'s proxy logged it DOWN: {})",
                m.role,
                if marked.is_some() { "yes" } else { "no" }
            );
        }
        topo.alive(proxies[master])?;
        ctx.sleep(Duration::from_millis(100).saturating_sub(started.elapsed()))?;
    }
    ctx.say(format!(
        "all requests go to web2 since {:.2} s after web1 stopped ({failed} of {sent} requests failed \
         meanwhile)",
        streak_start.as_secs_f64()
    ));
    show_page(ctx, page, Duration::from_secs(5), |l| {
        line_has(l, "lb1", "web1 DOWN") && line_has(l, "lb2", "web1 DOWN")
    });

    // web1 returns.
    let _web1_again = WebServer::start(&topo.ns(WEB1.role), WEB1.role, PORT)?;
    let t_back = Instant::now();
    ctx.say("web1 returns: its server listens again; the proxies take it back after 2 good checks");
    let mut up_logged = false;
    loop {
        ctx.check()?;
        let started = Instant::now();
        let r = client.get(service(), Duration::from_secs(1), Duration::from_secs(3));
        if !up_logged {
            if let Some(line) = log_line(&topo.log(proxies[master]), "Server http_back/web1 is UP")
            {
                up_logged = true;
                ctx.say(format!("{}'s proxy logs: {line}", m.role));
            }
        }
        if served_by(&r) == Some("web1") {
            ctx.say(format!(
                "web1 serves again, {:.2} s after it returned: {}",
                t_back.elapsed().as_secs_f64(),
                describe(&r)
            ));
            break;
        }
        if t_back.elapsed() > HEALTH {
            bail!("web1 did not get back into rotation within {HEALTH:?}");
        }
        topo.alive(proxies[master])?;
        ctx.sleep(Duration::from_millis(100).saturating_sub(started.elapsed()))?;
    }
    for i in 1..=4 {
        ctx.check()?;
        let r = client.get(service(), Duration::from_secs(1), Duration::from_secs(3));
        ctx.detail(format!("request {i}: {}", describe(&r)));
    }

    // The master fails.
    ctx.say(format!(
        "{} fails: its eth0 goes down (as if its cable were pulled); the client sends a request every 50 ms",
        m.role
    ));
    topo.set_eth0(m.role, false)?;
    let t_down = Instant::now();
    let (mut sent, mut failed) = (0usize, 0usize);
    let mut first_failure: Option<Instant> = None;
    let mut moved = false;
    let recovered = loop {
        ctx.check()?;
        let started = Instant::now();
        let r = client.get(
            service(),
            Duration::from_millis(250),
            Duration::from_millis(1000),
        );
        sent += 1;
        let via_backup =
            served_by(&r).is_some() && matches!(&r, Ok(reply) if director(reply.from) == b.role);
        if !moved && topo.holds(b.role, VIP) {
            moved = true;
            ctx.say(format!(
                "{} holds the virtual IP {VIP} now ({:.2} s after {}'s eth0 went down)",
                b.role,
                t_down.elapsed().as_secs_f64(),
                m.role
            ));
        }
        if via_backup {
            ctx.say(format!("first answer through {}: {}", b.role, describe(&r)));
            break Instant::now();
        }
        if served_by(&r).is_none() {
            failed += 1;
            if first_failure.is_none() {
                first_failure = Some(started);
                ctx.say(format!("a request fails: {}", failure(&r)));
            }
        }
        if t_down.elapsed() > FAILOVER {
            bail!(
                "{} did not take over within {FAILOVER:?} (it holds the virtual IP: {moved})",
                b.role
            );
        }
        topo.alive(vrrp[backup])?;
        topo.alive(proxies[backup])?;
        ctx.sleep(Duration::from_millis(50).saturating_sub(started.elapsed()))?;
    };
    let outage = first_failure.map_or(Duration::ZERO, |f| recovered - f);
    ctx.say(format!(
        "outage seen by the client: {:.2} s (from the first failed request to the first answer through {}; \
         {failed} of {sent} requests failed)",
        outage.as_secs_f64(),
        b.role
    ));
    for i in 1..=4 {
        ctx.check()?;
        let r = client.get(service(), Duration::from_secs(1), Duration::from_secs(3));
        ctx.detail(format!("request {i}: {}", describe(&r)));
    }
    show_page(ctx, page, Duration::from_secs(5), |l| {
        line_has(l, "lb2", &format!("MASTER holding {VIP}")) && line_has(l, "lb1", "VI_1 FAULT")
    });
    ctx.say("walk-through done");
    client.stop();
    Ok(())
}
