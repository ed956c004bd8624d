//! Stable hash functions: the same input hashes to the same value on every run and machine.
//!
//! These are the functions HAProxy offers for `hash-type <method> <function>` (sdbm, djb2, wt6, crc32),
//! an avalanche mix for `hash-type ... avalanche`, and `splitmix64` for ring points and random draws.

/// Which function turns a key's bytes into a 32-bit hash (`hash-type <method> <function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// SDBM: `h = c + (h << 6) + (h << 16) - h`; HAProxy's default.
    #[default]
    Sdbm,
    /// DJB2: `h = h * 33 + c`, starting at 5381.
    Djb2,
    /// CRC-32 (IEEE 802.3, reflected, as in zlib).
    Crc32,
    /// HAProxy's WT6 (see [`wt6`]).
    Wt6,
}

impl HashFunction {
    /// Hashes `data` with this function.
    #[inline]
    pub fn hash(self, data: &[u8]) -> u32 {
        match self {
            HashFunction::Sdbm => sdbm(data),
            HashFunction::Djb2 => djb2(data),
            HashFunction::Crc32 => crc32(data),
            HashFunction::Wt6 => wt6(data),
        }
    }
}

/// SDBM hash of `data`.
#[inline]
pub fn sdbm(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// DJB2 hash of `data`.
#[inline]
pub fn djb2(data: &[u8]) -> u32 {
    data.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

/// CRC-32 (IEEE) of `data`; `crc32(b"123456789") == 0xCBF43926`. From the `crc32fast` crate (table or
/// SIMD, whichever the CPU offers).
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// HAProxy's WT6 hash of `data`, which HAProxy does not document; fulcrum's version was checked
/// against haproxy 2.6.12's `wt6` converter over hundreds of inputs (every single byte, pairs, long strings).
///
/// The state is two 32-bit lanes and two rotation amounts. Each byte is folded into both lanes (one
/// by XOR, one by addition, each then inverted); the lanes are rotated left by their amounts and swap
/// places; the next amounts are taken from the mix of the lanes' 16 low bits with the first lane's 16
/// high bits (bits 0-4 and 11-15). The hash is the XOR of the two lanes.
#[inline]
pub fn wt6(data: &[u8]) -> u32 {
    const LANE_A: u32 = 0xa53c_965a;
    const LANE_B: u32 = 0x5ca6_953a;
    let (mut a, mut b) = (LANE_A, LANE_B);
    let (mut rot_a, mut rot_b) = (6u32, 18u32);
    for &byte in data {
        let c = u32::from(byte);
        let xored = !(a ^ c);
        let added = !b.wrapping_add(c);
        a = added.rotate_left(rot_a);
        b = xored.rotate_left(rot_b);
        let mix = ((a >> 16) ^ b) & 0xffff;
        rot_a = mix & 0x1f;
        rot_b = mix >> 11;
    }
    a ^ b
}

/// Mixes every input bit into every output bit (MurmurHash3's finalizer); used for `avalanche`
/// and always before a lookup on a consistent ring, so that neighbouring keys spread out.
#[inline]
pub fn avalanche(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// One step of SplitMix64: advances `state` and returns a well-mixed 64-bit value.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(
            sdbm(b"ab"),
            98u32
                .wrapping_add(97 << 6)
                .wrapping_add(97 << 16)
                .wrapping_sub(97)
        );
    }

    #[test]
    fn wt6_like_haproxy() {
        // observed with haproxy 2.6.12: `%[str(...),wt6]` (bytes through `b64dec`)
        assert_eq!(wt6(b""), 4187620192);
        assert_eq!(wt6(b"a"), 1900802597);
        assert_eq!(wt6(b"abc"), 2483038440);
        assert_eq!(HashFunction::Wt6.hash(b"abc"), 2483038440);
    }

    #[test]
    fn avalanche_spreads_neighbours() {
        let a = avalanche(1);
        let b = avalanche(2);
        assert!((a ^ b).count_ones() > 8);
        assert_eq!(avalanche(0), 0);
    }

    #[test]
    fn splitmix_is_deterministic() {
        let mut s1 = 42;
        let mut s2 = 42;
        let first = splitmix64(&mut s1);
        assert_eq!(first, splitmix64(&mut s2));
        assert_ne!(first, splitmix64(&mut s1));
    }
}
