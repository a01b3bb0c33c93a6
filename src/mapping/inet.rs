//! `inet` and `cidr`: IP address text (IPv4 dotted quad or IPv6, with an
//! optional `/prefix`) in PostgreSQL's binary form.
//!
//! The binary form is what `network_send` writes and `network_recv`
//! reads: family (2 for IPv4, 3 for IPv6: PostgreSQL's own numbers, not the
//! operating system's), prefix bits, a flag that is 1 for `cidr`, the
//! address length (4 or 16), the address bytes. It is also the canonical
//! form hashed by the verification, the same from either side.
//!
//! Stricter than PostgreSQL in one way: the abbreviated IPv4 forms `cidr`
//! accepts (`'10'` for 10.0.0.0/8) are not read, since an address an
//! application stored is written out in full. A `cidr` with bits set right
//! of its prefix is refused, as PostgreSQL refuses it; an `inet` keeps them
//! (a host address with its netmask).

use std::net::IpAddr;

/// The longest binary value: 4 header bytes and an IPv6 address.
pub const MAX_LEN: usize = 20;

/// Parse `s` into `out` (cleared first) as `inet` or, with `cidr`, `cidr`.
pub fn parse(s: &[u8], cidr: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let text = std::str::from_utf8(s).map_err(|_| "not UTF-8 text".to_string())?;
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("not an IP address{}", if cidr { " (cidr)" } else { "" }))?;
    let mut octets = [0u8; 16];
    let (family, max_bits, len): (u8, u8, usize) = match ip {
        IpAddr::V4(v4) => {
            octets[..4].copy_from_slice(&v4.octets());
            (2, 32, 4)
        }
        IpAddr::V6(v6) => {
            octets = v6.octets();
            (3, 128, 16)
        }
    };
    let bytes = &octets[..len];
    let bits = match prefix {
        None => max_bits,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let b: u8 = p.parse().map_err(|_| "bad prefix length".to_string())?;
            if b > max_bits {
                return Err(format!(
                    "prefix /{b} is longer than the address's {max_bits} bits"
                ));
            }
            b
        }
        Some(_) => return Err("bad prefix length".to_string()),
    };
    if cidr && host_bits_set(bytes, bits) {
        return Err(format!(
            "bits set right of the /{bits} prefix: a cidr value is a network, not a host"
        ));
    }
    out.clear();
    out.extend_from_slice(&[family, bits, u8::from(cidr), bytes.len() as u8]);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Any bit of `addr` after the first `bits`?
fn host_bits_set(addr: &[u8], bits: u8) -> bool {
    addr.iter().enumerate().any(|(i, &byte)| {
        let first = i * 8;
        let keep = (usize::from(bits).saturating_sub(first)).min(8);
        let mask = if keep == 8 { 0 } else { 0xffu8 >> keep };
        byte & mask != 0
    })
}

/// The binary form as PostgreSQL prints it (`10.0.0.1`, `10.0.0.0/8`), for messages.
pub fn display(b: &[u8]) -> String {
    let addr = |a: &[u8]| -> Option<IpAddr> {
        match a.len() {
            4 => <[u8; 4]>::try_from(a).ok().map(IpAddr::from),
            _ => <[u8; 16]>::try_from(a).ok().map(IpAddr::from),
        }
    };
    let (addr, max) = match b {
        [2, _, _, 4, a @ ..] if a.len() == 4 => (addr(a), 32),
        [3, _, _, 16, a @ ..] if a.len() == 16 => (addr(a), 128),
        _ => (None, 0),
    };
    let Some(addr) = addr else {
        return format!("{b:02x?}");
    };
    let (bits, cidr) = (b[1], b[2] == 1);
    if bits == max && !cidr {
        addr.to_string()
    } else {
        format!("{addr}/{bits}")
    }
}

/// Check a binary value read back from PostgreSQL (for the verification).
pub fn check_send_bytes(b: &[u8]) -> Result<(), &'static str> {
    match b {
        [2, _, _, 4, rest @ ..] if rest.len() == 4 => Ok(()),
        [3, _, _, 16, rest @ ..] if rest.len() == 16 => Ok(()),
        _ => Err("not an inet/cidr value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, cidr: bool) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        parse(s.as_bytes(), cidr, &mut out).map(|()| out)
    }

    #[test]
    fn parses_v4_v6_with_and_without_prefix() {
        assert_eq!(
            p("192.168.0.1", false).unwrap(),
            [2, 32, 0, 4, 192, 168, 0, 1]
        );
        assert_eq!(p("10.1.2.3/8", false).unwrap(), [2, 8, 0, 4, 10, 1, 2, 3]);
        assert_eq!(p("10.0.0.0/8", true).unwrap(), [2, 8, 1, 4, 10, 0, 0, 0]);
        let v6 = p("2001:db8::1", false).unwrap();
        assert_eq!(&v6[..4], &[3, 128, 0, 16]);
        assert_eq!(v6[4..6], [0x20, 0x01]);
        assert_eq!(p("2001:db8::/32", true).unwrap()[..4], [3, 32, 1, 16]);
        assert_eq!(p("::ffff:1.2.3.4", false).unwrap()[..4], [3, 128, 0, 16]);
        assert!(
            p("10.1.2.3/8", true)
                .unwrap_err()
                .contains("bits set right")
        );
        assert!(p("2001:db8::1/32", true).is_err());
        for bad in [
            "10",
            "10.1.2",
            "1.2.3.4/33",
            "::1/129",
            "1.2.3.4/",
            "1.2.3.4/x",
            " 1.2.3.4",
            "fe80::1%eth0",
            "example.com",
        ] {
            assert!(p(bad, false).is_err(), "{bad}");
        }
        assert!(check_send_bytes(&p("1.2.3.4", false).unwrap()).is_ok());
        assert!(check_send_bytes(&[2, 32, 0, 4, 1]).is_err());
    }
}
