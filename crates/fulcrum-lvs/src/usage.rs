//! The `-h` usage text and the `-v` version line, and the names of the non-standard options and environment
//! variables that the command line reads and the text documents.

/// Environment variable selecting the file data plane (a path) instead of nftables.
pub const STATE_ENV: &str = "FULCRUM_LVS_STATE";

/// Environment variable overriding the `--rate` sampling time, in milliseconds (100..=10000).
pub const RATE_ENV: &str = "FULCRUM_LVS_RATE_MS";

/// The non-standard option that runs the controller ([`crate::controller`]) in the foreground.
pub const CONTROLLER_FLAG: &str = "--controller";
/// Environment variable overriding the controller's interval, in milliseconds.
pub const CONTROLLER_INTERVAL_ENV: &str = "FULCRUM_LVS_CONTROLLER_INTERVAL_MS";

/// The non-standard option that serves the table's counters as Prometheus metrics ([`crate::metrics`]).
pub const METRICS_FLAG: &str = "--metrics";

/// The version line (`ipvsadm -v`), naming the IPVS version fulcrum's data plane emulates.
pub fn version_line(program: &str) -> String {
    format!("{program} v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1) [fulcrum nftables data plane]\n")
}

/// The usage text (`ipvsadm -h`), with the program name `program`.
pub fn usage(program: &str) -> String {
    let p = program;
    let mut s = version_line(p);
    s.push_str(&format!(
        "Usage:
  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  {p} -D virtual-service
  {p} -C
  {p} -R
  {p} -S [-n]
  {p} -a|e virtual-service -r server-address [options]
  {p} -d virtual-service -r server-address
  {p} -L|l [virtual-service] [options]
  {p} -Z [virtual-service]
  {p} --set tcp tcpfin udp
  {p} --start-daemon {{master|backup}} [daemon-options]
  {p} --stop-daemon {{master|backup}}
  {p} -h

"
    ));
    s.push_str(
        "Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)

Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)

fulcrum (nftables data plane):
  --controller                        run, in the foreground until SIGTERM, the controller that re-weights
                                      lc/wlc/sed/nq/fo/ovf/lblc/lblcr from live connection counts every
                                      200 ms and enforces -x/-y; without it these schedulers are static
                                      weighted choices and thresholds are not enforced
  --announce-table N [--announce-protocol P]
                                      run, in the foreground until SIGTERM (with --controller
                                      too if given), the announcer: a route in table N (protocol P,
                                      default 200) for every virtual address whose services each have a
                                      real server of weight above 0, for a routing daemon (BIRD, FRR) to
                                      announce over BGP; gone when it stops or dies
  --plane                             which data plane (xdp or nftables) serves each service, and why
  --rate listings read the counters twice, one second apart (an exact one-second average)
",
    );
    s.push_str(&see_also());
    s
}

/// The "See also" block after ipvsadm's own text: where the table lives, the controller, the docs.
fn see_also() -> String {
    use crate::plane::nft::DR_DEVICES_ENV;
    use crate::plane::render::TABLE;
    format!(
        "
See also:
  the table       nftables tables 'inet {TABLE}' (NAT, -m) and 'netdev {TABLE}' (direct routing,
                  -g), rewritten whole by every change; to look: nft list table inet {TABLE}
  dry run         {STATE_ENV}=FILE keeps the table in FILE instead: no nftables, no traffic
  lc/wlc/sed/nq   (and fo/ovf/lblc/lblcr, -x/-y) follow connection counts only while
                  '{CONTROLLER_FLAG}' runs; {CONTROLLER_INTERVAL_ENV} sets its interval
  metrics         '{METRICS_FLAG} ADDR:PORT' serves the table's counters for Prometheus at
                  http://ADDR:PORT/metrics (the node exporter's node_ipvs_* names) until SIGTERM
  NAT (-m)        needs forwarding on: sysctl -w net.ipv4.ip_forward=1
                  (IPv6 real servers: sysctl -w net.ipv6.conf.all.forwarding=1)
  environment     {RATE_ENV}: --rate sampling time in ms; {DR_DEVICES_ENV}: devices whose
                  ingress takes -g traffic (default: all but lo)
  xdp plane       by default an XDP program in front of nftables serves the -g, -i and -m services it
                  can (lc/wlc/sed/nq/fo/ovf/lblc/lblcr and -x/-y then per connection, sh/mh with
                  their -b flags; -m not while a sync daemon runs), pinned in a bpf file system at
                  /run/fulcrum/bpf (mounted by the first store; one directory per network namespace;
                  FULCRUM_XDP_PIN_DIR overrides); native mode on devices with a driver, generic on
                  virtual ones (FULCRUM_XDP_MODE=native|generic chooses); -C detaches it;
                  FULCRUM_L4_PLANE=nftables turns it off; '--plane' shows what serves what
  docs            in fulcrum's source tree: docs/COMPATIBILITY.md (what is supported, and how),
                  docs/ARCHITECTURE.md (the path of a command)
"
    )
}
