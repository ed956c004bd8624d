//! The XDP program's own time per packet, as the kernel measures it with `BPF_PROG_TEST_RUN` (the
//! program is loaded, not attached anywhere; nothing is sent). Root needed. Run by
//! `bench/xdp-program.sh`, or: `cargo run --release -p fulcrum-xdp --example xdp-prog-time [REPEAT [SYNS]]`.
//!
//! A direct-routed TCP service and a UDP one on the same address and port, each with two real servers, and
//! the same two with NAT real servers on another address; printed, in nanoseconds per packet, the median of
//! 5 runs of REPEAT (1,000,000) runs of one frame: an ACK of an established TCP flow, a datagram of an
//! established UDP flow, and a TCP packet to an address that is no service (XDP_PASS), the last also on a
//! program without the NAT services; established DR and NAT flows one run per call (NAT rewrites the frame);
//! all of these with map `dev_macs` empty and again, but the repeated established ones (a repeated run sees
//! the frame already sent to the real server's MAC), with the test device's MAC in it (as the plane stores
//! it); then new connections, SYNs from a new source port each (one run per call, SYNS (10,000) calls per
//! run, the kernel's time per call averaged), for rr and for wlc, each on a program of its own (the flow
//! table starts empty).

use fulcrum_balance::lvs::SchedFlags;
use fulcrum_xdp::plan::{plan, DestSpec, Method, ServiceSpec, Timeouts};
use fulcrum_xdp::{Verdict, Xdp};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

const RUNS: usize = 5;
const VIP: [u8; 4] = [198, 18, 0, 10];
const OTHER: [u8; 4] = [198, 18, 0, 99];
const CLIENT: [u8; 4] = [198, 19, 0, 7];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
/// BPF_PROG_TEST_RUN runs on the loopback device: real servers behind it are answered with XDP_TX.
const LO: u32 = 1;

fn service(proto: u8, sched: &str) -> ServiceSpec {
    let dest = |i: u8| DestSpec {
        slot: u32::from(i),
        addr: IpAddr::V4(Ipv4Addr::new(198, 18, 1, i + 1)),
        port: 80,
        weight: 1,
        method: Method::Route,
        mac: [0x02, 0x5e, 0, 0, 0, i + 1],
        src_mac: [0x02, 0xd1, 0, 0, 0, 2],
        ifindex: LO,
        u_threshold: 0,
        l_threshold: 0,
    };
    ServiceSpec {
        id: u32::from(proto),
        addr: IpAddr::V4(VIP.into()),
        port: 80,
        proto,
        scheduler: sched.into(),
        dests: vec![dest(0), dest(1)],
        persistence: None,
        flags: SchedFlags::default(),
        one_packet: false,
    }
}

/// VIP:80 with NAT real servers (port 8080) instead of direct-routed ones.
const NAT_VIP: [u8; 4] = [198, 18, 0, 11];

fn nat_service(proto: u8) -> ServiceSpec {
    let mut s = service(proto, "rr");
    s.id = 10 + u32::from(proto);
    s.addr = IpAddr::V4(NAT_VIP.into());
    for d in &mut s.dests {
        d.method = Method::Nat;
        d.port = 8080;
    }
    s
}

/// An Ethernet frame with an IPv4 packet from CLIENT:`sport` to `dst`:80, TCP with `flags` (proto 6)
/// or UDP (17), and an 8-byte payload.
fn frame(dst: [u8; 4], proto: u8, sport: u16, flags: u8) -> Vec<u8> {
    let mut l4 = vec![0u8; if proto == 6 { 20 } else { 8 }];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    if proto == 6 {
        l4[12] = 5 << 4;
        l4[13] = flags;
    } else {
        l4[4..6].copy_from_slice(&16u16.to_be_bytes());
    }
    l4.extend_from_slice(b"payload!");
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&CLIENT);
    ip.extend_from_slice(&dst);
    let sum = ip
        .chunks(2)
        .fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = vec![0x02, 0xd1, 0, 0, 0, 1, 0x02, 0xc1, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// A program with the direct-routed services of `sched`, and with `nat` the NAT ones too.
fn loaded(sched: &str, nat: bool) -> Result<Xdp, String> {
    let mut x = Xdp::load().map_err(|e| e.to_string())?;
    let mut services = vec![service(6, sched), service(17, sched)];
    if nat {
        services.extend([nat_service(6), nat_service(17)]);
    }
    let p = plan(&services, Timeouts::default()).map_err(|e| e.to_string())?;
    x.apply(&p).map_err(|e| e.to_string())?;
    Ok(x)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median over RUNS of the kernel's time per run of `f` repeated `repeat` times.
fn timed(x: &Xdp, f: &[u8], repeat: u32, want: Verdict) -> Result<f64, String> {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let (v, ns) = x.time_run(f, repeat).map_err(|e| e.to_string())?;
        if v != want {
            return Err(format!(
                "verdict {v:?}, expected {want:?} (an established flow lost meanwhile: the sweeper on \
                 another CPU; run on one CPU, as bench/xdp-program.sh does)"
            ));
        }
        runs.push(f64::from(ns));
    }
    Ok(median(runs))
}

/// The median over RUNS of the average time of `calls` runs of `f`, one run per call.
fn timed_calls(x: &Xdp, f: &[u8], calls: u32) -> Result<f64, String> {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let mut total = 0u64;
        for _ in 0..calls {
            let (v, ns) = x.time_run(f, 1).map_err(|e| e.to_string())?;
            if v != Verdict::Tx {
                return Err(format!("verdict {v:?}, expected Tx"));
            }
            total += u64::from(ns);
        }
        runs.push(total as f64 / f64::from(calls));
    }
    Ok(median(runs))
}

/// The median over RUNS of the average time of `syns` SYNs, each from a new client port, one run each.
fn new_flows(sched: &str, syns: u16) -> Result<f64, String> {
    let x = loaded(sched, true)?;
    let mut runs = Vec::new();
    let mut port = 1024u16;
    for _ in 0..RUNS {
        let mut total = 0u64;
        for _ in 0..syns {
            let (v, ns) = x
                .time_run(&frame(VIP, 6, port, SYN), 1)
                .map_err(|e| e.to_string())?;
            if v != Verdict::Tx {
                return Err(format!("{sched}: SYN from port {port}: verdict {v:?}"));
            }
            total += u64::from(ns);
            port += 1;
        }
        runs.push(total as f64 / f64::from(syns));
    }
    Ok(median(runs))
}

/// The destination MAC of the frames: the director's, as the plane stores it in map `dev_macs`.
const DIRECTOR_MAC: [u8; 6] = [0x02, 0xd1, 0, 0, 0, 1];

fn bench(repeat: u32, syns: u16) -> Result<(), String> {
    let calls = u32::from(syns);
    let mut x = loaded("rr", true)?;
    // the same direct-routed services without any NAT one: what a director without NAT pays on the pass path
    let mut dr_only = loaded("rr", false)?;
    for p in [&x, &dr_only] {
        let first = |proto, flags| p.time_run(&frame(VIP, proto, 40000, flags), 1);
        first(6, SYN).map_err(|e| e.to_string())?;
        first(17, 0).map_err(|e| e.to_string())?;
    }
    x.time_run(&frame(NAT_VIP, 6, 40000, SYN), 1)
        .map_err(|e| e.to_string())?;
    x.time_run(&frame(NAT_VIP, 17, 40000, 0), 1)
        .map_err(|e| e.to_string())?;
    println!("ns per packet, median of {RUNS} runs (BPF_PROG_TEST_RUN, the kernel's time per run)");
    for macs in [false, true] {
        if macs {
            // as the plane stores them: the test run's device (lo) with the frames' destination MAC, so
            // every frame passes the MAC check and goes on
            for p in [&mut x, &mut dr_only] {
                p.set_device_macs(&[(LO, DIRECTOR_MAC)])
                    .map_err(|e| e.to_string())?;
            }
            println!("-- the device's MAC in map dev_macs (as the plane stores it)");
        } else {
            println!("-- map dev_macs empty");
        }
        if !macs {
            // (a repeated run sees the frame as the last one left it, to the real server's MAC: with the
            // device's MAC stored, the MAC check would send it to the stack)
            let ack = timed(&x, &frame(VIP, 6, 40000, ACK), repeat, Verdict::Tx)?;
            println!("tcp ack, established flow     {ack:8.1}   ({repeat} repeats per run)");
            let udp = timed(&x, &frame(VIP, 17, 40000, 0), repeat, Verdict::Tx)?;
            println!("udp, established flow         {udp:8.1}   ({repeat} repeats per run)");
        }
        // NAT rewrites the packet, which a repeated run would then see translated: one run per call instead,
        // DR timed the same way beside it (a single run's time includes the kernel's clock reads around it)
        for (name, dst) in [("DR ", VIP), ("NAT", NAT_VIP)] {
            let ack = timed_calls(&x, &frame(dst, 6, 40000, ACK), calls)?;
            let udp = timed_calls(&x, &frame(dst, 17, 40000, 0), calls)?;
            println!(
                "{name} established, tcp / udp  {ack:8.1} / {udp:.1}   ({calls} calls of 1 run per run)"
            );
        }
        let pass = timed(&x, &frame(OTHER, 6, 40000, ACK), repeat, Verdict::Pass)?;
        println!("tcp, not a service (pass)     {pass:8.1}   ({repeat} repeats per run)");
        let pass = timed(
            &dr_only,
            &frame(OTHER, 6, 40000, ACK),
            repeat,
            Verdict::Pass,
        )?;
        println!("pass, no NAT service loaded   {pass:8.1}   ({repeat} repeats per run)");
    }
    drop(x);
    drop(dr_only);
    for sched in ["rr", "wlc"] {
        let ns = new_flows(sched, syns)?;
        println!("new connection (syn), {sched:<7} {ns:8.1}   ({syns} calls of 1 run per run)");
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let repeat = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000u32);
    // (every SYN from a port of its own: at most 12,900 per run)
    let syns = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000u16)
        .clamp(1, 12_900);
    match bench(repeat, syns) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdp-prog-time: {e}");
            ExitCode::FAILURE
        }
    }
}
