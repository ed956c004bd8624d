// SPDX-License-Identifier: GPL-2.0
// fulcrum's XDP data plane for the L4 virtual server: direct routing (destination MAC rewrite), IP-in-IP
// tunnelling and NAT (masquerading: DNAT in, the reverse translation of the real servers' replies and of ICMP
// errors), per-connection scheduling from a flow table and per-real-server connection counts.
//
// The map layouts are shared with crates/fulcrum-xdp/src/layout.rs (#[repr(C)] structs); keep both in step.
// Anything this program does not handle (non-IP, fragments, ICMP, IP options it cannot skip, IPv6 extension
// headers, unknown services, malformed headers) goes to the stack untouched with XDP_PASS. ICMP errors about
// a NAT flow are translated; other ICMP goes to the stack.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_SERVICES 256
#define MAX_DESTS 64
#define TAB_SIZE 4096
#define FLOW_ENTRIES 65536

#define SCHED_RR 0
#define SCHED_WRR 1
#define SCHED_LC 2
#define SCHED_WLC 3
#define SCHED_SED 4
#define SCHED_NQ 5
#define SCHED_SH 6
#define SCHED_DH 7
#define SCHED_MH 8
#define SCHED_FO 9
#define SCHED_OVF 10
#define SCHED_LBLC 11
#define SCHED_LBLCR 12

/* svc_info.flags: ipvsadm's -b, read by sh and mh, and -o */
#define FLAG_FALLBACK 1 /* sh-fallback, mh-fallback: an unavailable slot's clients try the next slots */
#define FLAG_PORT 2     /* sh-port, mh-port: the client port is hashed too */
#define FLAG_ONE_PACKET 4 /* -o on a UDP service: every datagram is scheduled on its own, no flow kept */

#define LOCALITY_ENTRIES 4096

#define FWD_NONE 0
#define FWD_DR 1
#define FWD_TUN 2
#define FWD_NAT 3 /* masquerading: destination address and port rewritten to dest.addr, dest.port */

/* dest.encap: the tunnel's encapsulation (ipvsadm --tun-type) */
#define ENCAP_IPIP 0
#define ENCAP_GUE 1 /* UDP to dest.tun_port, a 4-byte GUE header (variant 0, no optional fields) */
#define ENCAP_GRE 2 /* a GRE header, protocol 0x0800 */
/* dest.tun_flags */
#define TUN_CSUM 1 /* --tun-csum: the UDP (GUE) or GRE checksum is filled in */

#define FLOW_OPEN 1
#define FLOW_CLOSING 2
#define FLOW_UDP 3

#define NO_DEST 0xffffffffu
/* schedule()'s answer when every candidate is over its upper threshold: the packet is dropped, as IPVS
 * drops a new connection it finds no real server for (the client retries) */
#define BUSY_DEST 0xfffffffeu
#define JHASH_SEED 0x66756c63u

struct svc_key {
	__u8 addr[16];
	__u16 port; /* network order */
	__u8 proto;
	__u8 family; /* 4 or 6 */
};

struct svc_info {
	__u32 id;      /* < MAX_SERVICES */
	__u32 sched;   /* SCHED_* */
	__u32 ndests;  /* <= MAX_DESTS */
	__u32 tab_len; /* slots used in sched_tab for table schedulers */
	__u32 persist_s; /* persistence timeout, seconds (0: not persistent) */
	__u32 prefix;    /* persistence granularity: leading bits of the client address kept (-M) */
	__u32 thresholds; /* 1: a real server has an upper threshold */
	__u32 flags;      /* FLAG_* */
};

struct dest {
	__u8 addr[16];
	__u8 tun_src[16]; /* outer source address of tunnelled packets */
	__u8 mac[6];      /* next hop's MAC (the real server's for DR) */
	__u8 src_mac[6];  /* the MAC of the output device */
	__u32 ifindex;    /* output device */
	__u32 weight;
	__u8 fwd;         /* FWD_* (FWD_NONE: slot unused) */
	__u8 family;
	__u8 encap;       /* ENCAP_* of a tunnel */
	__u8 tun_flags;   /* TUN_* */
	__u32 u_thresh;   /* upper connection threshold (-x; 0: none) */
	__u32 l_thresh;   /* lower one (-y; 0: three quarters of the upper) */
	__u16 tun_port;   /* GUE's destination port, network order */
	__u16 port;       /* the real server's port, network order (NAT rewrites the destination port to it) */
	__u32 tag;        /* the real server's identity (a hash of its address and port, never 0): flows and
			   * persistence entries made for another server once in this slot do not match it */
};

struct conns {
	__s64 active;
	__s64 inactive;
	__u32 overload; /* IPVS's overload flag: set at the upper threshold, cleared below the lower */
	__u32 gen;      /* bumped by every change a packet makes to the counts: the sweeper reconciles
			 * them with the flow table only when no packet changed them during its walk */
};

struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct flow {
	__u64 last; /* bpf_ktime_get_ns() of the last packet */
	__u32 sid;
	__u32 didx; /* index of the real server within its service */
	__u32 state; /* FLOW_* */
	__u32 persist; /* prefix + 1 of the persistence entry this flow holds (0: none) */
	__u32 tag;     /* its real server's dest.tag */
	__u32 pad;
};

/* A persistence entry (IPVS's template): a client network of a service pinned to a real server. */
struct persist_key {
	__u8 addr[16]; /* client address masked to the service's prefix */
	__u32 sid;
	__u8 family;
	__u8 pad[3];
};

struct persist {
	__u64 last;       /* when its last flow started or ended */
	__u64 timeout_ns; /* the service's persistence timeout */
	__u32 didx;
	__s32 conns;      /* live flows it holds: it lasts while any does, then timeout_ns */
	__u32 tag;        /* its real server's dest.tag */
	__u32 gen;        /* bumped by every change a packet makes to conns (as conns.gen) */
	__u32 snap;       /* the sweeper's: gen as its walk of the flow table began */
	__s32 tally;      /* the sweeper's: the live flows holding it that the walk found */
};

struct counters {
	__u64 conns;
	__u64 packets;
	__u64 bytes;
	__u64 out_packets; /* NAT: the real servers' replies translated back (IPVS's OutPkts) */
	__u64 out_bytes;
};

/* config.flags */
#define CFG_NAT 1 /* some real server of some service is NAT: packets to no service may be replies of NAT flows
		   * (nat_out) and ICMP may be an error about one (nat_icmp4/6). Without it both go to the stack
		   * without a nat_rev lookup. The loader sets it before it writes the first NAT server and clears it
		   * after the last one's service is gone; reverse entries left then are not looked at (their
		   * replies go to the stack, as before NAT was served here) and the sweeper drops them with their
		   * flows. */

struct config {
	__u64 tcp_ns;    /* idle timeout of an open TCP flow */
	__u64 tcpfin_ns; /* of a closing one (after FIN or RST) */
	__u64 udp_ns;    /* of a UDP flow */
	__u64 locality_ns; /* lblc/lblcr: an entry unused that long goes; an lblcr set unchanged that long
			    * loses its most loaded member (IPVS's lblc_expiration / lblcr_expiration) */
	__u32 flags;     /* CFG_* */
	__u32 pad;
};

/* lblc and lblcr's table (IPVS's per-service locality table): a destination address of a service and
 * its real servers, a bit per slot (lblc: one). */
struct loc_key {
	__u8 addr[16];
	__u32 sid;
	__u8 family;
	__u8 pad[3];
};

struct locality {
	__u64 lastuse; /* last scheduled through it */
	__u64 lastmod; /* its set last changed */
	__u64 members; /* bit i: real server i of the service */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct svc_key);
	__type(value, struct svc_info);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES * MAX_DESTS);
	__type(key, __u32);
	__type(value, struct dest);
} dests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES * TAB_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} sched_tab SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} rr_pos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES * MAX_DESTS);
	__type(key, __u32);
	__type(value, struct conns);
} dest_conns SEC(".maps");

/* The sweeper's scratch, a slot per real server (as dest_conns): taken before its walk of the flow
 * table, the slot's change counter and server; during the walk, the live flows of that server in it. */
struct slot_tally {
	__s64 active;
	__s64 inactive;
	__u32 gen;
	__u32 tag; /* 0: no server in the slot, not reconciled */
	__u64 run; /* the sweep that took it (a slot of a service added during a walk has an older one) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES * MAX_DESTS);
	__type(key, __u32);
	__type(value, struct slot_tally);
} sweep_tally SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, struct persist_key);
	__type(value, struct persist);
} persist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LOCALITY_ENTRIES);
	__type(key, struct loc_key);
	__type(value, struct locality);
} locality SEC(".maps");

/* A persistent service's -M mask, by service id. */
struct pmask {
	__u8 b[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct pmask);
} persist_mask SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct counters);
} svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SERVICES * MAX_DESTS);
	__type(key, __u32);
	__type(value, struct counters);
} dest_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

/* The MAC of each device the program is attached to, by its index (filled by the plane at each store). A frame
 * to another MAC (a bridge flooding a frame for the master director to the backup, say) is not this director's
 * to forward: it goes to the stack, which drops it as addressed to another host, as it would on the nftables
 * plane. A device without an entry (BPF_PROG_TEST_RUN's) takes every frame.
 * Every packet asks, so the devices are kept twice: map dev_mac_tab, an array indexed by the device index itself
 * (below DEV_SLOTS: an array lookup is a bounds check and an address, inlined by the verifier), which is the one
 * the program reads for those devices, and map dev_macs, a hash of every device (the loader's list of what it
 * stored; the program reads it only for a device index of DEV_SLOTS or more). */
#define DEV_SLOTS 4096

struct dev_mac {
	__u8 mac[6];
	__u8 set; /* 1: an entry (an array slot of no device is all zeros) */
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEV_SLOTS);
	__type(key, __u32);
	__type(value, struct dev_mac);
} dev_mac_tab SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct dev_mac);
} dev_macs SEC(".maps");

/* The flow sweeper: a BPF timer, started by the first packet, that every SWEEP_NS walks the flow table
 * and removes the flows idle past their timeout, taking back their connection counts (as IPVS expires
 * its connections), so that counts fall for clients that vanish without a FIN. */
#define SWEEP_NS 1000000000ull
#define CLOCK_MONOTONIC_ID 1

struct sweeper {
	struct bpf_timer timer;
	__u64 started;
	__u64 runs;    /* sweeps done */
	__u64 last_ns; /* how long the last one took (bpf_ktime_get_ns() around it) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sweeper);
} sweep SEC(".maps");

/* Which build of this program the pinned maps belong to (a hash of the object, written by the loader): a
 * fulcrum of another build finds it different, or missing, and replaces program and maps rather than
 * write its layouts into maps another program reads. The program itself does not read it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} build SEC(".maps");

/* Bob Jenkins' lookup3 mixing, as the kernel's jhash (which nftables' `jhash` expression uses), so that
 * sh, dh and mh pick the same real server as the nftables plane for the same client. */
static __always_inline __u32 rol32(__u32 w, int s) { return (w << s) | (w >> (32 - s)); }

#define JMIX(a, b, c)                                                    \
	do {                                                             \
		a -= c; a ^= rol32(c, 4); c += b;                        \
		b -= a; b ^= rol32(a, 6); a += c;                        \
		c -= b; c ^= rol32(b, 8); b += a;                        \
		a -= c; a ^= rol32(c, 16); c += b;                       \
		b -= a; b ^= rol32(a, 19); a += c;                       \
		c -= b; c ^= rol32(b, 4); b += a;                        \
	} while (0)

#define JFINAL(a, b, c)                                                  \
	do {                                                             \
		c ^= b; c -= rol32(b, 14);                               \
		a ^= c; a -= rol32(c, 11);                               \
		b ^= a; b -= rol32(a, 25);                               \
		c ^= b; c -= rol32(b, 16);                               \
		a ^= c; a -= rol32(c, 4);                                \
		b ^= a; b -= rol32(a, 14);                               \
		c ^= b; c -= rol32(b, 24);                               \
	} while (0)

static __always_inline __u32 le32(const __u8 *p)
{
	return (__u32)p[0] | ((__u32)p[1] << 8) | ((__u32)p[2] << 16) | ((__u32)p[3] << 24);
}

/* jhash of an address: 4 bytes (IPv4) or 16 (IPv6). */
static __always_inline __u32 jhash_addr(const __u8 *k, int v6)
{
	__u32 len = v6 ? 16 : 4;
	__u32 a, b, c;
	a = b = c = 0xdeadbeefu + len + JHASH_SEED;
	if (v6) {
		a += le32(k);
		b += le32(k + 4);
		c += le32(k + 8);
		JMIX(a, b, c);
		a += le32(k + 12);
	} else {
		a += le32(k);
	}
	JFINAL(a, b, c);
	return c;
}

/* jhash of sh and mh's key: the client address, and with `port` its port, laid out as nftables lays out
 * `ip saddr . tcp sport` (each part padded to 4 bytes: the port's two bytes in network order, then two
 * zero bytes), so that sh-port and mh-port pick the nftables plane's slot too. */
static __always_inline __u32 jhash_src(const struct flow_key *fk, int port)
{
	int v6 = fk->family == 6;
	__u32 len = (v6 ? 16 : 4) + (port ? 4 : 0);
	__u32 a, b, c;
	a = b = c = 0xdeadbeefu + len + JHASH_SEED;
	if (v6) {
		a += le32(fk->saddr);
		b += le32(fk->saddr + 4);
		c += le32(fk->saddr + 8);
		JMIX(a, b, c);
		a += le32(fk->saddr + 12);
	} else {
		a += le32(fk->saddr);
	}
	if (port)
		b += (__u32)fk->sport; /* its bytes in memory, read little-endian with two zero bytes */
	JFINAL(a, b, c);
	return c;
}

static __always_inline __u32 scale(__u32 h, __u32 n) { return (__u32)(((__u64)h * n) >> 32); }

static __always_inline void count(void *map, __u32 idx, __u64 bytes, int conn)
{
	struct counters *c = bpf_map_lookup_elem(map, &idx);
	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	if (conn)
		c->conns++;
}

/* IPVS's overload flag of real server `idx`, set when its connections (active and inactive) reach its
 * upper threshold, cleared when they fall below its lower one (without one, below three quarters of the
 * upper); worked out whenever its counts move, read by the schedulers. A global function: the verifier
 * checks it once instead of at every call site. */
__attribute__((noinline)) int overload_update(__u32 idx)
{
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!d || !c)
		return 0;
	if (d->u_thresh == 0) {
		if (c->overload)
			c->overload = 0;
		return 0;
	}
	__s64 total = c->active + c->inactive;
	if (total < 0)
		total = 0;
	if (c->overload) {
		int below = d->l_thresh ? total < (__s64)d->l_thresh
					: total * 4 < (__s64)d->u_thresh * 3;
		if (below)
			c->overload = 0;
	} else if (total >= (__s64)d->u_thresh) {
		c->overload = 1;
	}
	return 0;
}

/* Moves real server `idx`'s counts. A packet's change (`from_packet`) bumps the change counter first,
 * so that a sweep running meanwhile leaves the slot alone; the sweeper's own changes need not (the flows
 * it removes are not in its tally either). */
static __always_inline void conns_move(__u32 idx, __s64 active, __s64 inactive, int from_packet)
{
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!c)
		return;
	if (from_packet)
		__sync_fetch_and_add(&c->gen, 1);
	if (active)
		__sync_fetch_and_add(&c->active, active);
	if (inactive)
		__sync_fetch_and_add(&c->inactive, inactive);
	overload_update(idx);
}

static __always_inline void conns_add(__u32 idx, __s64 active, __s64 inactive)
{
	conns_move(idx, active, inactive, 1);
}

/* True when real server `idx` is over its threshold. */
static __always_inline int overloaded(__u32 idx)
{
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	return c && c->overload;
}

struct sweep_ctx {
	__u64 now;
	__u64 tcp_ns;
	__u64 tcpfin_ns;
	__u64 udp_ns;
	__u64 run; /* this sweep's number (from 1) */
};

/* The persistence key of client `saddr` of service `sid`: the address under the service's mask (map
 * persist_mask, written from its prefix by the loader; without branches, which the verifier would
 * otherwise walk byte by byte). */
static __always_inline int persist_key_of(struct persist_key *pk, __u32 sid, const __u8 *saddr,
					  __u8 family)
{
	struct pmask *m = bpf_map_lookup_elem(&persist_mask, &sid);
	if (!m)
		return 0;
	__builtin_memset(pk, 0, sizeof(*pk));
	pk->sid = sid;
	pk->family = family;
#pragma unroll
	for (int i = 0; i < 16; i++)
		pk->addr[i] = saddr[i] & m->b[i];
	return 1;
}

/* The real server of a live persistence entry, else NO_DEST (a stale entry, whose time ran out with no
 * flow left or whose real server left the service, is removed). A quiesced server keeps its clients. */
static __always_inline __u32 persist_lookup(const struct persist_key *pk, __u64 now)
{
	struct persist *p = bpf_map_lookup_elem(&persist, pk);
	if (!p)
		return NO_DEST;
	__u32 didx = p->didx;
	__u32 idx = pk->sid * MAX_DESTS + didx;
	struct dest *d = didx < MAX_DESTS ? bpf_map_lookup_elem(&dests, &idx) : 0;
	/* (`last` may be later than `now`, set meanwhile by another CPU or the sweeper) */
	if (!d || d->fwd == FWD_NONE || d->tag != p->tag ||
	    (p->conns <= 0 && now > p->last && now - p->last > p->timeout_ns)) {
		bpf_map_delete_elem(&persist, pk);
		return NO_DEST;
	}
	return didx;
}

/* Counts a new flow of the entry `pk` to `didx` (creating it); false when the map refused it. */
static __always_inline int persist_bind(const struct persist_key *pk, __u32 didx, __u64 now,
					__u64 timeout_ns)
{
	__u32 idx = pk->sid * MAX_DESTS + didx;
	struct dest *d = didx < MAX_DESTS ? bpf_map_lookup_elem(&dests, &idx) : 0;
	if (!d)
		return 0;
	struct persist *p = bpf_map_lookup_elem(&persist, pk);
	if (!p || p->didx != didx || p->tag != d->tag) {
		struct persist np = { .last = now, .timeout_ns = timeout_ns, .didx = didx, .tag = d->tag };
		if (bpf_map_update_elem(&persist, pk, &np, BPF_ANY) != 0)
			return 0;
		p = bpf_map_lookup_elem(&persist, pk);
		if (!p)
			return 0;
	}
	__sync_fetch_and_add(&p->gen, 1);
	__sync_fetch_and_add(&p->conns, 1);
	p->last = now;
	p->timeout_ns = timeout_ns;
	return 1;
}

/* A flow that held a persistence entry ended: the entry's time starts again from now. */
/* The persistence steps are global functions: the verifier checks each once instead of multiplying
 * the states of the rest of the program by their branches. */

/* The real server of client `fk`'s live entry in service `sid` at time `now`, else NO_DEST. */
__attribute__((noinline)) int persist_pick(struct flow_key *fk, __u32 sid, __u64 now)
{
	struct persist_key pk;
	if (!fk || !persist_key_of(&pk, sid, fk->saddr, fk->family))
		return (int)NO_DEST;
	return (int)persist_lookup(&pk, now);
}

/* Counts a new flow of client `fk` to `didx` in its entry (created) at time `now`; 1 when it did. */
__attribute__((noinline)) int persist_hold(struct flow_key *fk, __u32 sid, __u32 didx, __u32 timeout_s,
					   __u64 now)
{
	struct persist_key pk;
	if (!fk || !persist_key_of(&pk, sid, fk->saddr, fk->family))
		return 0;
	return persist_bind(&pk, didx, now, (__u64)timeout_s * 1000000000ull);
}

/* A flow of client `fk` that held an entry ended: the entry's time starts again from now. Only the entry
 * of the flow's own server (`tag`) counts it: one bound anew to another server since is left alone.
 * `from_packet` as conns_move's. */
__attribute__((noinline)) int persist_leave(struct flow_key *fk, __u32 sid, __u32 tag, __u32 from_packet)
{
	struct persist_key pk;
	if (!fk || !persist_key_of(&pk, sid, fk->saddr, fk->family))
		return 0;
	struct persist *p = bpf_map_lookup_elem(&persist, &pk);
	if (!p || p->tag != tag)
		return 0;
	if (from_packet)
		__sync_fetch_and_add(&p->gen, 1);
	__sync_fetch_and_add(&p->conns, -1);
	p->last = bpf_ktime_get_ns();
	return 0;
}

/* The sweep's count of a live flow of client `fk` holding an entry of service `sid` (see tally_begin). */
__attribute__((noinline)) int persist_count(struct flow_key *fk, __u32 sid, __u32 tag)
{
	struct persist_key pk;
	if (!fk || !persist_key_of(&pk, sid, fk->saddr, fk->family))
		return 0;
	struct persist *p = bpf_map_lookup_elem(&persist, &pk);
	if (p && p->tag == tag)
		p->tally++; /* (only the sweeper writes it) */
	return 0;
}

static __always_inline void persist_release_by(const struct flow_key *k, __u32 sid, __u32 pm,
					       __u32 tag, __u32 from_packet)
{
	if (pm == 0)
		return;
	struct flow_key kk = *k;
	persist_leave(&kk, sid, tag, from_packet);
}

static __always_inline void persist_release(const struct flow_key *k, __u32 sid, __u32 pm, __u32 tag)
{
	persist_release_by(k, sid, pm, tag, 1);
}

/* 1 when slot `didx` of service `sid` still holds the real server `tag` names. (A global function: the
 * verifier checks it once rather than with every state of its callers.) */
__attribute__((noinline)) int slot_holds(__u32 sid, __u32 didx, __u32 tag)
{
	if (sid >= MAX_SERVICES || didx >= MAX_DESTS)
		return 0;
	__u32 idx = sid * MAX_DESTS + didx;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	return d && d->fwd != FWD_NONE && d->tag == tag;
}

/* NAT's reverse table: a reply of a NAT flow (real server:rport -> client:cport, keyed as a flow key in that
 * direction) to the forward flow it belongs to, whose destination (VIP:vport) its source goes back to. Made (or
 * made again) by the flow's packets; an LRU of the flow table's size. Its flow gone (expired, released, or
 * replaced by one to another server), the entry is stale: a reply finding it so removes it, and the sweeper,
 * after expiring flows, drops every entry whose flow is gone in the same pass. (flow_release does not delete it
 * itself: copying the key it needs onto the stack of the packet path multiplied the verifier's states past its
 * limit.) */
struct nat_rev {
	struct flow_key fwd; /* the forward flow: client -> VIP:vport */
	__u32 sid;
	__u32 didx;
	__u32 tag; /* its real server's dest.tag: an entry of a server that left its slot is stale */
	__u32 hop_ifindex; /* the device the client's packets came in on ... */
	__u8 hop_mac[6];   /* ... from this MAC (the client's, or its router's) ... */
	__u8 own_mac[6];   /* ... to this one: where a reply goes when the route to the client cannot be finished */
	__u32 pad;
};

/* The way back to the client of the reply nat_out or nat_icmp just translated (per CPU, read by nat_route when
 * bpf_fib_lookup cannot finish the route, e.g. the client's neighbour entry is not resolved yet: the packet then
 * goes back the way the client's packets came in; handing it to the stack would not do, as its source, the VIP,
 * is one of the director's own addresses and the stack drops a forwarded packet from a local address). */
struct nat_hop {
	__u32 ifindex; /* 0: none known */
	__u8 dmac[6];
	__u8 smac[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_hop);
} nat_hop SEC(".maps");

/* Records the way back of reverse entry `r` (none when `r` is NULL) for nat_route. */
static __always_inline void nat_hop_set(const struct nat_rev *r)
{
	__u32 zero = 0;
	struct nat_hop *h = bpf_map_lookup_elem(&nat_hop, &zero);
	if (!h)
		return;
	if (!r) {
		h->ifindex = 0;
		return;
	}
	h->ifindex = r->hop_ifindex;
	__builtin_memcpy(h->dmac, r->hop_mac, ETH_ALEN);
	__builtin_memcpy(h->smac, r->own_mac, ETH_ALEN);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct nat_rev);
} nat_rev SEC(".maps");

/* The reverse key of forward flow `fk` to NAT server `d`. */
static __always_inline void nat_rev_key(struct flow_key *rk, const struct flow_key *fk, const struct dest *d)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	__builtin_memcpy(rk->saddr, d->addr, 16);
	__builtin_memcpy(rk->daddr, fk->saddr, 16);
	rk->sport = d->port ? d->port : fk->dport;
	rk->dport = fk->sport;
	rk->proto = fk->proto;
	rk->family = fk->family;
}

/* The sweeper's pass over the reverse table: an entry whose forward flow is gone (or is another server's)
 * goes. */
static long sweep_nat_rev(void *map, struct flow_key *k, struct nat_rev *r, void *arg)
{
	struct flow_key fk = r->fwd;
	struct flow *f = bpf_map_lookup_elem(&flows, &fk);
	if (!f || f->sid != r->sid || f->didx != r->didx || f->tag != r->tag)
		bpf_map_delete_elem(map, k);
	return 0;
}

/* Takes back a flow's count when its entry is removed by this call (only one remover counts it);
 * `from_packet` as conns_move's. */
static __always_inline void flow_drop(void *map, const struct flow_key *k, const struct flow *f,
				      int from_packet)
{
	__u32 sid = f->sid, didx = f->didx, state = f->state, pm = f->persist, tag = f->tag;
	if (bpf_map_delete_elem(map, k) != 0 || sid >= MAX_SERVICES || didx >= MAX_DESTS)
		return;
	/* a flow of a server no longer in its slot: the slot's counts are its new server's */
	if (!slot_holds(sid, didx, tag)) {
		persist_release_by(k, sid, pm, tag, from_packet);
		return;
	}
	if (state == FLOW_OPEN)
		conns_move(sid * MAX_DESTS + didx, -1, 0, from_packet);
	else
		conns_move(sid * MAX_DESTS + didx, 0, -1, from_packet);
	persist_release_by(k, sid, pm, tag, from_packet);
}

static __always_inline void flow_release(void *map, const struct flow_key *k, const struct flow *f,
					 __u64 now)
{
	flow_drop(map, k, f, 1);
}

/* The walk's count of a live flow, in its slot's tally when the slot held the flow's server as the
 * sweep began (counted as conns_add counts it: open TCP flows active, the others inactive). */
static __always_inline void tally_flow(const struct flow_key *k, const struct flow *f, __u64 run)
{
	if (f->persist) {
		struct flow_key kk = *k;
		persist_count(&kk, f->sid, f->tag);
	}
	__u32 sid = f->sid, didx = f->didx;
	if (sid >= MAX_SERVICES || didx >= MAX_DESTS)
		return;
	__u32 idx = sid * MAX_DESTS + didx;
	struct slot_tally *t = bpf_map_lookup_elem(&sweep_tally, &idx);
	if (!t || t->tag == 0 || t->run != run || t->tag != f->tag)
		return;
	if (f->state == FLOW_OPEN)
		t->active++;
	else
		t->inactive++;
}

static long sweep_flow(void *map, struct flow_key *k, struct flow *f, void *arg)
{
	struct sweep_ctx *c = arg;
	__u64 timeout = f->state == FLOW_OPEN ? c->tcp_ns : f->state == FLOW_CLOSING ? c->tcpfin_ns : c->udp_ns;
	/* (a packet since the sweep read the clock sets `last` after `now`: that flow is not idle) */
	if (timeout && c->now > f->last && c->now - f->last > timeout)
		flow_drop(map, k, f, 0);
	else
		tally_flow(k, f, c->run);
	return 0;
}

/* Before the walk of the flow table: the entry's change counter noted, its tally started. */
static long persist_tally_begin(void *map, struct persist_key *k, struct persist *p, void *arg)
{
	p->snap = __sync_fetch_and_add(&p->gen, 0);
	p->tally = 0;
	return 0;
}

static long sweep_persist(void *map, struct persist_key *k, struct persist *p, void *arg)
{
	struct sweep_ctx *c = arg;
	/* after the walk: an entry no packet changed meanwhile holds the live flows the walk found (as
	 * tally_apply reconciles the counts); one whose flows were all evicted starts its timeout now.
	 * (An entry made during the walk has a snap of 0 and a gen already bumped: left alone.) */
	if (__sync_fetch_and_add(&p->gen, 0) == p->snap) {
		__s32 held = p->conns, live = p->tally;
		if (held != live && __sync_val_compare_and_swap(&p->conns, held, live) == held &&
		    live == 0 && held > 0)
			p->last = c->now;
	}
	/* (a flow swept just before in this pass set `last` after `now`) */
	if (p->conns <= 0 && c->now > p->last && c->now - p->last > p->timeout_ns)
		bpf_map_delete_elem(map, k);
	return 0;
}

struct loc_sweep {
	__u64 now;
	__u64 expire;
};

static long sweep_locality(void *map, struct loc_key *k, struct locality *e, void *arg)
{
	struct loc_sweep *c = arg;
	if (c->now > e->lastuse && c->now - e->lastuse > c->expire)
		bpf_map_delete_elem(map, k);
	return 0;
}

/* Reconciling the live counts with the flow table. A full flow table (an LRU hash) evicts its least
 * recently used flows without a word, so their counts would never be taken back and would drift up under
 * a flood (wrong least-connection picks, servers held overloaded). Each sweep therefore notes every
 * slot's change counter and server (tally_begin), counts the live flows of each slot during its walk
 * (tally_flow), and then sets the counts of every slot no packet changed meanwhile to that tally
 * (tally_apply). A slot a packet changed is left for the next sweep. Each field is set by compare-and-
 * exchange against the value read, so a packet changing it between the check and the write wins and
 * its change stands. (What can still slip through, until the next sweep puts it right: a flow a packet
 * created or closed within nanoseconds of the walk's end, between its flow write and its count change;
 * flows a concurrent eviction hides from the walk.) */
/* The slots walked: those of one service's real servers. */
struct slot_walk {
	__u32 base;
	__u32 pad;
	__u64 run;
};

static long tally_begin(__u32 i, void *arg)
{
	struct slot_walk *w = arg;
	__u32 idx = w->base + i;
	struct slot_tally *t = bpf_map_lookup_elem(&sweep_tally, &idx);
	if (!t)
		return 1;
	t->active = 0;
	t->inactive = 0;
	t->tag = 0;
	t->run = w->run;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!d || !c || d->fwd == FWD_NONE)
		return 0;
	t->gen = __sync_fetch_and_add(&c->gen, 0); /* (an atomic read: ordered before the walk) */
	t->tag = d->tag;
	return 0;
}

static long tally_apply(__u32 i, void *arg)
{
	struct slot_walk *w = arg;
	__u32 idx = w->base + i;
	struct slot_tally *t = bpf_map_lookup_elem(&sweep_tally, &idx);
	if (!t || t->tag == 0 || t->run != w->run)
		return 0;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	/* (another server took the slot meanwhile: the loader reset its counts, the tally is the old one's) */
	if (!d || !c || d->fwd == FWD_NONE || d->tag != t->tag)
		return 0;
	if (__sync_fetch_and_add(&c->gen, 0) != t->gen)
		return 0;
	__s64 active = c->active, inactive = c->inactive;
	int moved = 0;
	if (active != t->active &&
	    __sync_val_compare_and_swap(&c->active, active, t->active) == active)
		moved = 1;
	if (inactive != t->inactive &&
	    __sync_val_compare_and_swap(&c->inactive, inactive, t->inactive) == inactive)
		moved = 1;
	if (moved)
		overload_update(idx);
	return 0;
}

/* Only the slots of the services in the map are reconciled (the others are neither scheduled nor
 * listed), so a sweep costs little more than its walk of the flow table. */
static long tally_begin_svc(void *map, struct svc_key *k, struct svc_info *svc, void *arg)
{
	struct slot_walk w = { .base = svc->id * MAX_DESTS, .run = *(__u64 *)arg };
	if (svc->id < MAX_SERVICES)
		bpf_loop(svc->ndests < MAX_DESTS ? svc->ndests : MAX_DESTS, tally_begin, &w, 0);
	return 0;
}

static long tally_apply_svc(void *map, struct svc_key *k, struct svc_info *svc, void *arg)
{
	struct slot_walk w = { .base = svc->id * MAX_DESTS, .run = *(__u64 *)arg };
	if (svc->id < MAX_SERVICES)
		bpf_loop(svc->ndests < MAX_DESTS ? svc->ndests : MAX_DESTS, tally_apply, &w, 0);
	return 0;
}

static int sweep_run(void *map, __u32 *key, struct sweeper *s)
{
	__u64 t0 = bpf_ktime_get_ns();
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg) {
		struct sweep_ctx c = {
			.now = bpf_ktime_get_ns(),
			.tcp_ns = cfg->tcp_ns,
			.tcpfin_ns = cfg->tcpfin_ns,
			.udp_ns = cfg->udp_ns,
			.run = s->runs + 1,
		};
		bpf_for_each_map_elem(&services, tally_begin_svc, &c.run, 0);
		bpf_for_each_map_elem(&persist, persist_tally_begin, 0, 0);
		bpf_for_each_map_elem(&flows, sweep_flow, &c, 0);
		bpf_for_each_map_elem(&services, tally_apply_svc, &c.run, 0);
		bpf_for_each_map_elem(&persist, sweep_persist, &c, 0);
		struct loc_sweep l = { .now = c.now, .expire = cfg->locality_ns };
		bpf_for_each_map_elem(&locality, sweep_locality, &l, 0);
		bpf_for_each_map_elem(&nat_rev, sweep_nat_rev, 0, 0);
	}
	s->last_ns = bpf_ktime_get_ns() - t0;
	s->runs++;
	bpf_timer_start(&s->timer, SWEEP_NS, 0);
	return 0;
}

static __always_inline void sweep_start(void)
{
	__u32 zero = 0;
	struct sweeper *s = bpf_map_lookup_elem(&sweep, &zero);
	if (!s || s->started)
		return;
	s->started = 1;
	if (bpf_timer_init(&s->timer, &sweep, CLOCK_MONOTONIC_ID) != 0)
		return;
	bpf_timer_set_callback(&s->timer, sweep_run);
	bpf_timer_start(&s->timer, SWEEP_NS, 0);
}

/* The state of a pick by connection counts, carried through bpf_loop (the verifier checks the callback
 * once instead of every iteration of an unrolled loop). */
struct count_pick {
	__u32 base;
	__u32 sched;
	__u32 best;
	__u64 best_oh;
	__u64 best_w;
};

static long count_pick_step(__u32 i, void *arg)
{
	struct count_pick *p = arg;
	__u32 idx = p->base + i;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!d || !c || d->fwd == FWD_NONE || d->weight == 0 || c->overload)
		return 0;
	__u64 act = c->active > 0 ? c->active : 0;
	__u64 inact = c->inactive > 0 ? c->inactive : 0;
	__u64 w = d->weight;
	__u64 oh;
	int take = 0;
	switch (p->sched) {
	case SCHED_LC:
		oh = act * 256 + inact;
		take = p->best == NO_DEST || oh < p->best_oh;
		break;
	case SCHED_NQ:
		if (act == 0) {
			p->best = i;
			return 1;
		}
		oh = act + 1;
		take = p->best == NO_DEST || oh * p->best_w < p->best_oh * w;
		break;
	case SCHED_SED:
		oh = act + 1;
		take = p->best == NO_DEST || oh * p->best_w < p->best_oh * w;
		break;
	case SCHED_FO:
		oh = 0;
		take = p->best == NO_DEST || w > p->best_w;
		break;
	case SCHED_OVF:
		oh = 0;
		take = act < w && (p->best == NO_DEST || w > p->best_w);
		break;
	default: /* SCHED_WLC */
		oh = act * 256 + inact;
		take = p->best == NO_DEST || oh * p->best_w < p->best_oh * w;
		break;
	}
	if (take) {
		p->best = i;
		p->best_oh = oh;
		p->best_w = w;
	}
	return 0;
}

/* Picks by connection counts (lc, wlc, sed, nq, fo, ovf) among the `n` real servers of service `sid`,
 * IPVS's rules; NO_DEST when none is available. */
static __always_inline __u32 pick_counts(__u32 sid, __u32 sched, __u32 n)
{
	struct count_pick p = {
		.base = sid * MAX_DESTS,
		.sched = sched,
		.best = NO_DEST,
	};
	if (n > MAX_DESTS)
		n = MAX_DESTS;
	bpf_loop(n, count_pick_step, &p, 0);
	return p.best;
}

static __always_inline __u32 pick_by_counts(const struct svc_info *svc)
{
	return pick_counts(svc->id, svc->sched, svc->ndests);
}

/* lblc and lblcr (IPVS's locality schedulers). A real server is "overloaded" for them when it has more
 * active connections than its weight while another server of the service has fewer than half its
 * weight; the walk looks for that other server. */
static long half_idle_step(__u32 i, void *arg)
{
	__u32 *base = arg;
	__u32 idx = *base + i;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!d || !c || d->fwd == FWD_NONE)
		return 0;
	__s64 act = c->active > 0 ? c->active : 0;
	if (act * 2 < (__s64)d->weight) {
		*base = NO_DEST; /* found */
		return 1;
	}
	return 0;
}

static __always_inline int loc_overloaded(__u32 sid, __u32 n, __u32 didx)
{
	__u32 idx = sid * MAX_DESTS + didx;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!d || !c)
		return 1;
	if (c->active <= (__s64)d->weight)
		return 0;
	__u32 base = sid * MAX_DESTS;
	if (n > MAX_DESTS)
		n = MAX_DESTS;
	bpf_loop(n, half_idle_step, &base, 0);
	return base == NO_DEST;
}

/* A walk over a locality entry's members: the least loaded available one (wlc's rule) and the most
 * loaded one (a member that left the service or has weight 0 counts as the most loaded). */
struct set_walk {
	__u64 members;
	__u32 base;
	__u32 count;
	__u32 min;
	__u32 max;
	__u64 min_oh;
	__u64 min_w;
	__u64 max_oh;
	__u64 max_w;
};

static long set_walk_step(__u32 i, void *arg)
{
	struct set_walk *w = arg;
	if (i >= MAX_DESTS || !(w->members & (1ull << i)))
		return 0;
	w->count++;
	__u32 idx = w->base + i;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	__u64 oh = 0, wt = 0;
	if (d && c && d->fwd != FWD_NONE) {
		__u64 act = c->active > 0 ? c->active : 0;
		__u64 inact = c->inactive > 0 ? c->inactive : 0;
		oh = act * 256 + inact;
		wt = d->weight;
		if (wt > 0 && !c->overload &&
		    (w->min == NO_DEST || oh * w->min_w < w->min_oh * wt)) {
			w->min = i;
			w->min_oh = oh;
			w->min_w = wt;
		}
	}
	int more = w->max == NO_DEST ||
		   (w->max_w != 0 && (wt == 0 || oh * w->max_w > w->max_oh * wt));
	if (more) {
		w->max = i;
		w->max_oh = oh;
		w->max_w = wt;
	}
	return 0;
}

/* lblc / lblcr's pick for a new flow of client `fk` in service `sid` with `n` real server slots at `now`. The
 * entry of the flow's destination address sends it to its (least loaded available) member unless that
 * one is overloaded in the locality sense; else wlc picks among all and the entry takes the pick (lblc:
 * instead of its member; lblcr: besides them). An lblcr set of several members unchanged for the expiry
 * loses its most loaded member; an entry unused for it is forgotten. A global function: the verifier
 * checks it once. */
__attribute__((noinline)) int locality_pick(struct flow_key *fk, __u32 sid, __u32 sched, __u32 n,
					    __u64 now)
{
	if (!fk || sid >= MAX_SERVICES)
		return (int)NO_DEST;
	if (n > MAX_DESTS)
		n = MAX_DESTS;
	struct loc_key k = {};
	__builtin_memcpy(k.addr, fk->daddr, 16);
	k.sid = sid;
	k.family = fk->family;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u64 expire = cfg ? cfg->locality_ns : 0;
	struct locality *e = bpf_map_lookup_elem(&locality, &k);
	if (e && now > e->lastuse && now - e->lastuse > expire) {
		bpf_map_delete_elem(&locality, &k);
		e = 0;
	}
	if (e) {
		e->lastuse = now;
		struct set_walk w = {
			.members = e->members,
			.base = sid * MAX_DESTS,
			.min = NO_DEST,
			.max = NO_DEST,
		};
		bpf_loop(n, set_walk_step, &w, 0);
		if (sched == SCHED_LBLCR && w.count > 1 && w.max < MAX_DESTS && now > e->lastmod &&
		    now - e->lastmod > expire) {
			e->members &= ~(1ull << w.max);
			e->lastmod = now;
		}
		if (w.min < MAX_DESTS && !loc_overloaded(sid, n, w.min))
			return (int)w.min;
	}
	__u32 pick = pick_counts(sid, SCHED_WLC, n);
	if (pick >= MAX_DESTS)
		return (int)NO_DEST;
	__u64 bit = 1ull << pick;
	if (e) {
		if (sched == SCHED_LBLC) {
			e->members = bit;
			e->lastmod = now;
		} else if (!(e->members & bit)) {
			e->members |= bit;
			e->lastmod = now;
		}
	} else {
		struct locality ne = { .lastuse = now, .lastmod = now, .members = bit };
		bpf_map_update_elem(&locality, &k, &ne, BPF_ANY);
	}
	return (int)pick;
}

/* rr and wrr: the first slot from the cycle's position whose real server is not overloaded. */
struct tab_probe {
	__u32 sid;
	__u32 start;
	__u32 len;
	__u32 found;
};

static long tab_probe_step(__u32 i, void *arg)
{
	struct tab_probe *t = arg;
	__u32 slot = (t->start + i) % t->len;
	if (slot >= TAB_SIZE)
		return 1;
	__u32 key = t->sid * TAB_SIZE + slot;
	__u32 *dp = bpf_map_lookup_elem(&sched_tab, &key);
	if (!dp || *dp >= MAX_DESTS)
		return 0;
	__u32 didx = *dp;
	__u32 idx = t->sid * MAX_DESTS + didx;
	if (overloaded(idx))
		return 0;
	t->found = didx;
	return 1;
}

/* A hashing scheduler's pick: its slot's server, none when that one is overloaded (IPVS's sh, dh and
 * mh without their fallback flags). */
static __always_inline __u32 checked(__u32 sid, __u32 didx)
{
	if (didx >= MAX_DESTS)
		return NO_DEST;
	__u32 idx = sid * MAX_DESTS + didx;
	if (overloaded(idx))
		return BUSY_DEST;
	return didx;
}

/* Picks a real server for a new flow arriving at `now`; NO_DEST when none is available. */
static __always_inline __u32 schedule(const struct svc_info *svc, struct flow_key *fk, __u64 now)
{
	__u32 slot;
	switch (svc->sched) {
	case SCHED_RR:
	case SCHED_WRR: {
		__u32 sid = svc->id;
		__u32 *pos = bpf_map_lookup_elem(&rr_pos, &sid);
		if (!pos || svc->tab_len == 0)
			return NO_DEST;
		struct tab_probe t = {
			.sid = sid,
			.start = __sync_fetch_and_add(pos, 1) % svc->tab_len,
			.len = svc->tab_len,
			.found = NO_DEST,
		};
		__u32 n = svc->tab_len < TAB_SIZE ? svc->tab_len : TAB_SIZE;
		bpf_loop(n, tab_probe_step, &t, 0);
		return t.found;
	}
	case SCHED_SH:
	case SCHED_MH:
		slot = scale(jhash_src(fk, svc->flags & FLAG_PORT), svc->tab_len);
		break;
	case SCHED_DH:
		slot = scale(jhash_addr(fk->daddr, fk->family == 6), svc->tab_len);
		break;
	case SCHED_LBLC:
	case SCHED_LBLCR:
		return (__u32)locality_pick(fk, svc->id, svc->sched, svc->ndests, now);
	default:
		return pick_by_counts(svc);
	}
	if (slot >= TAB_SIZE)
		return NO_DEST;
	__u32 key = svc->id * TAB_SIZE + slot;
	__u32 *d = bpf_map_lookup_elem(&sched_tab, &key);
	if (!d)
		return NO_DEST;
	__u32 didx = checked(svc->id, *d);
	if (didx != BUSY_DEST || !(svc->flags & FLAG_FALLBACK))
		return didx;
	/* sh-fallback / mh-fallback: the first following slot (in table order) whose server is available,
	 * as the nftables plane's map sends it */
	struct tab_probe t = {
		.sid = svc->id,
		.start = slot,
		.len = svc->tab_len,
		.found = NO_DEST,
	};
	__u32 n = svc->tab_len < TAB_SIZE ? svc->tab_len : TAB_SIZE;
	bpf_loop(n, tab_probe_step, &t, 0);
	return t.found == NO_DEST ? BUSY_DEST : t.found;
}

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* The ones' complement sum (unfolded, in memory byte order) of the IPv4 packet `ip` as it will be once its own
 * checksums are complete, found without reading its payload, as the kernel's local checksum offload does: a
 * valid IPv4 header sums to zero, and a TCP or UDP segment with a valid checksum sums to the complement of its
 * pseudo-header. 0 in *ok when it cannot be known (a UDP datagram sent without a checksum). */
static __always_inline __u32 inner_sum(struct iphdr *ip, void *data_end, int *ok)
{
	__u16 l4len = bpf_ntohs(ip->tot_len) - ip->ihl * 4;
	__u32 ps = 0;
	__u16 *a = (__u16 *)&ip->saddr;
#pragma unroll
	for (int i = 0; i < 4; i++)
		ps += a[i];
	ps += bpf_htons(ip->protocol) + bpf_htons(l4len);
	*ok = 1;
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)ip + ip->ihl * 4;
		if ((void *)(uh + 1) > data_end || uh->check == 0)
			*ok = 0;
	}
	return csum_fold(ps);
}

/* A flow's GUE source port: a hash of its addresses and ports within 32768-60999 (Linux's default local port
 * range, where IPVS's udp_flow_src_port puts it), so that the real server's receive queues spread flows. */
static __always_inline __u16 gue_sport(const struct iphdr *ip, __u32 ports)
{
	__u32 a = ip->saddr, b = ip->daddr, c = ports + JHASH_SEED;
	JFINAL(a, b, c);
	return bpf_htons((__u16)(((__u64)c * (60999 - 32768)) >> 32) + 32768);
}

/* Wraps the IPv4 packet at `data + sizeof(ethhdr)` for the tunnel to `d`: an outer IPv4 header (IP-in-IP),
 * with a UDP and a GUE header after it (GUE), or a GRE header (GRE). */
static __always_inline int encap_tunnel(struct xdp_md *ctx, const struct dest *d, __u32 ports)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *inner = data + sizeof(struct ethhdr);
	if ((void *)(inner + 1) > data_end || inner->ihl < 5)
		return XDP_PASS;
	__u16 inner_len = bpf_ntohs(inner->tot_len);
	__u8 tos = inner->tos;
	__u8 encap = d->encap;
	int csum = d->tun_flags & TUN_CSUM;
	__u32 extra = 0, sum = 0;
	__u8 proto = IPPROTO_IPIP;
	__u16 sport = 0;
	if (encap == ENCAP_GUE) {
		extra = sizeof(struct udphdr) + 4;
		proto = IPPROTO_UDP;
		sport = gue_sport(inner, ports);
	} else if (encap == ENCAP_GRE) {
		extra = csum ? 8 : 4;
		proto = IPPROTO_GRE;
	}
	if (csum && encap != ENCAP_IPIP) {
		int ok;
		sum = inner_sum(inner, data_end, &ok);
		if (!ok) {
			if (encap == ENCAP_GRE)
				return XDP_PASS; /* its checksum cannot be had without reading the whole packet */
			csum = 0; /* UDP over IPv4 may go without one, as the datagram inside did */
		}
	}
	if (inner_len > 0xffff - sizeof(struct iphdr) - extra)
		return XDP_PASS;
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + extra)))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + sizeof(struct ethhdr);
	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, d->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, d->src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr) + extra);
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF */
	outer->ttl = 64;
	outer->protocol = proto;
	outer->check = 0;
	__builtin_memcpy(&outer->saddr, d->tun_src, 4);
	__builtin_memcpy(&outer->daddr, d->addr, 4);
	__u32 hs = 0;
	__u16 *w = (__u16 *)outer;
#pragma unroll
	for (int i = 0; i < 10; i++)
		hs += w[i];
	outer->check = csum_fold(hs);
	if (encap == ENCAP_GUE) {
		struct udphdr *uh = (void *)(outer + 1);
		__u8 *gue = (void *)(uh + 1);
		if ((void *)(gue + 4) > data_end)
			return XDP_DROP;
		__u16 ulen = bpf_htons(inner_len + sizeof(struct udphdr) + 4);
		uh->source = sport;
		uh->dest = d->tun_port;
		uh->len = ulen;
		uh->check = 0;
		gue[0] = 0; /* version 0, not a control message, no optional fields */
		gue[1] = IPPROTO_IPIP;
		gue[2] = 0;
		gue[3] = 0;
		if (csum) {
			__u16 *sa = (__u16 *)&outer->saddr;
			sum += sa[0] + sa[1] + sa[2] + sa[3] + bpf_htons(IPPROTO_UDP) + ulen; /* pseudo-header */
			sum += sport + d->tun_port + ulen + bpf_htons(IPPROTO_IPIP);
			__u16 c = csum_fold(sum);
			uh->check = c ? c : 0xffff;
		}
	} else if (encap == ENCAP_GRE) {
		__u16 *gre = (void *)(outer + 1);
		if ((void *)(gre + 4) > data_end)
			return XDP_DROP;
		gre[0] = csum ? bpf_htons(0x8000) : 0; /* C bit, version 0 */
		gre[1] = bpf_htons(ETH_P_IP);
		if (csum) {
			gre[2] = 0;
			gre[3] = 0;
			gre[2] = csum_fold(sum + gre[0] + gre[1]);
		}
	}
	if (d->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(d->ifindex, 0);
}

/* ---- NAT (masquerading) ----
 * In: the destination (VIP:vport) becomes the real server's address and port. Out: a real server's reply
 * (the director is its gateway) gets the VIP:vport back as its source and is routed with bpf_fib_lookup.
 * ICMP errors about a NAT flow are translated both ways as IPVS does. Checksums are updated incrementally
 * (RFC 1624), TTL / hop limit decremented as the stack's forwarding would. */

#define AF_INET 2
#define AF_INET6 10
/* nat_out's and nat_icmp's answer for a packet translated for the client: its caller routes it with
 * nat_route (called from fulcrum_xdp, not from them, to keep the stack of the calls within 512 bytes) */
#define NAT_ROUTE 0x100

/* The ones' complement difference (unfolded) of replacing the address `old` by `new` (4 or 16 bytes). */
static __always_inline __u32 addr_diff(const __u8 *old, const __u8 *new, int v6)
{
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= 2 && !v6)
			break;
		/* (16-bit loads: addresses sit at even offsets of their headers and map values) */
		s += (__u16)~((const __u16 *)old)[i] + (__u32)((const __u16 *)new)[i];
	}
	return s;
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

static __always_inline __u32 word_diff(__u16 old, __u16 new) { return (__u16)~old + (__u32)new; }

/* Checksum `check` after the changes summed in `diff`. */
static __always_inline __u16 csum_apply(__u16 check, __u32 diff)
{
	return csum_fold((__u32)(__u16)~check + diff);
}

/* The TCP or UDP checksum at `l4` after `diff` (an IPv4 UDP checksum of 0, none sent, stays 0). */
static __always_inline int l4_csum_apply(void *l4, void *data_end, __u8 proto, int v6, __u32 diff)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end)
			return 0;
		th->check = csum_apply(th->check, diff);
	} else {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end)
			return 0;
		if (uh->check || v6) {
			__u16 c = csum_apply(uh->check, diff);
			uh->check = c ? c : 0xffff; /* 0 means "no checksum" in UDP */
		}
	}
	return 1;
}

/* Decrements the TTL (IPv4, fixing the header checksum) or hop limit of the header at `l3` (bounds checked
 * by the caller, which also made sure it is above 1). */
static __always_inline void ttl_dec(void *l3, int v6)
{
	if (v6) {
		((struct ipv6hdr *)l3)->hop_limit--;
		return;
	}
	struct iphdr *ip = l3;
	__u16 old, new;
	__builtin_memcpy(&old, &ip->ttl, 2);
	ip->ttl--;
	__builtin_memcpy(&new, &ip->ttl, 2);
	ip->check = csum_apply(ip->check, word_diff(old, new));
}

static __always_inline void count_out(void *map, __u32 idx, __u64 bytes)
{
	struct counters *c = bpf_map_lookup_elem(map, &idx);
	if (!c)
		return;
	c->out_packets++;
	c->out_bytes += bytes;
}

/* Sends a translated packet on towards its (new) destination by the kernel's routing table: on success the
 * MACs the lookup found and a redirect to its device; else (no neighbour entry yet, not forwarded...) the
 * stack gets it, translated, and forwards it itself (resolving the neighbour), TTL then decremented there. */
__attribute__((noinline)) int nat_route(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup p = {};
	void *l3 = eth + 1;
	int v6;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		v6 = 0;
		p.family = AF_INET;
		p.tos = ip->tos;
		p.l4_protocol = ip->protocol;
		p.tot_len = bpf_ntohs(ip->tot_len);
		p.ipv4_src = ip->saddr;
		p.ipv4_dst = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		v6 = 1;
		p.family = AF_INET6;
		p.l4_protocol = ip6->nexthdr;
		p.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(p.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(p.ipv6_dst, &ip6->daddr, 16);
	}
	p.ifindex = ctx->ingress_ifindex;
	long rc = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* the way the client's packets came in, else the stack */
		__u32 zero = 0;
		struct nat_hop *h = bpf_map_lookup_elem(&nat_hop, &zero);
		if (!h || !h->ifindex)
			return XDP_PASS;
		p.ifindex = h->ifindex;
		__builtin_memcpy(p.dmac, h->dmac, ETH_ALEN);
		__builtin_memcpy(p.smac, h->smac, ETH_ALEN);
	} else if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		/* no route, forwarding off, fragmentation needed...: the stack's to decide */
		return XDP_PASS;
	}
	/* (the helper leaves the packet as it was: the pointers checked above still hold) */
	ttl_dec(l3, v6);
	__builtin_memcpy(eth->h_dest, p.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p.smac, ETH_ALEN);
	if (p.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(p.ifindex, 0);
}

/* The IP header of the frame at `data` as a family's: its L4 offset within the frame, 0 when unusable; the
 * TTL / hop limit must be above 1 (else the stack answers time-exceeded). */
static __always_inline __u32 l3_of(void *data, void *data_end, int v6)
{
	void *l3 = data + sizeof(struct ethhdr);
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end || ip6->hop_limit <= 1)
			return 0;
		return sizeof(struct ethhdr) + sizeof(*ip6);
	}
	struct iphdr *ip = l3;
	if ((void *)(ip + 1) > data_end || ip->ihl < 5 || ip->ttl <= 1)
		return 0;
	return sizeof(struct ethhdr) + ip->ihl * 4;
}

/* Inbound packet of flow `fk` (client -> VIP:vport) scheduled to NAT server `idx` (sid * MAX_DESTS + didx):
 * the destination becomes the real server's, and (with `keep`, a flow kept) the flow's reverse entry is made
 * if it is missing or another's. */
__attribute__((noinline)) int nat_in(struct xdp_md *ctx, __u32 idx, struct flow_key *fk, __u32 keep)
{
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	if (!fk || !d || d->fwd != FWD_NAT || d->family != fk->family)
		return XDP_PASS;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int v6 = fk->family == 6;
	__u32 off = l3_of(data, data_end, v6);
	if (!off || off > 128)
		return XDP_PASS;
	void *l3 = data + sizeof(*eth);
	void *l4 = data + off;
	__u16 nport = d->port ? d->port : fk->dport;
	__u32 diff;
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		diff = addr_diff((__u8 *)&ip6->daddr, d->addr, 1);
		__builtin_memcpy(&ip6->daddr, d->addr, 16);
	} else {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		diff = addr_diff((__u8 *)&ip->daddr, d->addr, 0);
		ip->check = csum_apply(ip->check, diff);
		__builtin_memcpy(&ip->daddr, d->addr, 4);
	}
	/* the L4 checksum covers the pseudo-header's destination address and the port */
	if (!l4_csum_apply(l4, data_end, fk->proto, v6, diff + word_diff(fk->dport, nport)))
		return XDP_PASS; /* (bounds the parser checked: not reached) */
	if (fk->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		th->dest = nport;
	} else {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		uh->dest = nport;
	}
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		ttl_dec(ip6, 1);
	} else {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		ttl_dec(ip, 0);
	}
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (keep) {
		__u32 sid = idx / MAX_DESTS, didx = idx % MAX_DESTS;
		struct flow_key rk;
		nat_rev_key(&rk, fk, d);
		struct nat_rev *r = bpf_map_lookup_elem(&nat_rev, &rk);
		if (!r || r->sid != sid || r->didx != didx || r->tag != d->tag || r->fwd.dport != fk->dport ||
		    !addr_eq(r->fwd.daddr, fk->daddr) || r->hop_ifindex != ctx->ingress_ifindex) {
			struct nat_rev nr = { .fwd = *fk, .sid = sid, .didx = didx, .tag = d->tag,
					      .hop_ifindex = ctx->ingress_ifindex };
			/* (before the MACs are rewritten below) */
			__builtin_memcpy(nr.hop_mac, eth->h_source, ETH_ALEN);
			__builtin_memcpy(nr.own_mac, eth->h_dest, ETH_ALEN);
			bpf_map_update_elem(&nat_rev, &rk, &nr, BPF_ANY);
		}
	}
	__builtin_memcpy(eth->h_dest, d->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, d->src_mac, ETH_ALEN);
	if (d->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(d->ifindex, 0);
}

/* The live NAT flow of reverse entry `r`, NULL (and the entry removed, under key `rk`) when it is gone or
 * another server's. */
static __always_inline struct flow *nat_flow(struct flow_key *rk, struct nat_rev *r)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &r->fwd);
	if (!f || f->sid != r->sid || f->didx != r->didx || f->tag != r->tag ||
	    !slot_holds(r->sid, r->didx, r->tag)) {
		bpf_map_delete_elem(&nat_rev, rk);
		return 0;
	}
	return f;
}

/* A packet to no service: a reply of a NAT flow (real server:rport -> client:cport, key `rk`) is translated
 * back to VIP:vport and routed to the client; anything else goes to the stack. A FIN or RST from the server
 * moves the flow to closing, as IPVS (which sees both directions in NAT) does; any reply keeps it alive. */
__attribute__((noinline)) int nat_out(struct xdp_md *ctx, struct flow_key *rk, __u32 fin_rst, __u32 bytes)
{
	if (!rk)
		return XDP_PASS;
	struct nat_rev *rp = bpf_map_lookup_elem(&nat_rev, rk);
	if (!rp)
		return XDP_PASS;
	struct nat_rev *r = rp;
	__u32 sid = r->sid, didx = r->didx;
	__u16 vport = r->fwd.dport;
	if (sid >= MAX_SERVICES || didx >= MAX_DESTS)
		return XDP_PASS;
	struct flow *f = nat_flow(rk, r);
	if (!f)
		return XDP_PASS;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int v6 = rk->family == 6;
	__u32 off = l3_of(data, data_end, v6);
	if (!off || off > 128)
		return XDP_PASS;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u64 now = bpf_ktime_get_ns();
	if (cfg) {
		__u64 timeout = f->state == FLOW_OPEN ? cfg->tcp_ns
				: f->state == FLOW_CLOSING ? cfg->tcpfin_ns : cfg->udp_ns;
		/* expired: the client's next packet or the sweeper ends it */
		if (timeout && now > f->last && now - f->last > timeout)
			return XDP_PASS;
	}
	__u32 idx = sid * MAX_DESTS + didx;
	f->last = now;
	if (fin_rst && f->state == FLOW_OPEN) {
		f->state = FLOW_CLOSING;
		conns_add(idx, -1, 1);
	}
	void *l3 = data + sizeof(struct ethhdr);
	void *l4 = data + off;
	__u32 diff;
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		diff = addr_diff((__u8 *)&ip6->saddr, r->fwd.daddr, 1);
		__builtin_memcpy(&ip6->saddr, r->fwd.daddr, 16);
	} else {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		diff = addr_diff((__u8 *)&ip->saddr, r->fwd.daddr, 0);
		ip->check = csum_apply(ip->check, diff);
		__builtin_memcpy(&ip->saddr, r->fwd.daddr, 4);
	}
	if (!l4_csum_apply(l4, data_end, rk->proto, v6, diff + word_diff(rk->sport, vport)))
		return XDP_PASS;
	if (rk->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		th->source = vport;
	} else {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		uh->source = vport;
	}
	count_out(&svc_stats, sid, bytes);
	count_out(&dest_stats, idx, bytes);
	nat_hop_set(r);
	return NAT_ROUTE;
}

/* ICMP errors about a NAT flow (ICMPv4 types 3, 4, 11, 12; ICMPv6 1-4), the embedded packet's IP header
 * without options and the first 4 bytes of its TCP or UDP header (the ports) at hand:
 * - to the VIP about a reply (VIP:vport -> client:cport inside): sent on to the real server, the outer
 *   destination and the embedded source (address and port) the real server's;
 * - from the real servers' side about a client's packet (client -> RS:rport inside): sent on to the client,
 *   the outer source and the embedded destination VIP:vport again.
 * The embedded transport checksum is left as it is, as IPVS leaves it (it covers the whole original
 * segment, which an error rarely holds); the embedded IPv4 header's, the ICMP one and the outer IPv4 header's
 * are updated. `off`: the ICMP header's offset in the frame. */
static __always_inline int nat_icmp_fam(struct xdp_md *ctx, __u32 off, __u32 l4proto, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (off > 128 || l4proto != (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
		return XDP_PASS;
	if (l3_of(data, data_end, v6) != off)
		return XDP_PASS; /* (also: TTL 1, for the stack) */
	__u8 *icmp = data + off;
	if ((void *)(icmp + 8) > data_end)
		return XDP_PASS;
	__u8 type = icmp[0];
	if (v6 ? (type < 1 || type > 4) : (type != 3 && type != 4 && type != 11 && type != 12))
		return XDP_PASS;
	void *in = icmp + 8;
	struct flow_key k = {};
	__u8 *in_saddr, *in_daddr;
	__u16 *ports;
	if (v6) {
		struct ipv6hdr *i6 = in;
		if ((void *)(i6 + 1) > data_end || i6->version != 6)
			return XDP_PASS;
		k.proto = i6->nexthdr;
		in_saddr = (__u8 *)&i6->saddr;
		in_daddr = (__u8 *)&i6->daddr;
		ports = (void *)(i6 + 1);
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		__builtin_memcpy(k.saddr, in_daddr, 16);
		__builtin_memcpy(k.daddr, in_saddr, 16);
	} else {
		struct iphdr *i4 = in;
		if ((void *)(i4 + 1) > data_end || i4->version != 4 || i4->ihl != 5 ||
		    (i4->frag_off & bpf_htons(0x1fff)))
			return XDP_PASS;
		k.proto = i4->protocol;
		in_saddr = (__u8 *)&i4->saddr;
		in_daddr = (__u8 *)&i4->daddr;
		ports = (void *)(i4 + 1);
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		__builtin_memcpy(k.saddr, in_daddr, 4);
		__builtin_memcpy(k.daddr, in_saddr, 4);
	}
	if (k.proto != IPPROTO_TCP && k.proto != IPPROTO_UDP)
		return XDP_PASS;
	/* the embedded packet's key turned around: the forward flow's key (a reply inside) or the reverse
	 * entry's (a client's packet inside) */
	k.sport = ports[1];
	k.dport = ports[0];
	k.family = v6 ? 6 : 4;

	__u8 new_addr[16] = {};
	__u16 new_port;
	int to_server;
	struct nat_rev *rp = NULL; /* the reverse entry of an error going to the client */
	__u32 sid, didx;
	struct flow *f = bpf_map_lookup_elem(&flows, &k);
	if (f && f->sid < MAX_SERVICES && f->didx < MAX_DESTS) {
		sid = f->sid;
		didx = f->didx;
		__u32 idx = sid * MAX_DESTS + didx;
		struct dest *d = bpf_map_lookup_elem(&dests, &idx);
		if (!d || d->fwd != FWD_NAT || d->tag != f->tag || d->family != k.family)
			return XDP_PASS;
		to_server = 1;
		__builtin_memcpy(new_addr, d->addr, 16);
		new_port = d->port ? d->port : k.dport;
	} else {
		rp = bpf_map_lookup_elem(&nat_rev, &k);
		if (!rp)
			return XDP_PASS;
		sid = rp->sid;
		didx = rp->didx;
		to_server = 0;
		__builtin_memcpy(new_addr, rp->fwd.daddr, 16);
		new_port = rp->fwd.dport;
		if (sid >= MAX_SERVICES || didx >= MAX_DESTS || !nat_flow(&k, rp))
			return XDP_PASS;
	}

	/* the embedded header: to the server its source (the VIP:vport a reply left from) becomes the real
	 * server's, to the client its destination (the real server) the VIP:vport */
	__u8 *in_addr = to_server ? in_saddr : in_daddr;
	__u16 *in_port = to_server ? &ports[0] : &ports[1];
	__u32 in_diff = addr_diff(in_addr, new_addr, v6);
	/* the ICMP checksum covers the embedded bytes that change (and, ICMPv6, the outer addresses) */
	__u32 icmp_diff = in_diff + word_diff(*in_port, new_port);
	*in_port = new_port;
	if (v6) {
		__builtin_memcpy(in_addr, new_addr, 16);
	} else {
		struct iphdr *i4 = in;
		if ((void *)(i4 + 1) > data_end)
			return XDP_PASS;
		__u16 oc = i4->check;
		i4->check = csum_apply(oc, in_diff);
		icmp_diff += word_diff(oc, i4->check);
		__builtin_memcpy(in_addr, new_addr, 4);
	}
	/* the outer header: its destination (to the server) or its source (to the client) */
	void *l3 = data + sizeof(struct ethhdr);
	__u32 bytes;
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		__u8 *a = to_server ? (__u8 *)&ip6->daddr : (__u8 *)&ip6->saddr;
		icmp_diff += addr_diff(a, new_addr, 1);
		__builtin_memcpy(a, new_addr, 16);
		bytes = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	} else {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		__u8 *a = to_server ? (__u8 *)&ip->daddr : (__u8 *)&ip->saddr;
		ip->check = csum_apply(ip->check, addr_diff(a, new_addr, 0));
		__builtin_memcpy(a, new_addr, 4);
		bytes = bpf_ntohs(ip->tot_len);
	}
	__u16 ic;
	__builtin_memcpy(&ic, icmp + 2, 2);
	ic = csum_apply(ic, icmp_diff);
	__builtin_memcpy(icmp + 2, &ic, 2);

	__u32 idx = sid * MAX_DESTS + didx;
	if (!to_server) {
		count_out(&svc_stats, sid, bytes);
		count_out(&dest_stats, idx, bytes);
		nat_hop_set(rp);
		return NAT_ROUTE;
	}
	count(&svc_stats, sid, bytes, 0);
	count(&dest_stats, idx, bytes, 0);
	struct ethhdr *eth = data;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	if ((void *)(eth + 1) > data_end || !d)
		return XDP_PASS;
	ttl_dec(l3, v6);
	__builtin_memcpy(eth->h_dest, d->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, d->src_mac, ETH_ALEN);
	if (d->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(d->ifindex, 0);
}

/* What fulcrum_xdp returns for a NAT function's answer `v`. */
static __always_inline int nat_done(struct xdp_md *ctx, int v)
{
	return v == NAT_ROUTE ? nat_route(ctx) : v;
}

/* One function per family: the verifier then knows which header each address pointer is in. */
__attribute__((noinline)) int nat_icmp4(struct xdp_md *ctx, __u32 off, __u32 l4proto)
{
	return nat_icmp_fam(ctx, off, l4proto, 0);
}

__attribute__((noinline)) int nat_icmp6(struct xdp_md *ctx, __u32 off, __u32 l4proto)
{
	return nat_icmp_fam(ctx, off, l4proto, 1);
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

SEC("xdp")
int fulcrum_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct flow_key fk = {};
	__u64 off = sizeof(*eth);
	__u64 l3len; /* counted bytes: the IP packet's own length, not the frame's (padding) */
	__u8 l4proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__u32 in_dev = ctx->ingress_ifindex;
	struct dev_mac *own = in_dev < DEV_SLOTS ? bpf_map_lookup_elem(&dev_mac_tab, &in_dev)
						 : bpf_map_lookup_elem(&dev_macs, &in_dev);
	if (own && own->set && !mac_eq(eth->h_dest, own->mac))
		return XDP_PASS;
	/* (an array's only entry: always there) */
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_PASS;
	int nat = cfg->flags & CFG_NAT;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset: a fragment */
			return XDP_PASS;
		l4proto = ip->protocol;
		l3len = bpf_ntohs(ip->tot_len);
		__builtin_memcpy(fk.saddr, &ip->saddr, 4);
		__builtin_memcpy(fk.daddr, &ip->daddr, 4);
		fk.family = 4;
		off += ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (ip6->version != 6)
			return XDP_PASS;
		/* extension headers (fragments among them) and ICMPv6 go to the stack */
		l4proto = ip6->nexthdr;
		l3len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(fk.saddr, &ip6->saddr, 16);
		__builtin_memcpy(fk.daddr, &ip6->daddr, 16);
		fk.family = 6;
		off += sizeof(*ip6);
	} else {
		return XDP_PASS;
	}
	if (off > 128)
		return XDP_PASS;

	int syn = 0, fin_rst = 0;
	if (l4proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		fk.sport = th->source;
		fk.dport = th->dest;
		syn = th->syn && !th->ack;
		fin_rst = th->fin || th->rst;
	} else if (l4proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;
		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		fk.sport = uh->source;
		fk.dport = uh->dest;
	} else {
		/* ICMP: an error about a NAT flow is translated, anything else is the stack's */
		if (!nat)
			return XDP_PASS;
		return nat_done(ctx, fk.family == 6 ? nat_icmp6(ctx, off, l4proto) : nat_icmp4(ctx, off, l4proto));
	}
	fk.proto = l4proto;

	struct svc_key sk = {};
	__builtin_memcpy(sk.addr, fk.daddr, 16);
	sk.port = fk.dport;
	sk.proto = l4proto;
	sk.family = fk.family;
	struct svc_info *svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc || svc->id >= MAX_SERVICES) {
		/* no service: a NAT flow's reply, or the stack's (without NAT servers, the stack's at once) */
		if (!nat)
			return XDP_PASS;
		return nat_done(ctx, nat_out(ctx, &fk, fin_rst, l3len));
	}
	__u32 sid = svc->id;
	__u64 now = 0; /* the clock, read once: where a flow is looked at, else where one is made */
	__u64 bytes = l3len;
	__u32 didx = NO_DEST;
	struct dest *d = NULL; /* the real server the packet goes to: one `dests` lookup per packet */
	int new_conn = 0;
	/* one-packet scheduling: IPVS makes a connection for the datagram and ends it at once, so no flow
	 * is looked up or kept and the real server's counts do not change */
	int one_packet = (svc->flags & FLAG_ONE_PACKET) && l4proto == IPPROTO_UDP;

	struct flow *f = one_packet ? NULL : bpf_map_lookup_elem(&flows, &fk);
	if (f && f->sid == sid && f->didx < MAX_DESTS) {
		__u64 timeout = f->state == FLOW_OPEN ? cfg->tcp_ns
				: f->state == FLOW_CLOSING ? cfg->tcpfin_ns : cfg->udp_ns;
		__u32 idx = sid * MAX_DESTS + f->didx;
		d = bpf_map_lookup_elem(&dests, &idx);
		now = bpf_ktime_get_ns();
		/* (another CPU may have moved `last` past this packet's clock: not idle) */
		if (timeout && now > f->last && now - f->last > timeout) {
			/* expired: its count goes, the packet is a new flow */
			flow_release(&flows, &fk, f, now);
			d = NULL;
		} else if (d && d->fwd != FWD_NONE && d->tag == f->tag) {
			didx = f->didx;
			f->last = now;
			if (fin_rst && f->state == FLOW_OPEN) {
				f->state = FLOW_CLOSING;
				conns_add(idx, -1, 1);
			} else if (syn && !fin_rst && f->state == FLOW_CLOSING) {
				/* the client reuses the port of a closed connection: a new one, same server */
				f->state = FLOW_OPEN;
				conns_add(idx, 1, -1);
				new_conn = 1;
			}
		} else {
			/* its real server left the service (or another one took its slot): schedule again */
			__u32 pm = f->persist, tag = f->tag;
			if (bpf_map_delete_elem(&flows, &fk) == 0)
				persist_release(&fk, sid, pm, tag);
			d = NULL;
		}
	}
	if (didx == NO_DEST) {
		int hashing = svc->sched == SCHED_SH || svc->sched == SCHED_DH || svc->sched == SCHED_MH;
		/* an unknown TCP flow starts only on a SYN (the hashing schedulers take any packet, so that a
		 * flow moved here by ECMP from another director keeps its real server) */
		if (l4proto == IPPROTO_TCP && !syn && !hashing)
			return XDP_PASS;
		/* the first packet of every flow comes here: the sweeper runs from the first flow on */
		sweep_start();
		if (!now)
			now = bpf_ktime_get_ns();
		/* a persistent service sends a client's new flows to the real server of its entry */
		__u32 pm = 0;
		if (svc->persist_s) {
			didx = (__u32)persist_pick(&fk, sid, now);
			pm = svc->prefix + 1;
		}
		if (didx == NO_DEST)
			didx = schedule(svc, &fk, now);
		/* no real server below its threshold: dropped, as IPVS drops a new connection it has no
		 * real server for (the client retries) */
		if (didx == BUSY_DEST || (didx >= MAX_DESTS && svc->thresholds))
			return XDP_DROP;
		if (didx >= MAX_DESTS)
			return XDP_PASS;
		__u32 nidx = sid * MAX_DESTS + didx;
		d = bpf_map_lookup_elem(&dests, &nidx);
		if (!d)
			return XDP_PASS;
		__u32 ntag = d->tag;
		if (pm && !persist_hold(&fk, sid, didx, svc->persist_s, now))
			pm = 0;
		if (one_packet) {
			/* the datagram's connection ends with it: a persistence entry starts its timeout now */
			persist_release(&fk, sid, pm, ntag);
			new_conn = 1;
			goto forward;
		}
		struct flow nf = {};
		nf.persist = pm;
		nf.last = now;
		nf.sid = sid;
		nf.didx = didx;
		nf.tag = ntag;
		nf.state = l4proto == IPPROTO_UDP ? FLOW_UDP : (fin_rst ? FLOW_CLOSING : FLOW_OPEN);
		bpf_map_update_elem(&flows, &fk, &nf, BPF_ANY);
		if (nf.state == FLOW_OPEN)
			conns_add(nidx, 1, 0);
		else
			conns_add(nidx, 0, 1);
		/* a TCP flow picked up without its SYN (a hashing scheduler's: another director started it, or
		 * it outlived its entry here) is held but was counted where it started, so the directors'
		 * connection counts add up to the clients' connections */
		new_conn = l4proto != IPPROTO_TCP || syn;
	}

forward:;
	__u32 idx = sid * MAX_DESTS + didx;
	if (!d)
		return XDP_PASS;
	count(&svc_stats, sid, bytes, new_conn);
	count(&dest_stats, idx, bytes, new_conn);

	if (d->fwd == FWD_NAT)
		return nat_in(ctx, idx, &fk, !one_packet);
	if (d->fwd == FWD_TUN) {
		if (fk.family != 4 || d->family != 4)
			return XDP_PASS;
		return encap_tunnel(ctx, d, ((__u32)fk.sport << 16) | fk.dport);
	}
	if (d->fwd != FWD_DR)
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, d->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, d->src_mac, ETH_ALEN);
	if (d->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(d->ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
