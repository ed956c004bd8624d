//! Tests for the LVS half of keepalived.conf: virtual servers, groups, real servers and checkers.

use std::net::SocketAddr;
use std::time::Duration;

use super::tests::{errs, ok};
use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The shape of the keepalived + LVS director every tutorial prints.
const DIRECTOR: &str = "
global_defs {
    script_user nobody
}
virtual_server 198.18.0.100 80 {
    delay_loop 6
    lb_algo wlc
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    sorry_server 198.18.1.9 8080
    real_server 198.18.1.2 8080 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200-299 301
            }
            url {
                path /index.html
                digest 9F0E3F1B3D8C4A2E1B0C9D8E7F6A5B4C
            }
            connect_timeout 3
            nb_get_retry 2
            delay_before_retry 2
        }
        TCP_CHECK {
            connect_port 8081
        }
    }
    real_server 198.18.1.3 8080 {
        inhibit_on_failure
        MISC_CHECK {
            misc_path \"/usr/local/bin/check 198.18.1.3\"
            misc_dynamic
        }
    }
}
";

#[test]
fn a_tutorial_director_with_keepalived_defaults() {
    let c = ok(DIRECTOR);
    assert!(c.instances.is_empty());
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.target, VsTarget::Addr(sa("198.18.0.100:80")));
    assert_eq!(vs.scheduler, "wlc");
    assert_eq!(vs.lb_kind, LbKind::Nat);
    assert_eq!(vs.persistence_timeout, Some(50));
    assert_eq!(vs.delay_loop, Duration::from_secs(6));
    assert_eq!(vs.quorum, 1);
    assert_eq!(vs.sorry_server, Some(sa("198.18.1.9:8080")));
    let rs = &vs.real_servers[0];
    assert_eq!(rs.weight, 3);
    assert!(!rs.inhibit_on_failure);
    assert_eq!(rs.checkers.len(), 2);
    let http = &rs.checkers[0];
    assert_eq!(http.name(), "HTTP_GET");
    assert_eq!(http.common.connect_timeout, Duration::from_secs(3));
    assert_eq!(http.common.retry, 2);
    assert_eq!(http.common.delay_before_retry, Duration::from_secs(2));
    assert_eq!(http.common.delay_loop, Duration::from_secs(6));
    let CheckerKind::Http { urls, ssl, .. } = &http.kind else {
        panic!("{http:?}")
    };
    assert!(!ssl);
    assert_eq!(urls[0].status, [(200, 299), (301, 301)]);
    assert_eq!(urls[1].status, [(200, 299)]);
    assert_eq!(
        urls[1].digest.as_deref(),
        Some("9f0e3f1b3d8c4a2e1b0c9d8e7f6a5b4c")
    );
    // TCP_CHECK: keepalived's defaults (5 s connect, retry once after 1 s).
    let tcp = &rs.checkers[1];
    assert_eq!(tcp.common.connect_port, Some(8081));
    assert_eq!(tcp.common.connect_timeout, Duration::from_secs(5));
    assert_eq!(tcp.common.retry, 1);
    assert_eq!(tcp.common.delay_before_retry, Duration::from_secs(1));
    let rs2 = &vs.real_servers[1];
    assert_eq!(rs2.weight, 1);
    assert!(rs2.inhibit_on_failure);
    let CheckerKind::Misc {
        path,
        dynamic,
        timeout,
        user,
    } = &rs2.checkers[0].kind
    else {
        panic!()
    };
    assert_eq!(path, "/usr/local/bin/check 198.18.1.3");
    assert!(dynamic);
    assert_eq!(*timeout, Duration::from_secs(6));
    assert_eq!(user.as_ref().unwrap().user, "nobody");
    assert_eq!(rs2.checkers[0].common.retry, 0);
    // keepalived's -t says nb_get_retry is deprecated; so does fulcrum, and runs it.
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].to_string().contains("nb_get_retry"));
}

#[test]
fn settings_flow_from_virtual_to_real_server_to_checker() {
    let c = ok("
virtual_server fwmark 7 {
    retry 4
    delay_before_retry 9
    connect_timeout 2
    inhibit_on_failure
    alpha
    lvs_sched sh
    lvs_method DR
    virtualhost www.example
    real_server fd00::2 80 {
        connect_timeout 1
        HTTP_GET {
            url { path / }
        }
        SSL_GET {
            virtualhost api.example
            retry 0
            url {
                path /x
                virtualhost other.example
            }
        }
    }
}
");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.target, VsTarget::Fwmark(7));
    assert!(vs.ipv6, "a fwmark service takes its real servers' family");
    assert_eq!(vs.lb_kind, LbKind::Dr);
    let rs = &vs.real_servers[0];
    assert!(rs.inhibit_on_failure && rs.alpha);
    assert_eq!(rs.lb_kind, LbKind::Dr);
    let [a, b] = &rs.checkers[..] else { panic!() };
    assert_eq!(a.common.retry, 4);
    assert_eq!(a.common.delay_before_retry, Duration::from_secs(9));
    assert_eq!(a.common.connect_timeout, Duration::from_secs(1));
    assert_eq!(a.common.delay_loop, Duration::from_secs(60));
    let CheckerKind::Http { virtualhost, .. } = &a.kind else {
        panic!()
    };
    assert_eq!(virtualhost.as_deref(), Some("www.example"));
    assert_eq!(b.common.retry, 0);
    let CheckerKind::Http {
        virtualhost,
        ssl,
        urls,
        ..
    } = &b.kind
    else {
        panic!()
    };
    assert!(ssl);
    assert_eq!(virtualhost.as_deref(), Some("api.example"));
    assert_eq!(urls[0].virtualhost.as_deref(), Some("other.example"));
}

#[test]
fn groups_expand_ranges_and_fwmarks() {
    let c = ok("
virtual_server_group WEB {
    198.18.0.10-12 80
    fd00::a-c 443
    fwmark 3
}
virtual_server group WEB {
    protocol TCP
    real_server 198.18.1.2 80 {
    }
}
");
    let g = &c.vs_groups[0];
    assert_eq!(g.members.len(), 7);
    assert_eq!(g.members[2], GroupMember::Addr(sa("198.18.0.12:80")));
    assert_eq!(g.members[5], GroupMember::Addr(sa("[fd00::c]:443")));
    assert_eq!(g.members[6], GroupMember::Fwmark(3));
    assert_eq!(c.virtual_servers[0].target, VsTarget::Group("WEB".into()));
    assert!(c.virtual_servers[0].real_servers[0].checkers.is_empty());
}

#[test]
fn every_error_names_line_and_keyword() {
    let e = errs(
        "
virtual_server 198.18.0.100 80 {
    lb_algo fastest
    lb_kind MAGIC
    protocol ICMP
    bogus 1
    real_server 198.18.1.2 80 {
        weight -1
        TCP_CHECK {
            connect_port 0
            url { path / }
        }
        HTTP_GET {
        }
        MISC_CHECK {
        }
        PING_CHECK {
        }
    }
    real_server 198.18.1.2 80 {
        HTTP_GET {
            url {
                path index.html
                digest abc
                status_code 99 200-100
            }
        }
    }
    real_server fd00::1 80 {
    }
}
virtual_server 198.18.0.100 80 {
}
virtual_server group NOPE {
}
",
    );
    let want = [
        "3:lb_algo:unknown scheduler 'fastest'",
        "4:lb_kind:expected NAT, DR or TUN",
        "5:protocol:unknown protocol 'ICMP'",
        "6:bogus:unknown keyword in virtual_server",
        "8:weight:expected an integer from 0 to 65535",
        "10:connect_port:expected an integer from 1 to 65535",
        "11:url:unknown keyword in TCP_CHECK",
        "13:HTTP_GET:has no 'url' block",
        "15:MISC_CHECK:has no 'misc_path'",
        "17:PING_CHECK:supported by keepalived, not yet",
        "23:path:'index.html' is not a path",
        "24:digest:'abc' is not an MD5 digest",
        "25:status_code:'99' is not a status code",
        "25:status_code:'200-100' is not a status code",
        "22:url:has no 'path'",
        "21:HTTP_GET:has no 'url' block",
        "20:real_server:198.18.1.2:80 is listed twice",
        "29:real_server:is not of the virtual server's address family",
        "32:virtual_server:service Tcp 198.18.0.100:80 is already defined at test.conf:2",
        "34:virtual_server:no virtual_server_group named 'NOPE'",
    ];
    for w in want {
        assert!(
            e.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in {e:#?}"
        );
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");
}

#[test]
fn scheduler_flags_set_ipvsadms_bits_and_must_fit_the_scheduler() {
    let c = ok("
virtual_server 198.18.0.100 80 {
    lb_algo mh
    mh-port
    mh-fallback
}
virtual_server 198.18.0.100 81 {
    flag-3
    lb_algo rr
}
");
    assert_eq!(c.virtual_servers[0].sched_flags, [true, true, false]);
    assert_eq!(c.virtual_servers[1].sched_flags, [false, false, true]);
    let e = errs(
        "
virtual_server 198.18.0.100 80 {
    sh-port
    lb_algo mh
    mh-port 1
}
",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("3:sh-port:a flag of the sh scheduler, but lb_algo is mh")
            || e[1].starts_with("3:sh-port:a flag of the sh scheduler, but lb_algo is mh"),
        "{e:?}"
    );
    assert!(e.iter().any(|l| l.starts_with("5:mh-port:")), "{e:?}");
}
