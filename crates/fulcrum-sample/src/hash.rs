//! The 32-bit hashes of the `djb2`, `sdbm`, `crc32` and `crc32c` converters and the avalanche mix
//! their optional argument applies.
//!
//! DJB2, SDBM and CRC-32 are fulcrum-balance's (the same functions serve `hash-type`); CRC-32C comes
//! from a crate. The avalanche is Bob Jenkins' public-domain 6-shift integer hash
//! followed by a multiplication by 3221225473 (the figures match haproxy 2.6.12's outputs), which
//! differs from the murmur finalizer other code calls "avalanche". HAProxy's own `wt6` hash is not
//! documented, so fulcrum does not offer it.

// DJB2, SDBM and CRC-32 are the balancer's (`hash-type ... djb2|sdbm|crc32`): one copy of each.
pub(crate) use fulcrum_balance::hash::{crc32, djb2, sdbm};

/// CRC-32C (Castagnoli, RFC 4960 appendix B).
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    CASTAGNOLI.checksum(data)
}

/// Bob Jenkins' full avalanche 32-bit integer hash, followed by HAProxy's multiplication by
/// the prime 3221225473 to spread values over the whole range.
pub(crate) fn avalanche(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_observed_with_haproxy() {
        // all observed with haproxy 2.6.12: str(abc),<conv>
        assert_eq!(crc32(b"abc"), 891568578);
        assert_eq!(avalanche(crc32(b"abc")), 930845320);
        assert_eq!(djb2(b"abc"), 193485963);
        assert_eq!(avalanche(djb2(b"abc")), 2235766107);
        assert_eq!(sdbm(b"abc"), 807794786);
        assert_eq!(avalanche(sdbm(b"abc")), 659243622);
        assert_eq!(crc32c(b"abc"), 910901175);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(sdbm(b""), 0);
        // observed with haproxy 2.6.12: str(),crc32(1), str(),djb2(1), str(a),djb2(1)
        assert_eq!(avalanche(0), 2874071335);
        assert_eq!(avalanche(5381), 3719394183);
        assert_eq!(avalanche(djb2(b"a")), 3548763807);
    }
}
