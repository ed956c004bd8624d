//! The peers protocol's variable-length integers.
//!
//! Values below 240 take one byte. Larger ones start with a byte whose high four bits are all set and whose low
//! four bits are the value's lowest bits; the rest follows seven bits per byte, each byte but the last with its
//! high bit set. Before each step the part already written is taken off (240 after the first byte, 128 after
//! each continuation byte), so that every value has exactly one encoding.

use crate::Error;

const FIRST_MIN: u64 = 240;
const FIRST_BITS: u32 = 4;
const MORE: u64 = 128;

/// Appends the encoding of `v` to `out`.
pub fn encode(v: u64, out: &mut Vec<u8>) {
    if v < FIRST_MIN {
        out.push(v as u8);
        return;
    }
    out.push((v as u8) | FIRST_MIN as u8);
    let mut rest = (v - FIRST_MIN) >> FIRST_BITS;
    while rest >= MORE {
        out.push((rest as u8) | MORE as u8);
        rest = (rest - MORE) >> 7;
    }
    out.push(rest as u8);
}

/// Decodes one integer at the start of `buf`: the value and the bytes it took.
pub fn decode(buf: &[u8]) -> Result<(u64, usize), Error> {
    let first = *buf.first().ok_or(Error::Varint)?;
    let mut v = u64::from(first);
    if v < FIRST_MIN {
        return Ok((v, 1));
    }
    let mut shift = FIRST_BITS;
    let mut i = 1;
    loop {
        let b = *buf.get(i).ok_or(Error::Varint)?;
        i += 1;
        if shift > 63 {
            return Err(Error::Varint);
        }
        let add = u64::from(b).checked_shl(shift).ok_or(Error::Varint)?;
        if shift > 57 && (u64::from(b) >> (64 - shift)) != 0 {
            return Err(Error::Varint);
        }
        v = v.checked_add(add).ok_or(Error::Varint)?;
        shift += 7;
        if u64::from(b) < MORE {
            return Ok((v, i));
        }
    }
}

/// A reader over a message's bytes.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, what }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Error> {
        let (v, n) = decode(self.buf)?;
        self.buf = &self.buf[n..];
        Ok(v)
    }

    pub(crate) fn bytes(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::Malformed(self.what))?;
        if n > self.buf.len() {
            return Err(Error::Malformed(self.what));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
