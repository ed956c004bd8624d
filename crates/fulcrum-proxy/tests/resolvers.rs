//! Server addresses from DNS at run time (`resolvers` sections): a small DNS server started by the test on
//! loopback UDP answers what the test tells it, and traffic follows: an address change, NXDOMAIN leading to
//! resolution maintenance and back, a `server-template` filled from SRV records (3, then 2), `init-addr`, the
//! runtime API's `set server ... addr|fqdn` and `show resolvers` compared with HAProxy 2.6's.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fulcrum_dns::wire::{self, rcode, rtype, RData, Record};
use fulcrum_proxy::origin::Origin;

/// What the test DNS server answers for a (name, type).
#[derive(Clone)]
enum Answer {
    Records(Vec<Record>, Vec<Record>),
    Rcode(u16),
}

/// A DNS server on 127.0.0.1 (a random UDP port) whose answers the test changes; stopped when dropped.
struct Dns {
    addr: SocketAddr,
    zone: Arc<Mutex<HashMap<(String, u16), Answer>>>,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let zone: Arc<Mutex<HashMap<(String, u16), Answer>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (z, q, st) = (zone.clone(), queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(m) = wire::decode(&buf[..n]) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                let Some(question) = m.questions.first() else {
                    continue;
                };
                let key = (question.name.clone(), question.qtype);
                let ans = z.lock().unwrap().get(&key).cloned();
                let reply = match ans {
                    Some(Answer::Records(a, add)) => {
                        wire::encode_response(&m, rcode::NOERROR, false, &a, &add)
                    }
                    Some(Answer::Rcode(rc)) => wire::encode_response(&m, rc, false, &[], &[]),
                    // A name the zone has, asked with another type: no record (NOERROR, empty).
                    None if z.lock().unwrap().keys().any(|(n, _)| *n == key.0) => {
                        wire::encode_response(&m, rcode::NOERROR, false, &[], &[])
                    }
                    None => wire::encode_response(&m, rcode::NXDOMAIN, false, &[], &[]),
                };
                let _ = sock.send_to(&reply, from);
            }
        });
        Dns {
            addr,
            zone,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, name: &str, qtype: u16, a: Answer) {
        self.zone
            .lock()
            .unwrap()
            .insert((name.to_string(), qtype), a);
    }

    fn clear(&self, name: &str) {
        self.zone.lock().unwrap().retain(|(n, _), _| n != name);
    }

    fn a(&self, name: &str, ip: &str) {
        let rec = Record::new(name, 1, RData::A(ip.parse().unwrap()));
        self.set(name, rtype::A, Answer::Records(vec![rec], vec![]));
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sock_path() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "fulcrum-dns-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn resolvers(dns: SocketAddr) -> String {
    format!(
        "resolvers dns
    nameserver ns1 {dns}
    resolve_retries 2
    timeout resolve 100ms
    timeout retry 100ms
    hold valid 100ms
    hold nx 300ms
    hold other 300ms
    hold refused 300ms
    hold timeout 300ms
    hold obsolete 0s
"
    )
}

fn config(dns: SocketAddr, sock: &Path, servers: &str) -> String {
    format!(
        "global
    nbthread 1
    stats socket {} level admin

{}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{}
    balance roundrobin
{servers}",
        sock.display(),
        resolvers(dns),
        free_port()
    )
}

fn served(p: &Proxy) -> String {
    let r = get(p.addr, "/");
    if r.status == 200 {
        served_by(&r)
    } else {
        r.status.to_string()
    }
}

/// The `show servers state` line of server `name`, split in fields.
fn state_line(sock: &Path, name: &str) -> Vec<String> {
    runtime_cmd(sock, "show servers state app")
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(name))
        .unwrap_or_else(|| panic!("no state line for {name}"))
        .split(' ')
        .map(String::from)
        .collect()
}

#[test]
fn address_changes_follow_dns_and_nxdomain_means_maintenance() {
    let dns = Dns::start();
    let port = free_port();
    let s1 = Origin::start("s1", format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    let s2 = Origin::start("s2", format!("127.0.0.2:{port}").parse().unwrap()).unwrap();
    dns.a("www.test.invalid", "127.0.0.1");
    let sock = sock_path();
    let p = start_proxy(&config(
        dns.addr,
        &sock,
        &format!("    server www www.test.invalid:{port} resolvers dns resolve-prefer ipv4 init-addr none\n"),
    ));
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "s1"),
        "the first answer is used"
    );
    let line = state_line(&sock, "www");
    assert_eq!((line[4].as_str(), line[6].as_str()), ("127.0.0.1", "0"));
    assert_eq!(line[17], "www.test.invalid");
    // The name moves: new connections go to the new address, without a reload.
    dns.a("www.test.invalid", "127.0.0.2");
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "s2"),
        "the new address is used"
    );
    assert_eq!(state_line(&sock, "www")[4], "127.0.0.2");
    let csv = runtime_cmd(&sock, "show stat");
    let row = csv.lines().find(|l| l.starts_with("app,www,")).unwrap();
    assert!(
        row.contains(&format!(",127.0.0.2:{port},")),
        "the stats CSV shows the new address: {row}"
    );
    // NXDOMAIN: the address is kept for `hold nx`, then the server is in resolution maintenance (admin 0x20).
    dns.clear("www.test.invalid");
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "503"),
        "NXDOMAIN puts it in maintenance"
    );
    assert_eq!(state_line(&sock, "www")[6], "32");
    // And back.
    dns.a("www.test.invalid", "127.0.0.1");
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "s1"),
        "it comes back"
    );
    assert_eq!(state_line(&sock, "www")[6], "0");
    let stats = runtime_cmd(&sock, "show resolvers dns");
    assert!(stats.contains(" nameserver ns1:\n  sent:"), "{stats}");
    assert!(
        !stats.contains("  nx:          0\n"),
        "NXDOMAIN answers were counted:\n{stats}"
    );
    assert!(dns.queries.load(Ordering::Relaxed) > 3);
    drop((s1, s2));
}

#[test]
fn server_template_follows_srv_records() {
    let dns = Dns::start();
    let origins = origins(3);
    let srv = |o: &Origin, i: usize| {
        Record::new(
            "_http._tcp.test.invalid",
            1,
            RData::Srv {
                priority: 0,
                weight: 10,
                port: o.addr().port(),
                target: format!("host{i}.test.invalid"),
            },
        )
    };
    let add = |i: usize| {
        Record::new(
            &format!("host{i}.test.invalid"),
            1,
            RData::A("127.0.0.1".parse().unwrap()),
        )
    };
    let set = |n: usize| {
        dns.set(
            "_http._tcp.test.invalid",
            rtype::SRV,
            Answer::Records(
                origins
                    .iter()
                    .take(n)
                    .enumerate()
                    .map(|(i, o)| srv(o, i + 1))
                    .collect(),
                // The third target comes without an address: it is asked on its own.
                (1..=n.min(2)).map(add).collect(),
            ),
        )
    };
    set(3);
    dns.a("host3.test.invalid", "127.0.0.1");
    let sock = sock_path();
    let p = start_proxy(&config(
        dns.addr,
        &sock,
        "    server-template web 4 _http._tcp.test.invalid resolvers dns init-addr none\n",
    ));
    let seen = |n: usize| {
        let mut s = HashSet::new();
        for _ in 0..n {
            s.insert(served(&p));
        }
        s
    };
    let all: HashSet<String> = ["s1", "s2", "s3"].map(String::from).into();
    assert!(
        wait_until(Duration::from_secs(5), || seen(9) == all),
        "three slots filled"
    );
    let web4 = state_line(&sock, "web4");
    assert_eq!(
        (web4[4].as_str(), web4[6].as_str()),
        ("-", "32"),
        "the fourth slot is empty"
    );
    assert_eq!(web4[19], "_http._tcp.test.invalid");
    let web1 = state_line(&sock, "web1");
    assert_eq!(
        (web1[4].as_str(), web1[17].as_str()),
        ("127.0.0.1", "host1.test.invalid")
    );
    assert_eq!(web1[18], origins[0].addr().port().to_string());
    // A record goes: its slot empties, the others stay.
    set(2);
    let two: HashSet<String> = ["s1", "s2"].map(String::from).into();
    assert!(
        wait_until(Duration::from_secs(5), || seen(8) == two),
        "two slots left"
    );
    assert_eq!(state_line(&sock, "web3")[6], "32");
    assert_eq!(state_line(&sock, "web1")[4], "127.0.0.1");
}

#[test]
fn init_addr_and_runtime_api() {
    let dns = Dns::start();
    let port = free_port();
    let s1 = Origin::start("s1", format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    let s2 = Origin::start("s2", format!("127.0.0.2:{port}").parse().unwrap()).unwrap();
    // `init-addr libc` (localhost, the system resolver) serves at once, `none` waits for DNS.
    let sock = sock_path();
    let cfg = config(
        dns.addr,
        &sock,
        &format!(
            "    server a localhost:{port} resolve-prefer ipv4 init-addr libc\n    server b other.test.invalid:{port} resolvers dns init-addr none disabled\n    server c 127.0.0.1:{port} disabled\n"
        ),
    );
    let p = start_proxy(&cfg);
    assert_eq!(served(&p), "s1");
    let b = state_line(&sock, "b");
    assert_eq!(
        (b[4].as_str(), b[6].as_str()),
        ("-", "37"),
        "no address: resolution and configured maintenance"
    );
    // `set server addr` on a server without resolvers moves it; `set server fqdn` needs resolvers.
    assert_eq!(
        runtime_cmd(&sock, "set server app/c addr 127.0.0.2 port 1"),
        format!("IP changed from '127.0.0.1' to '127.0.0.2', port changed from '{port}' to '1' by 'stats socket command'\n\n")
    );
    assert_eq!(
        runtime_cmd(&sock, &format!("set server app/c addr 127.0.0.2 port {port}")),
        format!("no need to change the addr, port changed from '1' to '{port}' by 'stats socket command'\n\n")
    );
    assert_eq!(
        runtime_cmd(&sock, "set server app/c fqdn x.test.invalid"),
        "set server <b>/<s> fqdn failed because no resolution is configured.\n\n"
    );
    assert_eq!(
        runtime_cmd(&sock, "set server app/c addr"),
        "set server <b>/<s> addr requires an address and optionally a port.\n\n"
    );
    assert_eq!(
        runtime_cmd(&sock, "set server app/c addr foo"),
        "Invalid addr 'foo' by 'stats socket command'\n\n"
    );
    runtime_cmd(&sock, "set server app/a state maint");
    runtime_cmd(&sock, "set server app/c state ready");
    assert!(
        wait_until(Duration::from_secs(2), || served(&p) == "s2"),
        "c moved to 127.0.0.2"
    );
    // A new name for b, refused by DNS at first (b stays in maintenance), then answered.
    dns.set("www.test.invalid", rtype::A, Answer::Rcode(rcode::REFUSED));
    assert_eq!(
        runtime_cmd(&sock, "set server app/b fqdn www.test.invalid"),
        "app/b changed its FQDN from other.test.invalid to www.test.invalid by 'stats socket command'\n\n"
    );
    runtime_cmd(&sock, "set server app/c state maint");
    runtime_cmd(&sock, "set server app/b state ready");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served(&p), "503");
    assert_eq!(state_line(&sock, "b")[6], "36", "refused: still no address");
    dns.a("www.test.invalid", "127.0.0.1");
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "s1"),
        "b resolved its new name"
    );
    assert_eq!(state_line(&sock, "b")[17], "www.test.invalid");
    drop((s1, s2));
}

/// `init-addr last`: the address the server-state file carried is used at start; with the nameservers refusing,
/// it serves for `hold refused`, then the server is in resolution maintenance.
#[test]
fn init_addr_last_takes_the_state_file_address() {
    let dns = Dns::start();
    let port = free_port();
    let s1 = Origin::start("s1", format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    let s2 = Origin::start("s2", format!("127.0.0.2:{port}").parse().unwrap()).unwrap();
    let state =
        std::env::temp_dir().join(format!("fulcrum-dns-state-{}-{port}", std::process::id()));
    let sock = sock_path();
    let text = config(
        dns.addr,
        &sock,
        &format!("    server www www.test.invalid:{port} resolvers dns resolve-prefer ipv4 init-addr last,none\n"),
    )
    .replace("    nbthread 1\n", &format!("    nbthread 1\n    server-state-file {}\n", state.display()))
    .replace("    mode http\n", "    mode http\n    load-server-state-from-file global\n");
    dns.a("www.test.invalid", "127.0.0.2");
    let p = start_proxy(&text);
    assert!(wait_until(Duration::from_secs(5), || served(&p) == "s2"));
    std::fs::write(&state, runtime_cmd(&sock, "show servers state")).unwrap();
    drop(p);
    // Second life: the nameserver refuses; the file's address serves at once, until `hold refused` runs out.
    dns.set("www.test.invalid", rtype::A, Answer::Rcode(rcode::REFUSED));
    let p = start_proxy(&text);
    assert_eq!(served(&p), "s2", "the state file's address");
    assert!(
        wait_until(Duration::from_secs(5), || served(&p) == "503"),
        "refused beyond hold refused"
    );
    assert_eq!(state_line(&sock, "www")[6], "32");
    let _ = std::fs::remove_file(&state);
    drop((s1, s2));
}

/// `show resolvers` has HAProxy 2.6's layout, counters aside (with the `default` section both make from
/// /etc/resolv.conf).
#[test]
fn show_resolvers_matches_haproxy() {
    let dns = Dns::start();
    let sock = sock_path();
    let text = config(
        dns.addr,
        &sock,
        &format!(
            "    server www www.test.invalid:{} resolvers dns init-addr none\n",
            free_port()
        ),
    )
    .replace(
        "resolvers dns\n",
        "resolvers dns\n    nameserver ns2 127.0.0.1:1\n",
    );
    let p = start_proxy(&text);
    let mask = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        for l in s.lines().filter(|l| !l.is_empty()) {
            out.push(match l.rsplit_once(' ') {
                Some((k, v)) if v.parse::<u64>().is_ok() => format!("{k} N"),
                _ => l.to_string(),
            });
        }
        out
    };
    let ours = mask(&runtime_cmd(&sock, "show resolvers"));
    assert_eq!(
        &ours[..33],
        &mask(&runtime_cmd(&sock, "show resolvers dns"))[..],
        "{ours:?}"
    );
    assert_eq!(
        runtime_cmd(&sock, "show resolvers nope"),
        "Can't find that resolvers section\n\n"
    );
    if !haproxy_present() {
        return;
    }
    let hsock = sock_path();
    let haddr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let htext = text
        .replace(&sock.display().to_string(), &hsock.display().to_string())
        .replace(&format!("bind {}", p.addr), &format!("bind {haddr}"));
    let _h = start_haproxy(&htext, haddr);
    assert!(wait_until(Duration::from_secs(5), || hsock.exists()));
    assert_eq!(mask(&runtime_cmd(&hsock, "show resolvers")), ours);
    assert_eq!(
        runtime_cmd(&hsock, "show resolvers nope"),
        "Can't find that resolvers section\n\n"
    );
}
