#!/usr/bin/env bash
# Generates the man pages of fulcrum and its three tool faces from the binary's own --help output (help2man), so
# they never drift from the command line: fulcrum.8, fulcrum-proxy.8, fulcrum-keepalived.8, fulcrum-ipvsadm.8,
# each compressed (gzip -9n, as Debian wants) in OUTDIR.
# Usage: scripts/man-pages.sh FULCRUM_BINARY OUTDIR      (run by scripts/deb.sh; needs help2man)
set -euo pipefail

[[ $# == 2 ]] || { echo "usage: $0 FULCRUM_BINARY OUTDIR" >&2; exit 2; }
bin=$(realpath "$1")
out=$2
command -v help2man >/dev/null || { echo "man-pages: help2man is missing (apt-get install help2man)" >&2; exit 1; }
[[ -x $bin ]] || { echo "man-pages: $bin is not an executable" >&2; exit 1; }
mkdir -p "$out"
version=$("$bin" --version | awk '{ print $2 }')
work=$(mktemp -d "${TMPDIR:-/tmp}/fulcrum-man.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The date in the page header comes from SOURCE_DATE_EPOCH when it is set (reproducible builds).
# page NAME SUBCOMMAND HELP_FLAG SUMMARY SEE_ALSO FILES [FILTER]
# FILTER: an awk program the help text goes through first (to put ipvsadm's usage lines in help2man's shape).
page() {
    local name=$1 sub=$2 flag=$3 summary=$4 see_also=$5 files=$6 filter=${7:-}
    local prog=$bin
    if [[ -n $sub ]]; then
        # help2man names the page after the program it runs: a wrapper called fulcrum-SUB runs `fulcrum SUB`.
        prog=$work/$name
        if [[ -n $filter ]]; then
            printf '%s\n' "$filter" >"$work/$name.awk"
            printf '#!/bin/sh\n"%s" %s "$@" | awk -f "%s"\n' "$bin" "$sub" "$work/$name.awk" >"$prog"
        else
            printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin" "$sub" >"$prog"
        fi
        chmod +x "$prog"
    fi
    {
        printf '[SEE ALSO]\n%s\n' "$see_also"
        if [[ -n $files ]]; then printf '[FILES]\n%s\n' "$files"; fi
    } >"$work/$name.h2m"
    help2man --no-info --no-discard-stderr --section=8 --help-option="$flag" --version-string="$version" \
        --name="$summary" --include="$work/$name.h2m" --output="$work/$name.8" "$prog"
    gzip -9n -c "$work/$name.8" >"$out/$name.8.gz"
}

page fulcrum "" --help \
    "one binary for load-balanced Linux clusters: proxy, VRRP failover, L4 virtual server" \
    ".BR fulcrum-proxy (8),
.BR fulcrum-keepalived (8),
.BR fulcrum-ipvsadm (8),
.BR systemctl (1)" \
    ".TP
.I /usr/lib/systemd/system/fulcrum-proxy.service, fulcrum-keepalived.service, fulcrum-ipvs.service
the services; their settings are in
.I /etc/default/fulcrum-proxy, /etc/default/fulcrum-keepalived, /etc/default/fulcrum-ipvs
.TP
.I /usr/share/doc/fulcrum/
OPERATIONS.md (running the services, switching from HAProxy and keepalived) and COMPATIBILITY.md"
page fulcrum-proxy proxy -h \
    "load-balancing proxy reading HAProxy's configuration and command line" \
    ".BR fulcrum (8),
.BR fulcrum-keepalived (8)" \
    ".TP
.I /etc/haproxy/haproxy.cfg
the configuration the fulcrum-proxy service reads (CONFIG in /etc/default/fulcrum-proxy)
.TP
.I /etc/fulcrum/haproxy.cfg
an example configuration"
page fulcrum-keepalived keepalived -h \
    "VRRP failover and L4 health checkers reading keepalived's configuration and command line" \
    ".BR fulcrum (8),
.BR fulcrum-ipvsadm (8)" \
    ".TP
.I /etc/keepalived/keepalived.conf
the configuration the fulcrum-keepalived service reads (CONFIG in /etc/default/fulcrum-keepalived)
.TP
.I /etc/fulcrum/keepalived.conf
an example configuration"
page fulcrum-ipvsadm ipvsadm -h \
    "manage fulcrum's L4 virtual-server table with ipvsadm's command line" \
    ".BR fulcrum (8),
.BR fulcrum-keepalived (8),
.BR nft (8)" \
    ".TP
.I /etc/fulcrum/ipvsadm.rules
the table the fulcrum-ipvs service restores at start and saves at stop (RULES in /etc/default/fulcrum-ipvs)" \
    '# ipvsadm prints its version first, then "Usage:" alone and one indented line per form.
NR == 1 && /^ipvsadm v/ { next }
/^Usage:$/ { forms = 1; next }
forms && /^  ipvsadm / { sub(/^  /, ""); print (n++ ? "  or: " : "Usage: ") $0; next }
{ forms = 0; print }'
echo "man-pages: $(ls "$out"/*.8.gz | wc -l) pages in $out"
