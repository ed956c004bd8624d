//! Golden vectors for every output format, taken from the ipvsadm reference (byte-exact, trailing spaces
//! included).

use fulcrum_lvs::addr::{NumericNames, SystemNames};
use fulcrum_lvs::args::ListFormat;
use fulcrum_lvs::format::{self, ConnEntry};
use fulcrum_lvs::model::*;
use std::net::{IpAddr, Ipv4Addr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn tcp80() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("10.0.0.100"),
        port: 80,
    }
}

fn dest(addr: &str, port: u16, forward: Forward, weight: u32) -> DestSpec {
    DestSpec {
        addr: ip(addr),
        port,
        forward,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    }
}

/// The reference example table.
fn example() -> Table {
    let mut t = Table::new();
    let ok = |r: Result<(), TableError>| assert_eq!(r, Ok(()));
    ok(t.add_service(ServiceSpec {
        key: tcp80(),
        scheduler: "wlc".into(),
        flags: ServiceFlags {
            persistent: true,
            ..Default::default()
        },
        timeout: 360,
        netmask: Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
        pe: None,
    }));
    ok(t.add_dest(&tcp80(), dest("192.168.10.1", 80, Forward::Masq, 3)));
    ok(t.add_dest(&tcp80(), dest("192.168.10.2", 80, Forward::Masq, 1)));
    let udp = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: ip("10.0.0.100"),
        port: 53,
    };
    ok(t.add_service(ServiceSpec {
        key: udp,
        scheduler: "sh".into(),
        flags: ServiceFlags {
            sched1: true,
            sched2: true,
            ..Default::default()
        },
        timeout: 0,
        netmask: Netmask::default_for(false),
        pe: None,
    }));
    ok(t.add_dest(&udp, dest("192.168.10.3", 53, Forward::Route, 1)));
    let fw = ServiceKey::Fwmark {
        mark: 1,
        ipv6: false,
    };
    ok(t.add_service(ServiceSpec {
        key: fw,
        scheduler: "rr".into(),
        flags: ServiceFlags::default(),
        timeout: 0,
        netmask: Netmask::default_for(false),
        pe: None,
    }));
    ok(t.add_dest(&fw, dest("192.168.10.4", 0, Forward::Tunnel, 1)));
    let s = &mut t.services[0];
    s.dests[0].observed.active = 12;
    s.dests[0].observed.inactive = 40;
    s.dests[1].observed.active = 4;
    s.dests[1].observed.inactive = 9;
    t
}

fn numeric() -> ListFormat {
    ListFormat {
        numeric: true,
        ..Default::default()
    }
}

#[test]
fn list_numeric() {
    let want = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0
  -> 192.168.10.1:80              Masq    3      12         40        
  -> 192.168.10.2:80              Masq    1      4          9         
UDP  10.0.0.100:53 sh (sh-fallback,sh-port)
  -> 192.168.10.3:53              Route   1      0          0         
FWM  1 rr
  -> 192.168.10.4:0               Tunnel  1      0          0         
";
    assert_eq!(
        format::list_all(&example(), &numeric(), &NumericNames),
        want
    );
}

#[test]
fn list_sorts_services_and_dests_unless_nosort() {
    let mut t = example();
    t.services.reverse();
    t.services[2].dests.reverse();
    let sorted = format::list_all(&t, &numeric(), &NumericNames);
    assert_eq!(
        sorted,
        format::list_all(&example(), &numeric(), &NumericNames)
    );
    let unsorted = format::list_all(
        &t,
        &ListFormat {
            nosort: true,
            ..numeric()
        },
        &NumericNames,
    );
    assert!(unsorted.find("FWM  1").unwrap_or(usize::MAX) < unsorted.find("TCP ").unwrap_or(0));
    assert!(
        unsorted.find("192.168.10.2").unwrap_or(usize::MAX)
            < unsorted.find("192.168.10.1").unwrap_or(0)
    );
}

fn stats_table() -> Table {
    let mut t = Table::new();
    let _ = t.add_service(ServiceSpec {
        key: tcp80(),
        scheduler: "wlc".into(),
        flags: ServiceFlags::default(),
        timeout: 0,
        netmask: Netmask::default_for(false),
        pe: None,
    });
    let _ = t.add_dest(&tcp80(), dest("192.168.10.1", 80, Forward::Masq, 1));
    let s = &mut t.services[0];
    s.observed.stats = Stats {
        conns: 1234,
        inpkts: 56789,
        outpkts: 51234,
        inbytes: 5678901,
        outbytes: 123_456_789,
    };
    s.observed.rates = Rates {
        cps: 12,
        inpps: 340,
        outpps: 310,
        inbps: 45000,
        outbps: 380000,
    };
    let d = &mut s.dests[0];
    d.observed.stats = Stats {
        conns: 1000,
        inpkts: 40000,
        outpkts: 38000,
        inbytes: 4000000,
        outbytes: 100_000_000,
    };
    d.observed.rates = Rates {
        cps: 9,
        inpps: 250,
        outpps: 230,
        inbps: 33000,
        outbps: 290000,
    };
    t
}

#[test]
fn list_stats() {
    let want = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.100:80                    1234    56789    51234  5678901  123456K
  -> 192.168.10.1:80                  1000    40000    38000  4000000  100000K
";
    let f = ListFormat {
        stats: true,
        ..numeric()
    };
    assert_eq!(format::list_all(&stats_table(), &f, &NumericNames), want);
}

#[test]
fn list_stats_exact() {
    let want = "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.100:80                    1234    56789    51234  5678901 123456789
  -> 192.168.10.1:80                  1000    40000    38000  4000000 100000000
";
    let f = ListFormat {
        stats: true,
        exact: true,
        ..numeric()
    };
    let t = stats_table();
    assert_eq!(
        format::list_service(&t.services[0], &f, &NumericNames),
        want
    );
}

#[test]
fn list_rate() {
    let want = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.0.0.100:80                      12      340      310    45000   380000
  -> 192.168.10.1:80                     9      250      230    33000   290000
";
    let f = ListFormat {
        rate: true,
        ..numeric()
    };
    assert_eq!(format::list_all(&stats_table(), &f, &NumericNames), want);
}

#[test]
fn largenum_scaling() {
    assert_eq!(format::largenum(99_999_999, false), " 99999999");
    assert_eq!(format::largenum(100_000_000, false), "  100000K");
    assert_eq!(format::largenum(999_999_999, false), "  999999K");
    assert_eq!(format::largenum(1_000_000_000, false), "    1000M");
    assert_eq!(format::largenum(999_999_999_999, false), "  999999M");
    assert_eq!(format::largenum(1_000_000_000_000, false), "    1000G");
    assert_eq!(format::largenum(1_000_000_000_000_000, false), "    1000T");
    assert_eq!(format::largenum(u64::MAX, false), "18446744T");
    assert_eq!(format::largenum(5, true), "        5");
    assert_eq!(format::largenum(123_456_789_012, true), " 123456789012");
}

#[test]
fn connections() {
    let want = "IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:58  ESTABLISHED 172.16.0.9:51514   10.0.0.100:80      192.168.10.1:80
UDP 04:59  UDP         172.16.0.9:40123   10.0.0.100:53      192.168.10.3:53
";
    let conns = vec![
        ConnEntry {
            proto: Protocol::Tcp,
            expire: 898,
            state: "ESTABLISHED".into(),
            client: (ip("172.16.0.9"), 51514),
            virt: (ip("10.0.0.100"), 80),
            dest: (ip("192.168.10.1"), 80),
        },
        ConnEntry {
            proto: Protocol::Udp,
            expire: 299,
            state: "UDP".into(),
            client: (ip("172.16.0.9"), 40123),
            virt: (ip("10.0.0.100"), 53),
            dest: (ip("192.168.10.3"), 53),
        },
    ];
    assert_eq!(format::connections(&conns, &numeric(), &NumericNames), want);
}

#[test]
fn timeouts() {
    assert_eq!(
        format::timeouts(&Timeouts::default()),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
}

#[test]
fn save_numeric() {
    let want = "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0
-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 3
-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 1
-A -u 10.0.0.100:53 -s sh -b sh-fallback,sh-port
-a -u 10.0.0.100:53 -r 192.168.10.3:53 -g -w 1
-A -f 1 -s rr
-a -f 1 -r 192.168.10.4:0 -i -w 1 --tun-type ipip
";
    assert_eq!(format::save(&example(), true, &NumericNames), want);
}

#[test]
fn thresholds_persistent_conn_and_tun_info() {
    let mut t = example();
    t.services[0].dests[0].u_threshold = 100;
    t.services[0].dests[0].l_threshold = 75;
    t.services[0].dests[0].observed.persist = 7;
    let s = &t.services[0];
    let th = format::list_service(
        s,
        &ListFormat {
            thresholds: true,
            ..numeric()
        },
        &NumericNames,
    );
    assert_eq!(
        th,
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0
  -> 192.168.10.1:80              100        75         12         40        
  -> 192.168.10.2:80              0          0          4          9         
"
    );
    let pc = format::list_service(
        s,
        &ListFormat {
            persistent_conn: true,
            ..numeric()
        },
        &NumericNames,
    );
    assert_eq!(
        pc,
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0
  -> 192.168.10.1:80              3         7           12         40        
  -> 192.168.10.2:80              1         0           4          9         
"
    );
    let ti = format::list_service(
        &t.services[2],
        &ListFormat {
            tun_info: true,
            ..numeric()
        },
        &NumericNames,
    );
    assert_eq!(
        ti,
        "Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn
FWM  1 rr
  -> 192.168.10.4:0               Tunnel  ipip          1      0          0         
"
    );
}

#[test]
fn ipv6_and_truncation_and_names() {
    let mut t = Table::new();
    let v6 = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("2001:db8::80"),
        port: 80,
    };
    let _ = t.add_service(ServiceSpec {
        key: v6,
        scheduler: "mh".into(),
        flags: ServiceFlags {
            persistent: true,
            sched2: true,
            one_packet: false,
            ..Default::default()
        },
        timeout: 600,
        netmask: Netmask::Prefix(64),
        pe: None,
    });
    let _ = t.add_dest(&v6, dest("2001:db8::a0a0", 8080, Forward::Masq, 2));
    let fw6 = ServiceKey::Fwmark {
        mark: 7,
        ipv6: true,
    };
    let _ = t.add_service(ServiceSpec {
        key: fw6,
        scheduler: "rr".into(),
        flags: ServiceFlags::default(),
        timeout: 0,
        netmask: Netmask::default_for(true),
        pe: None,
    });
    let want = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  [2001:db8::80]:80 mh (mh-port) persistent 600 mask 64
  -> [2001:db8::a0a0]:8080        Masq    2      0          0         
FWM  7 IPv6 rr
";
    assert_eq!(format::list_all(&t, &numeric(), &NumericNames), want);
    let save = "-A -t [2001:db8::80]:80 -s mh -p 600 -M 64 -b mh-port
-a -t [2001:db8::80]:80 -r [2001:db8::a0a0]:8080 -m -w 2
-A -f 7 -6 -s rr
";
    assert_eq!(format::save(&t, true, &NumericNames), save);

    // Names: /etc/services-style lookups without -n; long IPv4 names are cut to 33 / 28 columns.
    let names = SystemNames::from_text("http 80/tcp\n", "10.0.0.100 a-very-long-virtual-host-name.example.org\n192.168.10.1 a-very-long-real-server-name.example.org\n");
    let listing = format::list_all(&example(), &ListFormat::default(), &names);
    assert!(
        listing.contains(
            "\nTCP  a-very-long-virtual-host-nam wlc persistent 360 mask 255.255.255.0\n"
        ),
        "{listing}"
    );
    assert!(
        listing.contains("\n  -> a-very-long-real-server-name Masq    3 "),
        "{listing}"
    );
    assert!(
        listing.contains("\nUDP  a-very-long-virtual-host-nam sh"),
        "{listing}"
    );
    let saved = format::save(&example(), false, &names);
    assert!(
        saved.starts_with("-A -t a-very-long-virtual-host-name.example.org:http -s wlc"),
        "{saved}"
    );
}
