//! Connection synchronisation for a NAT director pair (`ipvsadm --start-daemon master|backup`, carried by
//! conntrackd), end to end in network namespaces (the lab of `cluster_common`): two directors run
//! `fulcrum keepalived` (a VRRP sync group moving the client VIP and the real servers' gateway VIP, a NAT `rr`
//! service over two echo servers); the master director runs the master sync daemon, the other the backup.
//! (The second test has keepalived's `lvs_sync_daemon` start them, following the VRRP instance.)
//! 200 long-lived connections through the master are copied into the backup's conntrack table with their NAT;
//! the master dies (its processes killed, its links down); the backup takes the VIPs over and all 200
//! connections keep echoing, each through the real server it had. Without the sync the backup would schedule
//! the connections' next packets anew (`rr`, its counter one behind the master's): each would reach the other
//! real server and be reset (checked: 200 of 200 lost without the daemons).

mod cluster_common;

use std::time::{Duration, Instant};

use cluster_common::{
    ipvsadm_in, ipvsadm_text, members, pids_in, until, Cluster, Holder, Keepalived, Proc, GW_VIP,
    R1, R2, SERIAL, VIP,
};

const PORT: u16 = 8080;
const SERVICE: &str = "TCP  198.18.0.100:8080 ";

/// A director's keepalived.conf; `global` goes into `global_defs` (the sync daemon's line, or nothing).
fn director_conf(name: &str, state: &str, priority: u8, global: &str) -> String {
    let instance = |iname: &str, dev: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {iname} {{
    state {state}
    interface {dev}
    virtual_router_id {vrid}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"
        )
    };
    let real = |rip: &str| {
        format!(
            "    real_server {rip} {PORT} {{
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
"
        )
    };
    format!(
        "global_defs {{
    router_id {name}
{global}}}
vrrp_sync_group VG {{
    group {{
        VI_FRONT
        VI_BACK
    }}
}}
{front}{back}virtual_server {VIP} {PORT} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
{r1}{r2}}}
",
        front = instance("VI_FRONT", "front", 61, VIP),
        back = instance("VI_BACK", "back", 62, GW_VIP),
        r1 = real(R1),
        r2 = real(R2),
    )
}

/// The connections to VIP:8080 in `role`'s conntrack table, and how many of them are translated (their reply
/// comes from a real server, not from the VIP).
fn tracked(cl: &Cluster, role: &str) -> (usize, usize) {
    let out = cl
        .exec(
            role,
            &[
                "conntrack",
                "-L",
                "-p",
                "tcp",
                "--orig-dst",
                VIP,
                "--orig-port-dst",
                &PORT.to_string(),
            ],
        )
        .unwrap_or_default();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("ESTABLISHED")).collect();
    let natted = lines
        .iter()
        .filter(|l| l.contains(&format!("src={R1} ")) || l.contains(&format!("src={R2} ")))
        .count();
    (lines.len(), natted)
}

/// Starts the pair (d1 MASTER, d2 BACKUP, `global` in both `global_defs`) and the echo servers; waits until d1
/// holds the VIPs and both directors list both real servers.
fn bring_up(cl: &Cluster, global: &str) -> (Keepalived, Keepalived, [Proc; 2]) {
    let servers = [cl.echo_server("r1", "r1"), cl.echo_server("r2", "r2")];
    let k1 = cl.keepalived("d1", &director_conf("d1", "MASTER", 150, global));
    let k2 = cl.keepalived("d2", &director_conf("d2", "BACKUP", 100, global));
    let ready = until(Duration::from_secs(15), || {
        cl.holds("d1", VIP)
            && cl.holds("d1", GW_VIP)
            && ["d1", "d2"]
                .iter()
                .all(|d| members(&cl.listing(d), SERVICE).is_some_and(|m| m.len() == 2))
    });
    assert!(
        ready.is_some(),
        "the pair did not come up: d1 {}\nd2 {}\n{}",
        cl.listing("d1"),
        cl.listing("d2"),
        k1.log()
    );
    (k1, k2, servers)
}

/// 200 long-lived connections through d1 reach d2's conntrack table; d1 dies (every process in it killed, its
/// links down); d2 takes the VIPs over and all 200 keep echoing, and new connections work.
fn connections_survive_the_masters_death(cl: &Cluster) {
    // One connection through the master first, as other clients' would: its rr counter is then one ahead of
    // the backup's, so the backup, scheduling the connections anew, would send every one to the other server.
    drop(Holder::open(cl, VIP, PORT, 1));
    let mut holder = Holder::open(cl, VIP, PORT, 200);
    let on = |r: &str| holder.names.values().filter(|n| *n == r).count();
    eprintln!(
        "200 connections through d1: r1 {}, r2 {}",
        on("r1"),
        on("r2")
    );
    assert_eq!(on("r1") + on("r2"), 200);
    assert_eq!(holder.ping(), Vec::<u16>::new());
    let t0 = Instant::now();
    let synced = until(Duration::from_secs(10), || tracked(cl, "d2") == (200, 200));
    assert!(
        synced.is_some(),
        "the backup holds {:?} of 200 (total, translated); the master {:?}",
        tracked(cl, "d2"),
        tracked(cl, "d1")
    );
    eprintln!(
        "all 200 in the backup's conntrack table, translated, {:?} after the first echo",
        t0.elapsed()
    );
    for p in pids_in(&cl.ns("d1")) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    cl.ip("d1", "link set front down");
    cl.ip("d1", "link set back down");
    let died = Instant::now();
    let took = until(Duration::from_secs(10), || {
        cl.holds("d2", VIP) && cl.holds("d2", GW_VIP)
    });
    assert!(took.is_some(), "d2 did not take the VIPs over");
    eprintln!("d2 holds the VIPs {:?} after d1 died", died.elapsed());
    let failed = holder.ping();
    assert_eq!(
        failed,
        Vec::<u16>::new(),
        "{} of 200 connections lost when the master died",
        failed.len()
    );
    eprintln!(
        "200 of 200 connections still echo {:?} after d1 died",
        died.elapsed()
    );
    let mut fresh = Holder::open(cl, VIP, PORT, 10);
    assert_eq!(fresh.ping(), Vec::<u16>::new());
    // The dead master's daemon left its files; the next command there finds it gone and removes them.
    let n1 = cl.ns("d1");
    assert_eq!(ipvsadm_in(&n1, &["-L", "--daemon"]), "");
    let stale = ipvsadm_text(&n1, &["--stop-daemon", "master"]);
    assert!(stale.contains("No daemon is running"), "{stale}");
}

#[test]
fn a_nat_pair_keeps_its_connections_when_the_master_dies() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cl) = cluster_common::setup() else {
        return;
    };
    if cluster_common::tool(&["conntrackd", "-v"], "conntrackd").is_none() {
        return;
    }
    let (_k1, _k2, _servers) = bring_up(&cl, "");
    // The sync daemons, ipvsadm's way.
    let (n1, n2) = (cl.ns("d1"), cl.ns("d2"));
    let start = |ns: &str, role: &str| {
        ipvsadm_text(
            ns,
            &[
                "--start-daemon",
                role,
                "--mcast-interface",
                "back",
                "--syncid",
                "7",
            ],
        )
    };
    assert_eq!(start(&n1, "master"), "");
    assert_eq!(start(&n2, "backup"), "");
    assert_eq!(
        ipvsadm_in(&n1, &["-L", "--daemon"]),
        "master sync daemon (mcast=back, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    assert_eq!(
        ipvsadm_in(&n2, &["-L", "--daemon"]),
        "backup sync daemon (mcast=back, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    let again = start(&n2, "backup");
    assert!(again.contains("Daemon has already run"), "{again}");

    connections_survive_the_masters_death(&cl);

    // Stopped: gone from the listing; stopping again is an error.
    ipvsadm_in(&n2, &["--stop-daemon", "backup"]);
    assert_eq!(ipvsadm_in(&n2, &["-L", "--daemon"]), "");
    let again = ipvsadm_text(&n2, &["--stop-daemon", "backup"]);
    assert!(again.contains("No daemon is running"), "{again}");
}

#[test]
fn keepalived_lvs_sync_daemon_follows_the_vrrp_instance() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cl) = cluster_common::setup() else {
        return;
    };
    if cluster_common::tool(&["conntrackd", "-v"], "conntrackd").is_none() {
        return;
    }
    let (_k1, mut k2, _servers) = bring_up(&cl, "    lvs_sync_daemon back VI_BACK id 7\n");
    let (n1, n2) = (cl.ns("d1"), cl.ns("d2"));
    let line = |role: &str| {
        format!("{role} sync daemon (mcast=back, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n")
    };
    let roles = until(Duration::from_secs(10), || {
        ipvsadm_in(&n1, &["-L", "--daemon"]) == line("master")
            && ipvsadm_in(&n2, &["-L", "--daemon"]) == line("backup")
    });
    assert!(
        roles.is_some(),
        "d1: {:?}, d2: {:?}",
        ipvsadm_in(&n1, &["-L", "--daemon"]),
        ipvsadm_in(&n2, &["-L", "--daemon"])
    );

    connections_survive_the_masters_death(&cl);

    // d2 is MASTER now: its daemon follows.
    let master = until(Duration::from_secs(5), || {
        ipvsadm_in(&n2, &["-L", "--daemon"]) == line("master")
    });
    assert!(master.is_some(), "{}", k2.log());
    // SIGTERM stops it with keepalived: nothing of it left in the namespace.
    assert_eq!(k2.terminate(), Some(0), "{}", k2.log());
    assert_eq!(ipvsadm_in(&n2, &["-L", "--daemon"]), "");
    assert_eq!(pids_in(&n2), Vec::<i32>::new(), "processes left in d2");
}
