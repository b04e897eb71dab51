//! TFRecord framing: each record is its length (u64, little-endian), the masked CRC-32C of those
//! 8 bytes, the data, and the masked CRC-32C of the data.

/// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = table();
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// The checksum as TFRecord stores it: rotated and offset, so that a CRC of data holding CRCs
/// does not degenerate.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `data` framed as one record.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The records of an event file's bytes, each checked against both checksums; reading stops at
/// the first record that is cut short or damaged (a process killed inside a write).
pub fn records(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while bytes.len() >= 12 {
        let (len_bytes, rest) = bytes.split_at(8);
        let crc = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let Ok(len) = usize::try_from(u64::from_le_bytes(len_bytes.try_into().unwrap_or([0; 8])))
        else {
            break;
        };
        let whole = len.checked_add(8).is_some_and(|n| rest.len() >= n);
        if !whole || crc(rest) != masked_crc(len_bytes) {
            break;
        }
        let data = &rest[4..4 + len];
        if crc(&rest[4 + len..]) != masked_crc(data) {
            break;
        }
        out.push(data);
        bytes = &rest[8 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_a_cut_tail_is_left_out() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(b"third one"));
        assert_eq!(records(&file), [&b"first"[..], b"", b"third one"]);
        let cut = &file[..file.len() - 3];
        assert_eq!(records(cut), [&b"first"[..], b""]);
        let mut bad = file.clone();
        bad[14] ^= 1;
        assert!(records(&bad).is_empty());
    }

    #[test]
    fn crc32c_matches_the_published_check_values() {
        // RFC 3720, appendix B.4, and the standard check string.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46dd_794e);
    }

    #[test]
    fn a_frame_holds_its_length_data_and_both_checksums() {
        let f = frame(b"abc");
        assert_eq!(f.len(), 8 + 4 + 3 + 4);
        assert_eq!(u64::from_le_bytes(f[..8].try_into().unwrap()), 3);
        assert_eq!(&f[12..15], b"abc");
        assert_eq!(
            u32::from_le_bytes(f[15..].try_into().unwrap()),
            masked_crc(b"abc")
        );
    }
}
