//! A bounded packet generator for `bench/xdp-vs-nft.sh`: UDP frames sent out of a veth device as XDP frames,
//! the way a NIC driver hands them over, by running a tiny XDP program in the kernel's "live frames" test mode
//! (`BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, as xdp-trafficgen does; xdp-tools 1.3's own tool
//! does not load on this kernel). The peer device receives them in its NAPI poll without any socket buffer,
//! so what runs on the peer is what would run behind a NIC with native XDP.
//!
//! ```text
//! xdp-flood DEV DST_MAC SRC_IP6 DST_IP6 DST_PORT COUNT same|new
//! xdp-flood drop DEV SECONDS
//! ```
//! `same`: every frame is one flow (the established-flow path); `new`: the low 32 bits of the source address
//! count up, so every frame is a new flow. Run it inside the namespace of DEV and pin it with taskset: the
//! frames are made on the calling CPU. Prints `sent=N seconds=S pps=P`.

use std::ffi::CString;
use std::net::Ipv6Addr;
use std::time::Instant;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
const XDP_TX: i32 = 3;
/// Offset of the last four bytes of the IPv6 source address in the frame.
const SRC_LOW: i16 = 14 + 8 + 12;
/// Offset of the UDP payload.
const PAYLOAD: i16 = 14 + 40 + 8;
const FRAME_LEN: usize = 80;
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

fn usage() -> ! {
    eprintln!(
        "usage: xdp-flood DEV DST_MAC SRC_IP6 DST_IP6 DST_PORT COUNT same|new | drop DEV SECONDS"
    );
    std::process::exit(2)
}

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a zero-filled bpf_attr block of the size passed, valid for the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn put<const N: usize>(attr: &mut [u8], at: usize, v: [u8; N]) {
    attr[at..at + N].copy_from_slice(&v);
}

/// One eBPF instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut i = [0u8; 8];
    i[0] = code;
    i[1] = dst | (src << 4);
    i[2..4].copy_from_slice(&off.to_le_bytes());
    i[4..8].copy_from_slice(&imm.to_le_bytes());
    i
}

/// The whole frame is written again before every send: the page a frame lives in is used again for later frames,
/// and the director has rewritten it by then (MACs and hop limit; for NAT the destination address, port and
/// checksum). `same`: that, then `return XDP_TX`. `new`: first a counter in array map `map` goes up by one per
/// frame and is written over the low 32 bits of the source address, its complement over the first four payload
/// bytes (which keeps the UDP checksum right: the two add up to the same one's-complement sum as before).
fn program(map: Option<i32>, frame: &[u8]) -> Vec<[u8; 8]> {
    let w = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut p = Vec::new();
    if let Some(fd) = map {
        p.extend([
            insn(0xbf, 6, 1, 0, 0),   // r6 = ctx
            insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
            insn(0x18, 1, 1, 0, fd),  // r1 = map (pseudo map fd)
            insn(0, 0, 0, 0, 0),      //
            insn(0xbf, 2, 10, 0, 0),  // r2 = r10
            insn(0x07, 2, 0, 0, -4),  // r2 -= 4
            insn(0x85, 0, 0, 0, 1),   // r0 = bpf_map_lookup_elem(r1, r2)
            insn(0xb7, 7, 0, 0, 0),   // r7 = 0
            insn(0x15, 0, 0, 3, 0),   // if r0 == 0 goto +3
            insn(0x79, 7, 0, 0, 0),   // r7 = *(u64 *)(r0 + 0)
            insn(0x07, 7, 0, 0, 1),   // r7 += 1
            insn(0x7b, 0, 7, 0, 0),   // *(u64 *)(r0 + 0) = r7
            insn(0xbf, 1, 6, 0, 0),   // r1 = ctx
        ]);
    }
    // *(u32 *)(r2 + i) = the frame's bytes i..i + 4
    let mut body: Vec<[u8; 8]> = frame
        .chunks(4)
        .enumerate()
        .map(|(i, c)| insn(0x62, 2, 0, (i * 4) as i16, w(c)))
        .collect();
    if map.is_some() {
        body.extend([
            insn(0xbf, 8, 7, 0, 0),       // r8 = r7
            insn(0xa7, 8, 0, 0, -1),      // r8 ^= ~0
            insn(0x63, 2, 7, SRC_LOW, 0), // *(u32 *)(r2 + SRC_LOW) = r7
            insn(0x63, 2, 8, PAYLOAD, 0), // *(u32 *)(r2 + PAYLOAD) = r8
        ]);
    }
    p.extend([
        insn(0x61, 2, 1, 0, 0),                 // r2 = ctx->data
        insn(0x61, 3, 1, 4, 0),                 // r3 = ctx->data_end
        insn(0xbf, 4, 2, 0, 0),                 // r4 = r2
        insn(0x07, 4, 0, 0, FRAME_LEN as i32),  // r4 += FRAME_LEN
        insn(0x2d, 4, 3, body.len() as i16, 0), // if r4 > r3 goto tx
    ]);
    p.extend(body);
    p.extend([
        insn(0xb7, 0, 0, 0, XDP_TX), // tx: r0 = XDP_TX
        insn(0x95, 0, 0, 0, 0),      // exit
    ]);
    p
}

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| usage()))
        .collect();
    v.try_into().unwrap_or_else(|_| usage())
}

/// Ethernet, IPv6 and UDP headers and an 18-byte payload (an 80-byte frame) with its UDP checksum; the
/// payload starts with the complement of the source address's last four bytes (see [`program`]).
fn frame(dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAME_LEN);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&26u16.to_be_bytes()); // payload length: UDP header + 18
    f.extend_from_slice(&[17, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&26u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(src.octets()[12..].iter().map(|b| !b));
    f.extend_from_slice(&[0x66; 14]);
    // RFC 8200 section 8.1: the pseudo-header (addresses, upper-layer length, next header) and the datagram.
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&26u32.to_be_bytes());
    add(&[0, 17]);
    add(&f[54..]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = match !(sum as u16) {
        0 => 0xffff,
        c => c,
    };
    f[60..62].copy_from_slice(&c.to_be_bytes());
    f
}

/// `xdp-flood drop DEV SECONDS`: an `XDP_DROP` program attached to DEV in native mode for SECONDS (the link
/// goes with this process), so that a sink takes frames at the least cost to itself.
fn drop_on(dev: &str, secs: &str) -> ! {
    const BPF_LINK_CREATE: libc::c_long = 28;
    const BPF_XDP: u32 = 37;
    const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
    const XDP_DROP: i32 = 1;
    let name = CString::new(dev).unwrap_or_else(|_| usage());
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    let secs: u64 = secs.parse().unwrap_or_else(|_| usage());
    if ifindex == 0 {
        eprintln!("xdp-flood: no device {dev}");
        std::process::exit(1)
    }
    let insns: Vec<u8> = [insn(0xb7, 0, 0, 0, XDP_DROP), insn(0x95, 0, 0, 0, 0)].concat();
    let license = CString::new("GPL").expect("no NUL");
    let mut attr = [0u8; 128];
    put(&mut attr, 0, BPF_PROG_TYPE_XDP.to_le_bytes());
    put(&mut attr, 4, 2u32.to_le_bytes());
    put(&mut attr, 8, (insns.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 16, (license.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 68, BPF_XDP.to_le_bytes()); // expected_attach_type
    let prog = bpf(BPF_PROG_LOAD, &mut attr).unwrap_or_else(|e| {
        eprintln!("xdp-flood: load: {e}");
        std::process::exit(1)
    });
    // link_create: prog_fd, target_ifindex, attach_type, flags
    let mut attr = [0u8; 64];
    put(&mut attr, 0, (prog as u32).to_le_bytes());
    put(&mut attr, 4, ifindex.to_le_bytes());
    put(&mut attr, 8, BPF_XDP.to_le_bytes());
    put(&mut attr, 12, XDP_FLAGS_DRV_MODE.to_le_bytes());
    if let Err(e) = bpf(BPF_LINK_CREATE, &mut attr) {
        eprintln!("xdp-flood: attach to {dev}: {e}");
        std::process::exit(1)
    }
    std::thread::sleep(std::time::Duration::from_secs(secs));
    std::process::exit(0)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() == 3 && a[0] == "drop" {
        drop_on(&a[1], &a[2]);
    }
    if a.len() != 7 {
        usage()
    }
    let dev = CString::new(a[0].clone()).unwrap_or_else(|_| usage());
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(dev.as_ptr()) };
    if ifindex == 0 {
        eprintln!("xdp-flood: no device {}", a[0]);
        std::process::exit(1)
    }
    let src: Ipv6Addr = a[2].parse().unwrap_or_else(|_| usage());
    let dst: Ipv6Addr = a[3].parse().unwrap_or_else(|_| usage());
    let dport: u16 = a[4].parse().unwrap_or_else(|_| usage());
    let count: u32 = a[5].parse().unwrap_or_else(|_| usage());
    let map = match a[6].as_str() {
        "same" => None,
        "new" => {
            let mut attr = [0u8; 128];
            put(&mut attr, 0, BPF_MAP_TYPE_ARRAY.to_le_bytes());
            put(&mut attr, 4, 4u32.to_le_bytes());
            put(&mut attr, 8, 8u32.to_le_bytes());
            put(&mut attr, 12, 1u32.to_le_bytes());
            match bpf(BPF_MAP_CREATE, &mut attr) {
                Ok(fd) => Some(fd as i32),
                Err(e) => {
                    eprintln!("xdp-flood: map: {e}");
                    std::process::exit(1)
                }
            }
        }
        _ => usage(),
    };
    let data = frame(mac(&a[1]), src, dst, dport);
    let insns: Vec<u8> = program(map, &data).concat();
    let license = CString::new("GPL").expect("no NUL");
    let mut log = vec![0u8; 65536];
    let mut attr = [0u8; 128];
    put(&mut attr, 0, BPF_PROG_TYPE_XDP.to_le_bytes());
    put(&mut attr, 4, ((insns.len() / 8) as u32).to_le_bytes());
    put(&mut attr, 8, (insns.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 16, (license.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 24, 1u32.to_le_bytes());
    put(&mut attr, 28, (log.len() as u32).to_le_bytes());
    put(&mut attr, 32, (log.as_mut_ptr() as u64).to_le_bytes());
    let prog = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd as u32,
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            eprintln!(
                "xdp-flood: load: {e}\n{}",
                String::from_utf8_lossy(&log[..end])
            );
            std::process::exit(1)
        }
    };
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let mut ctx = [0u8; 24];
    put(&mut ctx, 4, (data.len() as u32).to_le_bytes());
    put(&mut ctx, 12, ifindex.to_le_bytes());
    let mut attr = [0u8; 80];
    put(&mut attr, 0, prog.to_le_bytes());
    put(&mut attr, 8, (data.len() as u32).to_le_bytes());
    put(&mut attr, 16, (data.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 32, count.to_le_bytes());
    put(&mut attr, 40, (ctx.len() as u32).to_le_bytes());
    put(&mut attr, 48, (ctx.as_ptr() as u64).to_le_bytes());
    put(&mut attr, 64, BPF_F_TEST_XDP_LIVE_FRAMES.to_le_bytes());
    put(&mut attr, 72, 64u32.to_le_bytes());
    let t = Instant::now();
    if let Err(e) = bpf(BPF_PROG_TEST_RUN, &mut attr) {
        eprintln!("xdp-flood: run: {e}");
        std::process::exit(1)
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sent={count} seconds={secs:.3} pps={:.0}",
        count as f64 / secs
    );
}
