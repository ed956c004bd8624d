//! What `show stat` and `show servers state` say of servers with an agent check (`agent_status`, `last_agt`,
//! `agent_health`, `DOWN (agent)`, `srv_agent_state`...), for many agent replies, compared column by column with
//! the real haproxy 2.6 asking the same agents.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// An agent answering every connection with `reply` and a line end (for 30 s).
fn agent(reply: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(format!("{reply}\n").as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}

/// The replies asked, by server name.
const REPLIES: &[(&str, &str)] = &[
    ("pct", "75%"),
    ("up", "up"),
    ("down", "down"),
    ("drain", "drain"),
    ("maxconn", "maxconn:10"),
    ("glued", "down#some reason"),
    ("empty", ""),
    ("ready", "ready"),
    ("maint", "maint"),
    ("stopped", "stopped"),
    ("fail", "fail"),
    ("hello", "hello world"),
    ("uphalf", "up 50%"),
    ("downfoo", "down foo"),
    ("downwhy", "down #why not"),
    ("foopct", "foo 50%"),
];

fn config(sock: &Path, listen: u16, agents: &[(String, SocketAddr)], closed: u16) -> String {
    let mut servers = String::new();
    for (name, a) in agents {
        servers.push_str(&format!(
            "    server {name} 127.0.0.1:{closed} weight 10 agent-check agent-port {} agent-inter 200ms\n",
            a.port()
        ));
    }
    let down = agents.iter().find(|(n, _)| n == "down").unwrap().1;
    format!(
        "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

backend b
{servers}    server nocon 127.0.0.1:{closed} agent-check agent-port {closed} agent-inter 200ms
    server withaddr 127.0.0.1:{closed} agent-check agent-addr 127.0.0.1 agent-port {} agent-inter 200ms
    server checked 127.0.0.1:{listen} check inter 200ms agent-check agent-port {} agent-inter 200ms
    server none 127.0.0.1:{closed}

frontend f
    bind 127.0.0.1:{listen}
    http-request return status 200
    default_backend b
",
        sock.display(),
        down.port(),
        down.port(),
    )
}

/// The agent-related columns of every server of `b`, and its `show servers state` line without the time since
/// the last change; durations blanked.
fn observe(sock: &Path) -> BTreeMap<String, String> {
    let stat = runtime_cmd(sock, "show stat");
    let mut lines = stat.lines().filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let mut out = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f[0] != "b" || f[1] == "BACKEND" {
            continue;
        }
        let col = |name: &str| f[header.iter().position(|h| *h == name).unwrap()];
        let cells: Vec<String> = [
            "status",
            "weight",
            "slim",
            "last_agt",
            "agent_status",
            "agent_code",
            "agent_duration",
            "agent_desc",
            "agent_rise",
            "agent_fall",
            "agent_health",
            "check_status",
        ]
        .iter()
        .map(|c| match (*c, col(c)) {
            ("agent_duration", v) if !v.is_empty() => "N".to_string(),
            (_, v) => v.to_string(),
        })
        .collect();
        out.insert(f[1].to_string(), cells.join("|"));
    }
    for l in runtime_cmd(sock, "show servers state b").lines().skip(2) {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() < 25 {
            continue;
        }
        let kept = [&f[3..9], &f[10..15], &f[23..25]].concat().join(" ");
        out.insert(format!("{} (state)", f[3]), kept);
    }
    out
}

fn sock_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fulcrum-agent-{}-{tag}.sock", std::process::id()))
}

#[test]
fn agent_columns_and_states_as_haproxy_shows_them() {
    let agents: Vec<(String, SocketAddr)> = REPLIES
        .iter()
        .map(|(n, r)| (n.to_string(), agent(r)))
        .collect();
    let closed = free_port();
    let wait = || std::thread::sleep(Duration::from_millis(1200));

    let sock = sock_path("fulcrum");
    let listen = free_port();
    let p = start_proxy(&config(&sock, listen, &agents, closed));
    wait();
    let ours = observe_settled(&sock);
    drop(p);

    // What haproxy 2.6.12 showed for the same agents (checked again below when haproxy is here).
    let want = |name: &str| -> &str {
        match name {
            "pct" => "no check|7|||CHECKED||N|No status change|1|1|1|",
            "up" => "no check|10||via agent : up|L7OK|0|N|Layer7 check passed|1|1|1|",
            "down" => "DOWN (agent)|10||via agent : down|L7STS|0|N|Layer7 wrong status|1|1|0|",
            "drain" => "DRAIN (agent)|10|||CHECKED||N|No status change|1|1|1|",
            "glued" => {
                "no check|10||agent reports an error : down#some|CHECKED||N|No status change|1|1|1|"
            }
            "hello" => {
                "no check|10||agent reports an error : hello|CHECKED||N|No status change|1|1|1|"
            }
            "downfoo" => {
                "DOWN (agent)|10||via agent : down (foo)|L7STS|0|N|Layer7 wrong status|1|1|0|"
            }
            "downwhy" => {
                "DOWN (agent)|10||via agent : down (why not)|L7STS|0|N|Layer7 wrong status|1|1|0|"
            }
            "nocon" => "no check|1||Connection refused|L4CON||N|Layer4 connection problem|1|1|1|",
            "none" => "no check|1||||||||||",
            _ => "",
        }
    };
    for (name, cells) in &ours {
        let w = want(name);
        if !w.is_empty() {
            assert_eq!(cells, w, "{name}");
        }
    }
    assert_eq!(
        ours["checked"],
        "DOWN (agent)|1||via agent : down|L7STS|0|N|Layer7 wrong status|1|1|0|L4OK"
    );
    // show servers state: the checks' own columns, then the agent's flags, address and port.
    assert_eq!(
        ours["down (state)"],
        format!(
            "down 127.0.0.1 0 0 10 10 1 0 2 0 22 - {}",
            agents[2].1.port()
        )
    );
    assert_eq!(
        ours["checked (state)"],
        format!(
            "checked 127.0.0.1 0 0 1 1 6 3 4 6 22 - {}",
            agents[2].1.port()
        )
    );
    assert_eq!(
        ours["withaddr (state)"],
        format!(
            "withaddr 127.0.0.1 0 0 1 1 1 0 2 0 22 127.0.0.1 {}",
            agents[2].1.port()
        )
    );
    assert_eq!(ours["none (state)"], "none 127.0.0.1 2 0 1 1 1 0 2 0 0 - 0");

    if !haproxy_present() {
        return;
    }
    let sock = sock_path("haproxy");
    let listen = free_port();
    let h = start_haproxy(
        &config(&sock, listen, &agents, closed),
        SocketAddr::from(([127, 0, 0, 1], listen)),
    );
    wait();
    let theirs = observe_settled(&sock);
    drop(h);
    assert_eq!(ours, theirs);
}

/// [`observe`] taken again (a few times, bounded) while a check or an agent check is in progress on some server:
/// its status then shows `* ` and its state the in-progress flag, which depends on when the snapshot falls.
fn observe_settled(sock: &Path) -> BTreeMap<String, String> {
    // In progress: a status shown with `* `, or a check or agent state (the 10th and 11th fields of a `show servers
    // state` line as kept here) with its in-progress bit (1) set.
    let in_progress = |seen: &BTreeMap<String, String>| {
        seen.iter().any(|(k, v)| {
            v.contains("|* ")
                || (k.ends_with("(state)")
                    && v.split(' ').enumerate().any(|(i, t)| {
                        (i == 9 || i == 10) && t.parse::<u32>().is_ok_and(|n| n & 1 == 1)
                    }))
        })
    };
    let mut seen = observe(sock);
    for _ in 0..10 {
        if !in_progress(&seen) {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
        seen = observe(sock);
    }
    seen
}
