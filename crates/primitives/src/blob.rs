//! Bytes in EIP-4844 blobs, in the encoding Taiko's proposers and derivation use (the one Optimism and Kona
//! use): every field element's top byte carries 6 bits of data (so the element stays below the BLS
//! modulus) and 31 more bytes follow; four elements carry 127 bytes. The first element holds an encoding
//! version (0) and the data's length (24 bits), so one blob carries at most [`BLOB_MAX_DATA`] bytes.

/// Bytes in one blob: 4096 field elements of 32 bytes.
pub const BYTES_PER_BLOB: usize = 4096 * 32;
/// The most data one blob carries: 1024 rounds of 127 bytes, less the 4 bytes of version and length.
pub const BLOB_MAX_DATA: usize = 1024 * (4 * 31 + 3) - 4;
/// The encoding version in the first field element.
const VERSION: u8 = 0;
/// Data bytes the first round carries (the first element also holds the version and the length).
const FIRST_ROUND: usize = 27 + 3 + 3 * 31;

/// A blob, as bytes.
pub type BlobBytes = Box<[u8; BYTES_PER_BLOB]>;

/// Why bytes cannot go into a blob, or a blob holds no valid data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// More than one blob carries.
    #[error("{0} bytes do not fit in one blob (at most {BLOB_MAX_DATA})")]
    TooLong(usize),
    /// The first field element names another encoding version.
    #[error("blob encoding version {0}, expected {VERSION}")]
    Version(u8),
    /// The length in the first field element is above what a blob carries.
    #[error("blob claims {0} bytes, more than a blob carries")]
    Length(usize),
    /// A field element's top byte uses its two high bits (not a value the encoding writes).
    #[error("field element {0} has its top two bits set")]
    HighBits(usize),
    /// Bytes after the data are not zero.
    #[error("non-zero byte {0} after the data")]
    Trailing(usize),
}

/// Field elements `len` bytes take: four per round of 127 bytes (123 in the first).
pub fn required_field_elements(len: usize) -> usize {
    match len {
        0 => 0,
        n if n <= FIRST_ROUND => 4,
        n => 4 * (1 + (n - FIRST_ROUND).div_ceil(4 * 31 + 3)),
    }
}

/// Reads `data` a byte or 31 at a time, zeros past its end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn into31(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = self.byte();
        }
    }
}

/// `data` encoded into one blob.
pub fn encode_blob(data: &[u8]) -> Result<BlobBytes, BlobError> {
    if data.len() > BLOB_MAX_DATA {
        return Err(BlobError::TooLong(data.len()));
    }
    let mut blob: BlobBytes = Box::new([0u8; BYTES_PER_BLOB]);
    let mut r = Reader { data, at: 0 };
    let rounds = required_field_elements(data.len()) / 4;
    for round in 0..rounds {
        let fe = |i: usize| (round * 4 + i) * 32;
        let first = fe(0);
        if round == 0 {
            blob[first + 1] = VERSION;
            let len = data.len() as u32;
            blob[first + 2..first + 5].copy_from_slice(&len.to_be_bytes()[1..]);
            r.into31(&mut blob[first + 5..first + 32]);
        } else {
            r.into31(&mut blob[first + 1..first + 32]);
        }
        // The three bytes spread over the four elements' top bytes, 6 bits each.
        let x = r.byte();
        blob[first] = x & 0b0011_1111;
        r.into31(&mut blob[fe(1) + 1..fe(1) + 32]);
        let y = r.byte();
        blob[fe(1)] = (y & 0b0000_1111) | ((x & 0b1100_0000) >> 2);
        r.into31(&mut blob[fe(2) + 1..fe(2) + 32]);
        let z = r.byte();
        blob[fe(2)] = z & 0b0011_1111;
        r.into31(&mut blob[fe(3) + 1..fe(3) + 32]);
        blob[fe(3)] = ((z & 0b1100_0000) >> 2) | ((y & 0b1111_0000) >> 4);
    }
    Ok(blob)
}

/// The data a blob carries.
pub fn decode_blob(blob: &[u8; BYTES_PER_BLOB]) -> Result<Vec<u8>, BlobError> {
    if blob[1] != VERSION {
        return Err(BlobError::Version(blob[1]));
    }
    let len = u32::from_be_bytes([0, blob[2], blob[3], blob[4]]) as usize;
    if len > BLOB_MAX_DATA {
        return Err(BlobError::Length(len));
    }
    let rounds = required_field_elements(len) / 4;
    let mut out = Vec::with_capacity(rounds * 127);
    for round in 0..rounds {
        let fe = |i: usize| (round * 4 + i) * 32;
        for i in 0..4 {
            if blob[fe(i)] & 0b1100_0000 != 0 {
                return Err(BlobError::HighBits(round * 4 + i));
            }
        }
        let (a, b, c, d) = (blob[fe(0)], blob[fe(1)], blob[fe(2)], blob[fe(3)]);
        let x = (a & 0b0011_1111) | ((b & 0b0011_0000) << 2);
        let y = (b & 0b0000_1111) | ((d & 0b0000_1111) << 4);
        let z = (c & 0b0011_1111) | ((d & 0b0011_0000) << 2);
        let start = if round == 0 { fe(0) + 5 } else { fe(0) + 1 };
        out.extend_from_slice(&blob[start..fe(0) + 32]);
        out.push(x);
        out.extend_from_slice(&blob[fe(1) + 1..fe(1) + 32]);
        out.push(y);
        out.extend_from_slice(&blob[fe(2) + 1..fe(2) + 32]);
        out.push(z);
        out.extend_from_slice(&blob[fe(3) + 1..fe(3) + 32]);
    }
    // What the rounds carried past the data, and every element after them, must be zero.
    if let Some(at) = out.iter().skip(len).position(|b| *b != 0) {
        return Err(BlobError::Trailing(len + at));
    }
    if let Some(at) = blob[rounds * 4 * 32..].iter().position(|b| *b != 0) {
        return Err(BlobError::Trailing(rounds * 4 * 32 + at));
    }
    out.truncate(len);
    Ok(out)
}

/// `payload` split over as many blobs as it needs, each filled up to [`BLOB_MAX_DATA`] in order.
pub fn encode_blobs(payload: &[u8]) -> Result<Vec<BlobBytes>, BlobError> {
    payload.chunks(BLOB_MAX_DATA).map(encode_blob).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8 ^ (i >> 8) as u8).collect()
    }

    #[test]
    fn field_elements_per_length_as_upstream_counts_them() {
        // Upstream's own expectations (taiko-client-rs blob_coder tests).
        assert_eq!(required_field_elements(1), 4);
        assert_eq!(required_field_elements(27), 4);
        assert_eq!(required_field_elements(28), 4);
        assert_eq!(required_field_elements(124), 8);
        assert_eq!(required_field_elements(BLOB_MAX_DATA), 4096);
        assert_eq!(BLOB_MAX_DATA, 130_044);
    }

    #[test]
    fn bytes_round_trip_and_every_element_is_a_field_element() {
        for len in [0, 1, 26, 27, 28, 122, 123, 124, 250, 251, 252, 4000, BLOB_MAX_DATA] {
            let d = data(len);
            let blob = encode_blob(&d).unwrap();
            assert!(blob.chunks(32).all(|fe| fe[0] & 0b1100_0000 == 0), "len {len}");
            assert_eq!(decode_blob(&blob).unwrap(), d, "len {len}");
        }
        assert_eq!(encode_blob(&data(BLOB_MAX_DATA + 1)).unwrap_err(), BlobError::TooLong(BLOB_MAX_DATA + 1));
    }

    #[test]
    fn the_first_element_holds_version_length_and_the_first_27_bytes() {
        let d = data(300);
        let blob = encode_blob(&d).unwrap();
        assert_eq!(blob[1], 0);
        assert_eq!(&blob[2..5], &[0, 1, 44]);
        assert_eq!(&blob[5..32], &d[..27]);
        assert_eq!(blob[0], d[27] & 0x3f);
    }

    #[test]
    fn bad_blobs_are_refused() {
        let blob = encode_blob(&data(200)).unwrap();
        let mut wrong = blob.clone();
        wrong[1] = 1;
        assert_eq!(decode_blob(&wrong), Err(BlobError::Version(1)));
        let mut high = blob.clone();
        high[32] |= 0x80;
        assert_eq!(decode_blob(&high), Err(BlobError::HighBits(1)));
        let mut trailing = blob.clone();
        trailing[BYTES_PER_BLOB - 1] = 1;
        assert!(matches!(decode_blob(&trailing), Err(BlobError::Trailing(_))));
        let mut long = blob;
        long[2..5].copy_from_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(decode_blob(&long), Err(BlobError::Length(_))));
    }

    #[test]
    fn a_long_payload_fills_blobs_in_order() {
        let d = data(2 * BLOB_MAX_DATA + 10);
        let blobs = encode_blobs(&d).unwrap();
        assert_eq!(blobs.len(), 3);
        let back: Vec<u8> = blobs.iter().flat_map(|b| decode_blob(b).unwrap()).collect();
        assert_eq!(back, d);
    }
}
