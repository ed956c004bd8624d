//! Stable hash functions: the same input hashes to the same value on every run and machine.
//!
//! These are the functions HAProxy offers for `hash-type <method> <function>` (sdbm, djb2, crc32),
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
}

impl HashFunction {
    /// Hashes `data` with this function.
    #[inline]
    pub fn hash(self, data: &[u8]) -> u32 {
        match self {
            HashFunction::Sdbm => sdbm(data),
            HashFunction::Djb2 => djb2(data),
            HashFunction::Crc32 => crc32(data),
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
