use super::*;
use proptest::prelude::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn done(buf: &[u8]) -> (Header, usize) {
    match decode(buf) {
        Ok(Decoded::Done { header, len }) => (header, len),
        other => panic!("{other:?}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// The header of HAProxy's reg-tests: TCP4 127.0.0.1:42 -> 127.0.0.1:1337, then `tlvs`.
fn v2_tcp4(tlvs: &str, declared_tlv_len: u16) -> Vec<u8> {
    let mut b = V2_SIGNATURE.to_vec();
    b.extend_from_slice(&[0x21, 0x11]);
    b.extend_from_slice(&(12 + declared_tlv_len).to_be_bytes());
    b.extend_from_slice(&hex("7F 00 00 01 7F 00 00 01 00 2A 05 39"));
    b.extend_from_slice(&hex(tlvs));
    b
}

#[test]
fn v1_tcp4() {
    let (h, len) = done(b"PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\nGET /");
    assert_eq!(len, 43);
    assert_eq!(h.version, Version::V1);
    assert_eq!(h.source(), Some(sa("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(sa("10.0.0.2:443")));
}

#[test]
fn v1_tcp6() {
    let (h, len) = done(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
    assert_eq!(len, 36);
    assert_eq!(h.source(), Some(sa("[2001:db8::1]:1")));
    assert_eq!(h.destination(), Some(sa("[::1]:65535")));
}

#[test]
fn v1_unknown() {
    let (h, len) = done(b"PROXY UNKNOWN\r\n");
    assert_eq!((h.addresses, len), (Addresses::Unknown, 15));
    // Whatever follows UNKNOWN on the line is ignored.
    let (h, _) = done(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
    assert_eq!(h.source(), None);
}

#[test]
fn v1_refusals() {
    let bad: &[(&[u8], Error)] = &[
        (b"PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n", Error::V1Protocol),
        (b"PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n", Error::V1Fields),
        (b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2 3\r\n", Error::V1Fields),
        (b"PROXY TCP4 1.1.1.1  2.2.2.2 1 2\r\n", Error::V1Address),
        (b"PROXY TCP4 ::1 2.2.2.2 1 2\r\n", Error::V1Address),
        (b"PROXY TCP6 1.1.1.1 ::2 1 2\r\n", Error::V1Address),
        (b"PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n", Error::V1Address),
        (b"PROXY TCP4 1.1.1.1 2.2.2.2 +1 2\r\n", Error::V1Address),
        (b"PROXY TCP4 1.1.1.256 2.2.2.2 1 2\r\n", Error::V1Address),
        (b"PROXY tcp4 1.1.1.1 2.2.2.2 1 2\r\n", Error::V1Protocol),
        (b"GET / HTTP/1.1\r\n", Error::NotProxy),
        (b"proxy TCP4", Error::NotProxy),
    ];
    for (input, want) in bad {
        assert_eq!(
            decode(input).as_ref(),
            Err(want),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    let long = [&b"PROXY UNKNOWN "[..], &[b'x'; 200]].concat();
    assert_eq!(decode(&long), Err(Error::V1TooLong));
    // 105 bytes and a CR LF is the longest line.
    let mut max = b"PROXY UNKNOWN ".to_vec();
    max.resize(105, b'x');
    max.extend_from_slice(b"\r\n");
    assert_eq!(done(&max).1, 107);
}

#[test]
fn v1_incomplete() {
    for input in [
        &b""[..],
        b"P",
        b"PROXY",
        b"PROXY TCP4 1.1.1.1",
        b"PROXY UNKNOWN\r",
    ] {
        assert_eq!(decode(input), Ok(Decoded::Incomplete));
    }
}

#[test]
fn v2_reg_test_headers() {
    // The reg-tests' AUTHORITY and UNIQUE_ID headers, exactly filled.
    let b = v2_tcp4("02 00 05 31 32 33 34 35", 8);
    let (h, len) = done(&b);
    assert_eq!(len, 36);
    assert_eq!(h.source(), Some(sa("127.0.0.1:42")));
    assert_eq!(h.destination(), Some(sa("127.0.0.1:1337")));
    assert_eq!(h.tlv(kind::AUTHORITY), Some(&b"12345"[..]));
    let (h, _) = done(&v2_tcp4("05 00 05 31 32 33 34 35", 8));
    assert_eq!(h.tlv(kind::UNIQUE_ID), Some(&b"12345"[..]));
    // A TLV longer than the room left, and a remainder too short to be a TLV.
    assert_eq!(
        decode(&v2_tcp4("02 00 0A 31 32 33 34 35 31 32 33 34 35", 8)),
        Err(Error::TlvOverflow)
    );
    assert_eq!(
        decode(&v2_tcp4("02 00 04 31 32 33 34 00", 8)),
        Err(Error::TlvOverflow)
    );
    // Bytes after the header are not part of it.
    let mut b = v2_tcp4("02 00 05 31 32 33 34 35", 8);
    b.extend_from_slice(&hex("02 00 05 35 34 33 32 31"));
    assert_eq!(done(&b).1, 36);
}

#[test]
fn v2_every_tlv_round_trips() {
    let ssl = Ssl {
        client: ssl_client::SSL | ssl_client::CERT_CONN,
        verify: 0,
        sub: vec![
            Tlv::new(kind::SSL_VERSION, "TLSv1.3"),
            Tlv::new(kind::SSL_CN, "client.example"),
            Tlv::new(kind::SSL_CIPHER, "TLS_AES_256_GCM_SHA384"),
            Tlv::new(kind::SSL_SIG_ALG, "RSA-SHA256"),
            Tlv::new(kind::SSL_KEY_ALG, "RSA2048"),
        ],
    };
    let tlvs = vec![
        Tlv::new(kind::ALPN, "h2"),
        Tlv::new(kind::AUTHORITY, "www.example.com"),
        Tlv::new(kind::NOOP, vec![0; 7]),
        Tlv::new(kind::UNIQUE_ID, "ABCD-1234"),
        Tlv::new(kind::SSL, ssl.encode()),
        Tlv::new(kind::NETNS, "blue"),
        Tlv::new(0xE0, "custom"),
    ];
    for crc32c in [false, true] {
        for (s, d) in [
            ("10.1.2.3:5000", "10.9.8.7:80"),
            ("[2001:db8::5]:5000", "[2001:db8::9]:443"),
        ] {
            let v2 = V2 {
                addrs: Some((sa(s), sa(d))),
                tlvs: tlvs.clone(),
                crc32c,
            };
            let mut wire = Vec::new();
            v2.encode(&mut wire);
            let (h, len) = done(&wire);
            assert_eq!(len, wire.len());
            assert_eq!(h.version, Version::V2);
            assert_eq!(h.command, Command::Proxy);
            assert_eq!((h.source(), h.destination()), (Some(sa(s)), Some(sa(d))));
            let got: Vec<_> = h.tlvs.iter().filter(|t| t.kind != kind::CRC32C).collect();
            assert_eq!(got, tlvs.iter().collect::<Vec<_>>());
            assert_eq!(h.tlv(kind::CRC32C).is_some(), crc32c);
            assert_eq!(h.ssl(), Some(Ok(ssl.clone())));
            assert_eq!(
                h.ssl().unwrap().unwrap().get(kind::SSL_CN),
                Some(&b"client.example"[..])
            );
        }
    }
}

#[test]
fn v2_crc32c_checked() {
    let v2 = V2 {
        addrs: Some((sa("1.2.3.4:1"), sa("5.6.7.8:2"))),
        tlvs: vec![Tlv::new(kind::AUTHORITY, "a")],
        crc32c: true,
    };
    let mut wire = Vec::new();
    v2.encode(&mut wire);
    assert!(done(&wire).0.tlv(kind::CRC32C).is_some());
    // Any flipped bit of the header is caught, but for the checksum's type byte (then there is no checksum).
    let crc_type = wire.len() - 7;
    for i in (0..wire.len()).filter(|&i| i != crc_type) {
        let mut bad = wire.clone();
        bad[i] ^= 0x40;
        if matches!(decode(&bad), Ok(Decoded::Done { .. })) {
            panic!("byte {i} flipped and still accepted");
        }
    }
    // A checksum of the wrong length.
    assert_eq!(
        decode(&v2_tcp4("03 00 03 00 00 00", 6)),
        Err(Error::TlvLength(kind::CRC32C))
    );
}

#[test]
fn v2_known_checksum() {
    // CRC32C of the header with its checksum field zeroed, computed independently (RFC 3720 test vector
    // style: the checksum of 32 zero bytes is 0x8a9136aa).
    assert_eq!(CASTAGNOLI.checksum(&[0; 32]), 0x8a91_36aa);
}

#[test]
fn v2_local_and_families() {
    let mut wire = Vec::new();
    V2::default().encode(&mut wire);
    assert_eq!(wire.len(), 16);
    assert_eq!(&wire[12..], &[0x20, 0x00, 0, 0]);
    let (h, len) = done(&wire);
    assert_eq!(
        (h.command, h.addresses, len),
        (Command::Local, Addresses::Unknown, 16)
    );
    // LOCAL with addresses: they are skipped.
    let mut b = v2_tcp4("", 0);
    b[12] = 0x20;
    assert_eq!(done(&b).0.source(), None);
    // Mixed families become IPv6.
    let mut wire = Vec::new();
    V2 {
        addrs: Some((sa("1.2.3.4:1"), sa("[::1]:2"))),
        ..V2::default()
    }
    .encode(&mut wire);
    assert_eq!(done(&wire).0.source(), Some(sa("[::ffff:1.2.3.4]:1")));
    let mut v1 = Vec::new();
    encode_v1(Some((sa("1.2.3.4:1"), sa("[::1]:2"))), &mut v1);
    assert_eq!(v1, b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n");
    encode_v1(None, &mut v1);
    assert!(v1.ends_with(b"PROXY UNKNOWN\r\n"));
    // UDP over IPv4, and unix sockets.
    let mut b = v2_tcp4("", 0);
    b[13] = 0x12;
    match done(&b).0.addresses {
        Addresses::Inet { transport, .. } => assert_eq!(transport, Transport::Datagram),
        a => panic!("{a:?}"),
    }
    let mut b = V2_SIGNATURE.to_vec();
    b.extend_from_slice(&[0x21, 0x31, 0, 216]);
    let mut paths = vec![0u8; 216];
    paths[..4].copy_from_slice(b"/a/b");
    paths[108..110].copy_from_slice(b"/c");
    b.extend_from_slice(&paths);
    assert_eq!(
        done(&b).0.addresses,
        Addresses::Unix {
            src: b"/a/b".to_vec(),
            dst: b"/c".to_vec(),
            transport: Transport::Stream
        }
    );
}

#[test]
fn v2_refusals() {
    let mut b = v2_tcp4("", 0);
    b[12] = 0x11;
    assert_eq!(decode(&b), Err(Error::V2Version(1)));
    b[12] = 0x22;
    assert_eq!(decode(&b), Err(Error::V2Command(2)));
    let mut b = v2_tcp4("", 0);
    b[13] = 0x13;
    assert_eq!(decode(&b), Err(Error::V2Family(0x13)));
    let mut b = v2_tcp4("", 0);
    b[15] = 11;
    assert_eq!(decode(&b), Err(Error::V2AddressLength));
    let long_id = format!("05 00 81 {}", "41 ".repeat(129));
    assert_eq!(
        decode(&v2_tcp4(&long_id, 3 + 129)),
        Err(Error::TlvLength(kind::UNIQUE_ID))
    );
    let id_128 = format!("05 00 80 {}", "41 ".repeat(128));
    assert!(done(&v2_tcp4(&id_128, 3 + 128))
        .0
        .tlv(kind::UNIQUE_ID)
        .is_some());
    let long_auth = format!("02 01 00 {}", "41 ".repeat(256));
    assert_eq!(
        decode(&v2_tcp4(&long_auth, 3 + 256)),
        Err(Error::TlvLength(kind::AUTHORITY))
    );
    // A malformed SSL TLV is kept, and reported when asked for.
    let (h, _) = done(&v2_tcp4("20 00 02 01 00", 5));
    assert_eq!(h.ssl(), Some(Err(Error::Ssl)));
    let (h, _) = done(&v2_tcp4("20 00 08 01 00 00 00 00 21 00 05", 11));
    assert_eq!(h.ssl(), Some(Err(Error::Ssl)));
}

#[test]
fn v2_incomplete() {
    let b = v2_tcp4("02 00 05 31 32 33 34 35", 8);
    for n in 0..b.len() {
        assert_eq!(decode(&b[..n]), Ok(Decoded::Incomplete), "{n} bytes");
    }
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&bytes);
        if let Ok(Decoded::Done { len, .. }) = decode(&v2) {
            prop_assert!(len <= v2.len());
        }
        let mut v1 = b"PROXY ".to_vec();
        v1.extend_from_slice(&bytes);
        if let Ok(Decoded::Done { len, .. }) = decode(&v1) {
            prop_assert!(len <= v1.len().min(V1_MAX_LEN));
        }
    }

    #[test]
    fn v2_round_trip(
        src in any::<std::net::SocketAddrV4>(),
        dst in any::<std::net::SocketAddrV6>(),
        id in proptest::collection::vec(any::<u8>(), 0..=128),
        crc32c in any::<bool>(),
    ) {
        let v2 = V2 {
            addrs: Some((SocketAddr::V6(dst), SocketAddr::V6(dst))),
            tlvs: vec![Tlv::new(kind::UNIQUE_ID, id.clone())],
            crc32c,
        };
        let mut wire = Vec::new();
        v2.encode(&mut wire);
        let (h, len) = done(&wire);
        prop_assert_eq!(len, wire.len());
        prop_assert_eq!(h.tlv(kind::UNIQUE_ID), Some(&id[..]));
        let mut v1 = Vec::new();
        encode_v1(Some((SocketAddr::V4(src), SocketAddr::V4(src))), &mut v1);
        prop_assert_eq!(done(&v1).0.source(), Some(SocketAddr::V4(src)));
    }
}
