//! MQTT control packets (OASIS MQTT 3.1.1 and 5.0, and 3.1's `MQIsdp`), for the `mqtt_is_valid`
//! and `mqtt_field_value` converters. Only the first packet of each direction is looked at, so
//! only CONNECT (client) and CONNACK (server) are decoded; anything else is not valid.
//!
//! A packet is a fixed header (type in the high nibble, flags in the low one, then the
//! "remaining length" as a variable byte integer of at most 4 bytes) followed by that many bytes.
//! Every function takes untrusted bytes and answers absent on anything it cannot decode.

use std::borrow::Cow;

/// Packet type CONNECT.
pub(crate) const CONNECT: u8 = 1;
/// Packet type CONNACK.
pub(crate) const CONNACK: u8 = 2;

/// What `mqtt_field_value` extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// The CONNECT flags byte, or the CONNACK acknowledge flags.
    Flags,
    /// `MQTT` or `MQIsdp` (CONNECT).
    ProtocolName,
    /// 3, 4 or 5.
    ProtocolVersion,
    /// The client identifier (CONNECT).
    ClientIdentifier,
    /// The will topic (CONNECT with the will flag).
    WillTopic,
    /// The will message (CONNECT with the will flag).
    WillPayload,
    /// The user name (CONNECT with the user name flag).
    Username,
    /// The password (CONNECT with the password flag).
    Password,
    /// The keep alive, in seconds (CONNECT).
    Keepalive,
    /// The connect return code / reason code (CONNACK).
    ReasonCode,
    /// A property of an MQTT 5.0 packet, by identifier.
    Property(u8),
}

/// The packet type of `mqtt_field_value`'s first argument: `connect`, `connack` (any case) or
/// their numbers; other types never carry a first packet, so they are refused.
pub(crate) fn packet_type_from_arg(s: &str) -> Option<u8> {
    match s.to_ascii_lowercase().as_str() {
        "connect" | "1" => Some(CONNECT),
        "connack" | "2" => Some(CONNACK),
        _ => None,
    }
}

/// The field of `mqtt_field_value`'s second argument for packets of type `ptype`.
pub(crate) fn field_from_arg(ptype: u8, s: &str) -> Option<Field> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        let id: u8 = s.parse().ok()?;
        let known = match ptype {
            CONNECT => CONNECT_PROPS.contains(&id) || WILL_PROPS.contains(&id),
            _ => CONNACK_PROPS.contains(&id),
        };
        return known.then_some(Field::Property(id));
    }
    let f = match s.to_ascii_lowercase().as_str() {
        "flags" => Field::Flags,
        "protocol_version" => Field::ProtocolVersion,
        "protocol_name" if ptype == CONNECT => Field::ProtocolName,
        "client_identifier" if ptype == CONNECT => Field::ClientIdentifier,
        "will_topic" if ptype == CONNECT => Field::WillTopic,
        "will_payload" if ptype == CONNECT => Field::WillPayload,
        "username" if ptype == CONNECT => Field::Username,
        "password" if ptype == CONNECT => Field::Password,
        "keepalive" if ptype == CONNECT => Field::Keepalive,
        "reason_code" if ptype == CONNACK => Field::ReasonCode,
        _ => return None,
    };
    Some(f)
}

/// The properties CONNECT may carry (5.0, section 3.1.2.11), user properties included.
const CONNECT_PROPS: &[u8] = &[17, 33, 39, 34, 25, 23, 21, 22, 38];
/// The will properties of CONNECT's payload (5.0, section 3.1.3.2).
const WILL_PROPS: &[u8] = &[24, 1, 2, 3, 8, 9, 38];
/// The properties CONNACK may carry (5.0, section 3.2.2.3).
const CONNACK_PROPS: &[u8] = &[
    17, 33, 36, 37, 39, 18, 34, 31, 38, 40, 41, 42, 19, 26, 28, 21, 22,
];

/// How a property's value is encoded.
#[derive(Clone, Copy)]
enum PropKind {
    Byte,
    U16,
    U32,
    VarInt,
    Utf8,
    Binary,
    Pair,
}

fn prop_kind(id: u8) -> Option<PropKind> {
    use PropKind::*;
    Some(match id {
        1 | 23 | 25 | 36 | 37 | 40 | 41 | 42 => Byte,
        19 | 33 | 34 | 35 => U16,
        2 | 17 | 24 | 39 => U32,
        11 => VarInt,
        3 | 8 | 18 | 21 | 26 | 28 | 31 => Utf8,
        9 | 22 => Binary,
        38 => Pair,
        _ => return None,
    })
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Some(a)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer: 7 bits per byte, low first, at most 4 bytes.
    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A string or binary block: a 2-byte length, then the bytes.
    fn block(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// A UTF-8 string (checked, and without U+0000, as the specification requires).
    fn utf8(&mut self) -> Option<&'a [u8]> {
        let s = self.block()?;
        let text = std::str::from_utf8(s).ok()?;
        (!text.contains('\0')).then_some(s)
    }
}

/// A decoded property value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropValue<'a> {
    Int(u32),
    Bytes(&'a [u8]),
    Pair,
}

/// A property list (a variable byte integer length, then the properties), checked against
/// `allowed`; calls `f` with each property.
fn properties<'a>(
    r: &mut Reader<'a>,
    allowed: &[u8],
    f: &mut dyn FnMut(u8, PropValue<'a>),
) -> Option<()> {
    let len = usize::try_from(r.varint()?).ok()?;
    let mut p = Reader { buf: r.take(len)? };
    while !p.buf.is_empty() {
        // identifiers are variable byte integers, but every defined one fits in one byte
        let id = u8::try_from(p.varint()?).ok()?;
        if !allowed.contains(&id) {
            return None;
        }
        let v = match prop_kind(id)? {
            PropKind::Byte => PropValue::Int(u32::from(p.u8()?)),
            PropKind::U16 => PropValue::Int(u32::from(p.u16()?)),
            PropKind::U32 => PropValue::Int(p.u32()?),
            PropKind::VarInt => PropValue::Int(p.varint()?),
            PropKind::Utf8 => PropValue::Bytes(p.utf8()?),
            PropKind::Binary => PropValue::Bytes(p.block()?),
            PropKind::Pair => {
                p.utf8()?;
                p.utf8()?;
                PropValue::Pair
            }
        };
        f(id, v);
    }
    Some(())
}

/// The fixed header: packet type, flags, and the packet's remaining bytes (exactly the remaining
/// length; what follows belongs to the next packet). `Err(())` when `buf` ends before the packet
/// does (more data may complete it), `Ok(None)` when the header is invalid.
#[allow(clippy::type_complexity)]
fn packet(buf: &[u8]) -> Result<Option<(u8, u8, &[u8])>, ()> {
    let (&b, rest) = buf.split_first().ok_or(())?;
    let mut len = 0usize;
    for i in 0..4 {
        let &d = rest.get(i).ok_or(())?;
        len |= usize::from(d & 0x7f) << (7 * i);
        if d & 0x80 == 0 {
            let body = &rest[i + 1..];
            return match body.get(..len) {
                Some(body) => Ok(Some((b >> 4, b & 0x0f, body))),
                None => Err(()),
            };
        }
    }
    // a fifth length byte
    Ok(None)
}

/// A decoded value: an integer to print in decimal, or bytes.
type Out<'a> = Option<Cow<'a, [u8]>>;

fn int_out<'a>(v: u32) -> Out<'a> {
    Some(Cow::Owned(v.to_string().into_bytes()))
}

/// A property's value; as haproxy 2.6, an integer property a 5.0 packet lacks reads as 0 (a
/// string or binary one is absent), and no property exists before 5.0.
fn missing_property(found: Out<'_>, id: u8, version: u8) -> Out<'_> {
    if found.is_some() || version < 5 {
        return found;
    }
    match prop_kind(id) {
        Some(PropKind::Byte | PropKind::U16 | PropKind::U32 | PropKind::VarInt) => int_out(0),
        _ => None,
    }
}

/// Decodes CONNECT's body; with `want`, returns that field (`Some(None)` when the packet is
/// valid but lacks the field).
fn connect<'a>(body: &'a [u8], want: Option<Field>) -> Option<Out<'a>> {
    let mut r = Reader { buf: body };
    let name = r.block()?;
    let version = r.u8()?;
    // as haproxy 2.6: the name and the level are checked separately
    if !matches!(name, b"MQTT" | b"MQIsdp") || !matches!(version, 3..=5) {
        return None;
    }
    let flags = r.u8()?;
    let will = flags & 0x04 != 0;
    // the reserved bit; the will QoS and retain bits are not checked (haproxy 2.6 does not)
    if flags & 0x01 != 0 {
        return None;
    }
    let keepalive = r.u16()?;
    let mut found: Out<'a> = None;
    let mut on_prop = |id: u8, v: PropValue<'a>| {
        if want == Some(Field::Property(id)) && found.is_none() {
            found = match v {
                PropValue::Int(i) => int_out(i),
                PropValue::Bytes(b) => Some(Cow::Borrowed(b)),
                PropValue::Pair => None,
            };
        }
    };
    if version == 5 {
        properties(&mut r, CONNECT_PROPS, &mut on_prop)?;
    }
    let client_id = r.utf8()?;
    let (mut will_topic, mut will_payload, mut user, mut pass) = (None, None, None, None);
    if will {
        if version == 5 {
            properties(&mut r, WILL_PROPS, &mut on_prop)?;
        }
        will_topic = Some(r.utf8()?);
        will_payload = Some(r.block()?);
    }
    if flags & 0x80 != 0 {
        user = Some(r.utf8()?);
    }
    if flags & 0x40 != 0 {
        pass = Some(r.block()?);
    }
    if !r.buf.is_empty() {
        return None;
    }
    let b = |x: Option<&'a [u8]>| x.map(Cow::Borrowed);
    Some(match want {
        None => None,
        Some(Field::Flags) => int_out(u32::from(flags)),
        Some(Field::ProtocolName) => Some(Cow::Borrowed(name)),
        Some(Field::ProtocolVersion) => int_out(u32::from(version)),
        Some(Field::ClientIdentifier) => Some(Cow::Borrowed(client_id)),
        Some(Field::WillTopic) => b(will_topic),
        Some(Field::WillPayload) => b(will_payload),
        Some(Field::Username) => b(user),
        Some(Field::Password) => b(pass),
        Some(Field::Keepalive) => int_out(u32::from(keepalive)),
        Some(Field::ReasonCode) => None,
        Some(Field::Property(id)) => missing_property(found, id, version),
    })
}

/// Decodes CONNACK's body. It does not say its version: two bytes is 3.1.1's form (version 4),
/// anything longer carries 5.0's properties.
fn connack<'a>(body: &'a [u8], want: Option<Field>) -> Option<Out<'a>> {
    let mut r = Reader { buf: body };
    let flags = r.u8()?;
    let code = r.u8()?;
    if flags & 0xfe != 0 {
        return None;
    }
    let version: u8 = if r.buf.is_empty() { 4 } else { 5 };
    let mut found: Out<'a> = None;
    if version == 5 {
        properties(&mut r, CONNACK_PROPS, &mut |id, v| {
            if want == Some(Field::Property(id)) && found.is_none() {
                found = match v {
                    PropValue::Int(i) => int_out(i),
                    PropValue::Bytes(b) => Some(Cow::Borrowed(b)),
                    PropValue::Pair => None,
                };
            }
        })?;
        if !r.buf.is_empty() {
            return None;
        }
    }
    Some(match want {
        None => None,
        Some(Field::Flags) => int_out(u32::from(flags)),
        Some(Field::ProtocolVersion) => int_out(u32::from(version)),
        Some(Field::ReasonCode) => int_out(u32::from(code)),
        Some(Field::Property(id)) => missing_property(found, id, version),
        Some(_) => None,
    })
}

/// `mqtt_is_valid`: whether `buf` starts with a well-formed CONNECT or CONNACK packet; `None`
/// while the packet is incomplete (more data may make it valid).
pub(crate) fn is_valid(buf: &[u8]) -> Option<bool> {
    Some(match packet(buf).ok()? {
        Some((CONNECT, 0, body)) => connect(body, None).is_some(),
        Some((CONNACK, 0, body)) => connack(body, None).is_some(),
        _ => false,
    })
}

/// `mqtt_field_value`: `field` of the packet at the start of `buf`, when it is a well-formed
/// packet of type `ptype` holding that field.
pub(crate) fn field_value(buf: &[u8], ptype: u8, field: Field) -> Option<Cow<'_, [u8]>> {
    match packet(buf).ok()?? {
        (t, 0, body) if t == ptype && t == CONNECT => connect(body, Some(field))?,
        (t, 0, body) if t == ptype && t == CONNACK => connack(body, Some(field))?,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    const V5_COMPLEX: &str = "107e00044d51545405ee003c182700000014170126000161000162260001630001642100140008746573745f7375622a03000a746578742f706c61696e08000c77696c6c727370746f7069632600016500016626000167000168000977696c6c746f706963000b77696c6c7061796c6f61640004746573740006706173737764";
    const CONNACK_V5: &str =
        "20250000221100000078217fff24012501270000ffff22000a2600016100016226000163000164";

    fn get(buf: &[u8], ptype: &str, field: &str) -> Option<String> {
        let t = packet_type_from_arg(ptype).unwrap();
        let f = field_from_arg(t, field).unwrap();
        field_value(buf, t, f).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn valid_packets() {
        for p in [
            "101a00044d51545404c2003c00000004746573740006706173737764",
            "103a00044d51545404ee003c0008746573745f737562000977696c6c746f706963000b77696c6c7061796c6f61640004746573740006706173737764",
            "101800044d5154540502003c032100140008746573745f737562",
            V5_COMPLEX,
            "102400064d514973647003c200000008746573745f7375620004746573740006706173737764",
            "20020000",
            "200600000322000a",
            CONNACK_V5,
        ] {
            assert_eq!(is_valid(&hex(p)), Some(true), "{p}");
        }
    }

    #[test]
    fn invalid_packets() {
        for p in [
            "d000",
            "c000",
            "111400044d5154540402003c0008746573745f737562",
            "21020000",
            "10ffffffff1400044d5154540402003c0008746573745f737562",
            // remaining length smaller than the fields
            "101300044d5154540402003c0008746573745f737562",
            // unknown protocol name, reserved flag
            "101400044d5154580402003c0008746573745f737562",
            "101400044d5154540403003c0008746573745f737562",
            // a CONNACK property in a CONNECT
            "101900044d515454050200 3c04240100000008746573745f737562",
            // unknown protocol level
            "101400044d5154540602003c0008746573745f737562",
        ] {
            let p = p.replace(' ', "");
            assert_eq!(is_valid(&hex(&p)), Some(false), "{p}");
        }
        // incomplete: not decided yet
        for p in [
            "",
            "10",
            "1080",
            "101800044d5154540402003c0008746573745f737562",
        ] {
            assert_eq!(is_valid(&hex(p)), None, "{p}");
        }
    }

    #[test]
    fn connect_fields() {
        let b = hex(V5_COMPLEX);
        assert_eq!(get(&b, "connect", "flags").as_deref(), Some("238"));
        assert_eq!(get(&b, "CONNECT", "protocol_name").as_deref(), Some("MQTT"));
        assert_eq!(get(&b, "1", "protocol_version").as_deref(), Some("5"));
        assert_eq!(
            get(&b, "connect", "client_identifier").as_deref(),
            Some("test_sub")
        );
        assert_eq!(
            get(&b, "connect", "will_topic").as_deref(),
            Some("willtopic")
        );
        assert_eq!(
            get(&b, "connect", "will_payload").as_deref(),
            Some("willpayload")
        );
        assert_eq!(get(&b, "connect", "username").as_deref(), Some("test"));
        assert_eq!(get(&b, "connect", "password").as_deref(), Some("passwd"));
        assert_eq!(get(&b, "connect", "keepalive").as_deref(), Some("60"));
        assert_eq!(get(&b, "connect", "39").as_deref(), Some("20"));
        assert_eq!(get(&b, "connect", "23").as_deref(), Some("1"));
        assert_eq!(get(&b, "connect", "33").as_deref(), Some("20"));
        assert_eq!(get(&b, "connect", "3").as_deref(), Some("text/plain"));
        assert_eq!(get(&b, "connect", "8").as_deref(), Some("willrsptopic"));
        // integer properties a 5.0 packet lacks read as 0, string ones are absent
        assert_eq!(get(&b, "connect", "17").as_deref(), Some("0"));
        assert_eq!(get(&b, "connect", "21"), None);
        assert_eq!(get(&b, "connack", "flags"), None);
        // 3.1.1 without a will nor properties
        let b = hex("101a00044d51545404c2003c00000004746573740006706173737764");
        assert_eq!(get(&b, "connect", "client_identifier").as_deref(), Some(""));
        assert_eq!(get(&b, "connect", "will_topic"), None);
        assert_eq!(get(&b, "connect", "39"), None);
        assert!(field_from_arg(CONNECT, "reason_code").is_none());
        assert!(field_from_arg(CONNECT, "36").is_none());
        assert!(field_from_arg(CONNECT, "nope").is_none());
        assert!(packet_type_from_arg("publish").is_none());
    }

    #[test]
    fn connack_fields() {
        let b = hex(CONNACK_V5);
        assert_eq!(get(&b, "connack", "flags").as_deref(), Some("0"));
        assert_eq!(get(&b, "connack", "protocol_version").as_deref(), Some("5"));
        assert_eq!(get(&b, "connack", "reason_code").as_deref(), Some("0"));
        assert_eq!(get(&b, "connack", "17").as_deref(), Some("120"));
        assert_eq!(get(&b, "connack", "33").as_deref(), Some("32767"));
        assert_eq!(get(&b, "connack", "36").as_deref(), Some("1"));
        assert_eq!(get(&b, "connack", "37").as_deref(), Some("1"));
        assert_eq!(get(&b, "connack", "39").as_deref(), Some("65535"));
        assert_eq!(get(&b, "connack", "34").as_deref(), Some("10"));
        assert_eq!(get(&b, "2", "protocol_version").as_deref(), Some("5"));
        assert_eq!(get(&b, "connack", "19").as_deref(), Some("0"));
        assert_eq!(get(&b, "connack", "31"), None);
        let b = hex("20020001");
        assert_eq!(get(&b, "connack", "protocol_version").as_deref(), Some("4"));
        assert_eq!(get(&b, "connack", "reason_code").as_deref(), Some("1"));
        assert_eq!(get(&b, "connack", "17"), None);
    }

    #[test]
    fn no_panic_on_any_prefix_or_byte_flip() {
        for p in [V5_COMPLEX, CONNACK_V5] {
            let good = hex(p);
            for end in 0..=good.len() {
                let _ = is_valid(&good[..end]);
            }
            for i in 0..good.len() {
                for x in [0u8, 0x01, 0x7f, 0x80, 0xff] {
                    let mut m = good.clone();
                    m[i] = x;
                    let _ = is_valid(&m);
                    for f in [
                        Field::Flags,
                        Field::Password,
                        Field::Property(8),
                        Field::Property(17),
                    ] {
                        let _ = field_value(&m, CONNECT, f);
                        let _ = field_value(&m, CONNACK, f);
                    }
                }
            }
        }
    }
}
