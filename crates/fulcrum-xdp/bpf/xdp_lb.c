// SPDX-License-Identifier: GPL-2.0
// fulcrum's XDP data plane for the L4 virtual server: direct routing (destination MAC rewrite) and IP-in-IP
// tunnelling, per-connection scheduling from a flow table and per-real-server connection counts.
//
// The map layouts are shared with crates/fulcrum-xdp/src/layout.rs (#[repr(C)] structs); keep both in step.
// Anything this program does not handle (non-IP, fragments, ICMP, IP options it cannot skip, IPv6 extension
// headers, unknown services, malformed headers) goes to the stack untouched with XDP_PASS.

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

#define FWD_NONE 0
#define FWD_DR 1
#define FWD_TUN 2

#define FLOW_OPEN 1
#define FLOW_CLOSING 2
#define FLOW_UDP 3

#define NO_DEST 0xffffffffu
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
	__u16 pad;
};

struct conns {
	__s64 active;
	__s64 inactive;
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
	__u32 pad;
};

struct counters {
	__u64 conns;
	__u64 packets;
	__u64 bytes;
};

struct config {
	__u64 tcp_ns;    /* idle timeout of an open TCP flow */
	__u64 tcpfin_ns; /* of a closing one (after FIN or RST) */
	__u64 udp_ns;    /* of a UDP flow */
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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

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

/* The flow sweeper: a BPF timer, started by the first packet, that every SWEEP_NS walks the flow table
 * and removes the flows idle past their timeout, taking back their connection counts (as IPVS expires
 * its connections), so that counts fall for clients that vanish without a FIN. */
#define SWEEP_NS 1000000000ull
#define CLOCK_MONOTONIC_ID 1

struct sweeper {
	struct bpf_timer timer;
	__u64 started;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sweeper);
} sweep SEC(".maps");

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

static __always_inline void conns_add(__u32 idx, __s64 active, __s64 inactive)
{
	struct conns *c = bpf_map_lookup_elem(&dest_conns, &idx);
	if (!c)
		return;
	if (active)
		__sync_fetch_and_add(&c->active, active);
	if (inactive)
		__sync_fetch_and_add(&c->inactive, inactive);
}

struct sweep_ctx {
	__u64 now;
	__u64 tcp_ns;
	__u64 tcpfin_ns;
	__u64 udp_ns;
};

/* Takes back a flow's count when its entry is removed by this call (only one remover counts it). */
static __always_inline void flow_release(void *map, const struct flow_key *k, const struct flow *f)
{
	__u32 sid = f->sid, didx = f->didx, state = f->state;
	if (bpf_map_delete_elem(map, k) != 0 || sid >= MAX_SERVICES || didx >= MAX_DESTS)
		return;
	if (state == FLOW_OPEN)
		conns_add(sid * MAX_DESTS + didx, -1, 0);
	else
		conns_add(sid * MAX_DESTS + didx, 0, -1);
}

static long sweep_flow(void *map, struct flow_key *k, struct flow *f, void *arg)
{
	struct sweep_ctx *c = arg;
	__u64 timeout = f->state == FLOW_OPEN ? c->tcp_ns : f->state == FLOW_CLOSING ? c->tcpfin_ns : c->udp_ns;
	if (timeout && c->now - f->last > timeout)
		flow_release(map, k, f);
	return 0;
}

static int sweep_run(void *map, __u32 *key, struct sweeper *s)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg) {
		struct sweep_ctx c = {
			.now = bpf_ktime_get_ns(),
			.tcp_ns = cfg->tcp_ns,
			.tcpfin_ns = cfg->tcpfin_ns,
			.udp_ns = cfg->udp_ns,
		};
		bpf_for_each_map_elem(&flows, sweep_flow, &c, 0);
	}
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
	if (!d || !c || d->fwd == FWD_NONE || d->weight == 0)
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

/* Picks by connection counts (lc, wlc, sed, nq, fo, ovf), IPVS's rules; NO_DEST when none is available. */
static __always_inline __u32 pick_by_counts(const struct svc_info *svc)
{
	struct count_pick p = {
		.base = svc->id * MAX_DESTS,
		.sched = svc->sched,
		.best = NO_DEST,
	};
	__u32 n = svc->ndests;
	if (n > MAX_DESTS)
		n = MAX_DESTS;
	bpf_loop(n, count_pick_step, &p, 0);
	return p.best;
}

/* Picks a real server for a new flow; NO_DEST when none is available. */
static __always_inline __u32 schedule(const struct svc_info *svc, const struct flow_key *fk)
{
	__u32 slot;
	switch (svc->sched) {
	case SCHED_RR:
	case SCHED_WRR: {
		__u32 sid = svc->id;
		__u32 *pos = bpf_map_lookup_elem(&rr_pos, &sid);
		if (!pos || svc->tab_len == 0)
			return NO_DEST;
		slot = __sync_fetch_and_add(pos, 1) % svc->tab_len;
		break;
	}
	case SCHED_SH:
	case SCHED_MH:
		slot = scale(jhash_addr(fk->saddr, fk->family == 6), svc->tab_len);
		break;
	case SCHED_DH:
		slot = scale(jhash_addr(fk->daddr, fk->family == 6), svc->tab_len);
		break;
	default:
		return pick_by_counts(svc);
	}
	if (slot >= TAB_SIZE)
		return NO_DEST;
	__u32 key = svc->id * TAB_SIZE + slot;
	__u32 *d = bpf_map_lookup_elem(&sched_tab, &key);
	if (!d || *d >= MAX_DESTS)
		return NO_DEST;
	return *d;
}

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Wraps the IPv4 packet at `data + sizeof(ethhdr)` in an outer IPv4 header (IP-in-IP) towards `d`. */
static __always_inline int encap_ipip(struct xdp_md *ctx, const struct dest *d)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *inner = data + sizeof(struct ethhdr);
	if ((void *)(inner + 1) > data_end)
		return XDP_PASS;
	__u16 inner_len = bpf_ntohs(inner->tot_len);
	__u8 tos = inner->tos;
	if (inner_len > 0xffff - sizeof(struct iphdr))
		return XDP_PASS;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
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
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF */
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	__builtin_memcpy(&outer->saddr, d->tun_src, 4);
	__builtin_memcpy(&outer->daddr, d->addr, 4);
	__u32 sum = 0;
	__u16 *w = (__u16 *)outer;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	outer->check = csum_fold(sum);
	if (d->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(d->ifindex, 0);
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
		return XDP_PASS;
	}
	fk.proto = l4proto;

	struct svc_key sk = {};
	__builtin_memcpy(sk.addr, fk.daddr, 16);
	sk.port = fk.dport;
	sk.proto = l4proto;
	sk.family = fk.family;
	struct svc_info *svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc || svc->id >= MAX_SERVICES)
		return XDP_PASS;
	__u32 sid = svc->id;
	__u32 zero = 0;
	sweep_start();
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u64 now = bpf_ktime_get_ns();
	__u64 bytes = l3len;
	__u32 didx = NO_DEST;
	int new_conn = 0;

	struct flow *f = bpf_map_lookup_elem(&flows, &fk);
	if (f && f->sid == sid && f->didx < MAX_DESTS) {
		__u64 timeout = 0;
		if (cfg)
			timeout = f->state == FLOW_OPEN ? cfg->tcp_ns
				  : f->state == FLOW_CLOSING ? cfg->tcpfin_ns : cfg->udp_ns;
		__u32 idx = sid * MAX_DESTS + f->didx;
		struct dest *d = bpf_map_lookup_elem(&dests, &idx);
		if (timeout && now - f->last > timeout) {
			/* expired: its count goes, the packet is a new flow */
			flow_release(&flows, &fk, f);
		} else if (d && d->fwd != FWD_NONE) {
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
			/* its real server left the service: schedule again */
			bpf_map_delete_elem(&flows, &fk);
		}
	}
	if (didx == NO_DEST) {
		int hashing = svc->sched == SCHED_SH || svc->sched == SCHED_DH || svc->sched == SCHED_MH;
		/* an unknown TCP flow starts only on a SYN (the hashing schedulers take any packet, so that a
		 * flow moved here by ECMP from another director keeps its real server) */
		if (l4proto == IPPROTO_TCP && !syn && !hashing)
			return XDP_PASS;
		didx = schedule(svc, &fk);
		if (didx >= MAX_DESTS)
			return XDP_PASS;
		struct flow nf = {};
		nf.last = now;
		nf.sid = sid;
		nf.didx = didx;
		nf.state = l4proto == IPPROTO_UDP ? FLOW_UDP : (fin_rst ? FLOW_CLOSING : FLOW_OPEN);
		bpf_map_update_elem(&flows, &fk, &nf, BPF_ANY);
		if (nf.state == FLOW_OPEN)
			conns_add(sid * MAX_DESTS + didx, 1, 0);
		else
			conns_add(sid * MAX_DESTS + didx, 0, 1);
		new_conn = 1;
	}

	__u32 idx = sid * MAX_DESTS + didx;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	if (!d)
		return XDP_PASS;
	count(&svc_stats, sid, bytes, new_conn);
	count(&dest_stats, idx, bytes, new_conn);

	if (d->fwd == FWD_TUN) {
		if (fk.family != 4 || d->family != 4)
			return XDP_PASS;
		return encap_ipip(ctx, d);
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
