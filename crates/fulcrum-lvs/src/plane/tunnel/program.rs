//! The encapsulation program, assembled here (pure: no kernel needed to build it).
//!
//! One small eBPF program of type `sched_cls` runs at the egress hook of every device a tunnel real server is
//! reached through. The direct-routing chain of a tunnel real server marks the packet with that server's
//! tunnel mark ([`super::tun_mark`]) and forwards it to the next hop; the program matches the mark, inserts an
//! outer IPv4 (IP-in-IP, protocol 4) or IPv6 (protocol 41) header after the Ethernet header, clears the mark
//! and lets the packet go. Packets without one of its marks pass untouched.
//!
//! The program is written as instructions rather than compiled from C so that building fulcrum needs no BPF
//! toolchain, and so that each real server's addresses are constants in the program (no BPF map to keep in
//! step with the table): a new program replaces the old one whenever the set of tunnel servers changes.

use std::net::IpAddr;

/// One tunnel destination: packets carrying `mark` get an outer header from `src` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encap {
    /// The packet mark the nftables chain sets.
    pub mark: u32,
    /// The director's address on the way to the real server (outer source).
    pub src: IpAddr,
    /// The real server (outer destination).
    pub dst: IpAddr,
}

/// Helper function ids (`enum bpf_func_id`).
const GET_PRANDOM_U32: i32 = 7;
const SKB_STORE_BYTES: i32 = 9;
const SKB_LOAD_BYTES: i32 = 26;
const CSUM_DIFF: i32 = 28;
const SKB_ADJUST_ROOM: i32 = 50;
/// `BPF_ADJ_ROOM_MAC`: room is made right after the link-layer header.
const ADJ_ROOM_MAC: i32 = 1;
/// `BPF_F_ADJ_ROOM_ENCAP_L3_IPV4` / `_IPV6`: the room is an outer network header (GSO learns about it).
const ENCAP_L3_IPV4: i32 = 1 << 1;
const ENCAP_L3_IPV6: i32 = 1 << 2;
/// `struct __sk_buff` offsets.
const SKB_LEN: i16 = 0;
const SKB_MARK: i16 = 8;
/// tc verdicts.
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;
/// Length of the Ethernet header the packet carries at the egress hook.
const ETH_LEN: i32 = 14;
/// Stack slots: the outer header being built and a copy of the inner header's first bytes.
const V4_HDR: i16 = -24;
const V6_HDR: i16 = -56;
const INNER: i16 = -64;

/// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R10: u8 = 10;

/// One eBPF instruction, or a jump whose target is still a label.
#[derive(Debug, Clone, Copy)]
enum Op {
    Insn {
        code: u8,
        dst: u8,
        src: u8,
        off: i16,
        imm: i32,
    },
    /// `code` jumps to label `to` (offset filled in by [`assemble`]).
    Jump {
        code: u8,
        dst: u8,
        imm: i32,
        to: Label,
    },
    Label(Label),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Label {
    Dest(usize),
    V4,
    V6,
    Drop,
}

struct Asm(Vec<Op>);

impl Asm {
    fn i(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.0.push(Op::Insn {
            code,
            dst,
            src,
            off,
            imm,
        });
    }
    /// dst = src (64-bit).
    fn mov(&mut self, dst: u8, src: u8) {
        self.i(0xbf, dst, src, 0, 0);
    }
    /// dst = imm (64-bit, sign-extended).
    fn movi(&mut self, dst: u8, imm: i32) {
        self.i(0xb7, dst, 0, 0, imm);
    }
    /// dst += imm.
    fn addi(&mut self, dst: u8, imm: i32) {
        self.i(0x07, dst, 0, 0, imm);
    }
    fn call(&mut self, helper: i32) {
        self.i(0x85, 0, 0, 0, helper);
    }
    fn exit_with(&mut self, verdict: i32) {
        self.movi(R0, verdict);
        self.i(0x95, 0, 0, 0, 0);
    }
    /// Stores immediate `imm` of `size` bytes (1, 2 or 4) at r10 + off.
    fn st(&mut self, size: u8, off: i16, imm: i32) {
        let code = match size {
            1 => 0x72,
            2 => 0x6a,
            _ => 0x62,
        };
        self.i(code, R10, 0, off, imm);
    }
    /// Stores register `src` (`size` bytes) at `dst` + off.
    fn stx(&mut self, size: u8, dst: u8, off: i16, src: u8) {
        let code = match size {
            1 => 0x73,
            2 => 0x6b,
            _ => 0x63,
        };
        self.i(code, dst, src, off, 0);
    }
    /// Loads `size` bytes at `src` + off into `dst`.
    fn ldx(&mut self, size: u8, dst: u8, src: u8, off: i16) {
        let code = match size {
            1 => 0x71,
            2 => 0x69,
            _ => 0x61,
        };
        self.i(code, dst, src, off, 0);
    }
    /// Stores `bytes` (a multiple of 4 long) at r10 + off as they are in memory.
    fn st_bytes(&mut self, off: i16, bytes: &[u8]) {
        for (k, w) in bytes.chunks(4).enumerate() {
            let word = i32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            self.st(4, off + 4 * k as i16, word);
        }
    }
    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: Label) {
        self.0.push(Op::Jump { code, dst, imm, to });
    }
    fn label(&mut self, l: Label) {
        self.0.push(Op::Label(l));
    }
    /// `bpf_skb_load_bytes(skb, 14, r10 + INNER, 8)`: the inner header's first 8 bytes, before the room
    /// is made (any failure drops the packet).
    fn copy_inner(&mut self) {
        self.mov(R1, R6);
        self.movi(R2, ETH_LEN);
        self.mov(R3, R10);
        self.addi(R3, i32::from(INNER));
        self.movi(R4, 8);
        self.call(SKB_LOAD_BYTES);
        self.jump(0x55, R0, 0, Label::Drop);
    }
    /// `bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, flags)`.
    fn make_room(&mut self, len: i32, flags: i32) {
        self.mov(R1, R6);
        self.movi(R2, len);
        self.movi(R3, ADJ_ROOM_MAC);
        self.movi(R4, flags);
        self.call(SKB_ADJUST_ROOM);
        self.jump(0x55, R0, 0, Label::Drop);
    }
    /// r1 = skb->len - 14 - minus, in network byte order (a 16-bit length field).
    fn length_field(&mut self, minus: i32) {
        self.ldx(4, R1, R6, SKB_LEN);
        self.addi(R1, -(ETH_LEN + minus));
        self.i(0xdc, R1, 0, 0, 16);
    }
    /// Writes the header at r10 + off (`len` bytes) after the Ethernet header, clears the mark and
    /// lets the packet go.
    fn store_and_go(&mut self, off: i16, len: i32) {
        self.mov(R1, R6);
        self.movi(R2, ETH_LEN);
        self.mov(R3, R10);
        self.addi(R3, i32::from(off));
        self.movi(R4, len);
        self.movi(R5, 0);
        self.call(SKB_STORE_BYTES);
        self.jump(0x55, R0, 0, Label::Drop);
        self.movi(R1, 0);
        self.stx(4, R6, SKB_MARK, R1);
        self.exit_with(TC_ACT_OK);
    }
}

/// The program for `dests`, as the kernel takes it (8 bytes per instruction).
pub fn encap_program(dests: &[Encap]) -> Vec<u8> {
    let mut a = Asm(Vec::new());
    a.mov(R6, R1);
    a.ldx(4, R7, R6, SKB_MARK);
    for (k, d) in dests.iter().enumerate() {
        // jmp32: the mark is compared as the 32-bit value it is.
        a.jump(0x16, R7, d.mark as i32, Label::Dest(k));
    }
    a.exit_with(TC_ACT_OK);
    let (mut v4, mut v6) = (false, false);
    for (k, d) in dests.iter().enumerate() {
        a.label(Label::Dest(k));
        match (d.src, d.dst) {
            (IpAddr::V4(s), IpAddr::V4(t)) => {
                a.st_bytes(V4_HDR + 12, &s.octets());
                a.st_bytes(V4_HDR + 16, &t.octets());
                a.jump(0x05, 0, 0, Label::V4);
                v4 = true;
            }
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                a.st_bytes(V6_HDR + 8, &s.octets());
                a.st_bytes(V6_HDR + 24, &t.octets());
                a.jump(0x05, 0, 0, Label::V6);
                v6 = true;
            }
            // Mixed families are never rendered (the chain only tunnels within a family).
            _ => a.exit_with(TC_ACT_SHOT),
        }
    }
    if v4 {
        a.label(Label::V4);
        a.copy_inner();
        a.make_room(20, ENCAP_L3_IPV4);
        a.st(1, V4_HDR, 0x45);
        // The inner header's TOS and its don't-fragment bit carry over, as the kernel's tunnels do.
        a.ldx(1, R1, R10, INNER + 1);
        a.stx(1, R10, V4_HDR + 1, R1);
        a.length_field(0);
        a.stx(2, R10, V4_HDR + 2, R1);
        a.call(GET_PRANDOM_U32);
        a.stx(2, R10, V4_HDR + 4, R0);
        a.ldx(2, R1, R10, INNER + 6);
        a.i(0x57, R1, 0, 0, 0x40); // the DF bit, as the low byte of the little-endian load
        a.stx(2, R10, V4_HDR + 6, R1);
        a.st(1, V4_HDR + 8, 64); // TTL
        a.st(1, V4_HDR + 9, 4); // protocol: IP in IP
        a.st(2, V4_HDR + 10, 0);
        // Header checksum: bpf_csum_diff(NULL, 0, hdr, 20, 0), folded to 16 bits and inverted.
        a.movi(R1, 0);
        a.movi(R2, 0);
        a.mov(R3, R10);
        a.addi(R3, i32::from(V4_HDR));
        a.movi(R4, 20);
        a.movi(R5, 0);
        a.call(CSUM_DIFF);
        for _ in 0..2 {
            a.mov(R1, R0);
            a.i(0x77, R1, 0, 0, 16); // r1 >>= 16
            a.i(0x57, R0, 0, 0, 0xffff); // r0 &= 0xffff
            a.i(0x0f, R0, R1, 0, 0); // r0 += r1
        }
        a.i(0xa7, R0, 0, 0, 0xffff); // r0 ^= 0xffff
        a.stx(2, R10, V4_HDR + 10, R0);
        a.store_and_go(V4_HDR, 20);
    }
    if v6 {
        a.label(Label::V6);
        a.copy_inner();
        a.make_room(40, ENCAP_L3_IPV6);
        // Version, traffic class and flow label as the inner header has them.
        a.ldx(4, R1, R10, INNER);
        a.stx(4, R10, V6_HDR, R1);
        a.length_field(40);
        a.stx(2, R10, V6_HDR + 4, R1);
        a.st(1, V6_HDR + 6, 41); // next header: IPv6
        a.st(1, V6_HDR + 7, 64); // hop limit
        a.store_and_go(V6_HDR, 40);
    }
    a.label(Label::Drop);
    a.exit_with(TC_ACT_SHOT);
    assemble(&a.0)
}

/// Resolves labels and encodes the instructions.
fn assemble(ops: &[Op]) -> Vec<u8> {
    let mut at = std::collections::HashMap::new();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::Label(l) => {
                at.insert(*l, n);
            }
            _ => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n * 8);
    let mut pc = 0usize;
    for op in ops {
        let (code, dst, src, off, imm) = match *op {
            Op::Label(_) => continue,
            Op::Insn {
                code,
                dst,
                src,
                off,
                imm,
            } => (code, dst, src, off, imm),
            Op::Jump { code, dst, imm, to } => {
                let target = at[&to];
                let off = i16::try_from(target as i64 - pc as i64 - 1).unwrap_or(i16::MAX);
                (code, dst, 0, off, imm)
            }
        };
        out.push(code);
        out.push(dst | src << 4);
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&imm.to_le_bytes());
        pc += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insns(p: &[u8]) -> Vec<(u8, u8, i16, i32)> {
        p.chunks(8)
            .map(|c| {
                (
                    c[0],
                    c[1],
                    i16::from_le_bytes([c[2], c[3]]),
                    i32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect()
    }

    fn v4(mark: u32, src: &str, dst: &str) -> Encap {
        Encap {
            mark,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    #[test]
    fn every_jump_lands_inside_the_program_and_it_ends_in_exit() {
        let p = encap_program(&[
            v4(0x4d00_1001, "198.18.1.1", "198.18.1.2"),
            v4(0x4d00_1002, "198.18.1.1", "198.18.1.3"),
            v4(0x4d00_2001, "fd00:1::1", "fd00:1::2"),
        ]);
        let ins = insns(&p);
        assert_eq!(ins.last().unwrap().0, 0x95);
        for (pc, (code, _, off, _)) in ins.iter().enumerate() {
            if code & 0x07 == 0x05 || code & 0x07 == 0x06 {
                if *code == 0x85 || *code == 0x95 {
                    continue;
                }
                let target = pc as i64 + 1 + i64::from(*off);
                assert!(target > 0 && (target as usize) < ins.len(), "pc {pc}");
            }
        }
    }

    #[test]
    fn marks_select_their_own_addresses() {
        let p = encap_program(&[v4(0x4d00_1001, "198.18.1.1", "198.18.1.2")]);
        let ins = insns(&p);
        // The mark comparison, then (after the pass-through exit) the destination's constant stores.
        let cmp = ins.iter().position(|i| i.0 == 0x16).unwrap();
        assert_eq!(ins[cmp].3, 0x4d00_1001);
        let target = cmp + 1 + ins[cmp].2 as usize;
        let src = i32::from_le_bytes([198, 18, 1, 1]);
        let dst = i32::from_le_bytes([198, 18, 1, 2]);
        assert_eq!(ins[target], (0x62, 10, V4_HDR + 12, src));
        assert_eq!(ins[target + 1], (0x62, 10, V4_HDR + 16, dst));
        // No IPv6 part when no destination needs it.
        assert!(!ins.iter().any(|i| i.0 == 0xb7 && i.3 == ENCAP_L3_IPV6));
    }

    #[test]
    fn no_destinations_passes_everything() {
        let ins = insns(&encap_program(&[]));
        assert_eq!(ins[ins.len() - 2], (0xb7, 0, 0, TC_ACT_SHOT));
        assert!(ins.contains(&(0xb7, 0, 0, TC_ACT_OK)));
    }
}
