//! The derivation manifest a proposal's blobs carry: its L2 blocks (timestamp, coinbase, anchor block, gas
//! limit without the anchor's, transactions in their network encoding) as RLP, zlib-compressed, framed by a
//! 32-byte version and a 32-byte length. Upstream later put a scheme byte (0 = plaintext) before the
//! compressed bytes; [`PayloadScheme`] says which framing a chain uses.

use std::io::{Read, Write};

use alloy::consensus::TxEnvelope;
use alloy_primitives::{Address, U256};
use alloy_rlp::{Decodable, Encodable, Header};

/// The frame's version word.
pub const PAYLOAD_VERSION: u8 = 1;
/// The bytes of the frame before the compressed manifest: version and length words.
const FRAME: usize = 64;
/// Gas of an L2 block's anchor transaction, added to the block gas limit (the manifest carries the limit
/// without it).
pub const ANCHOR_GAS_LIMIT: u64 = 1_000_000;
/// Most blocks one manifest may hold.
pub const MAX_BLOCKS: usize = 384;

/// One L2 block as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockManifest {
    /// Its timestamp.
    pub timestamp: u64,
    /// Its fee recipient.
    pub coinbase: Address,
    /// The L1 block it anchors.
    pub anchor_block_number: u64,
    /// Its header's gas limit less the anchor's 1,000,000.
    pub gas_limit: u64,
    /// Its transactions after the anchor, in order.
    pub transactions: Vec<TxEnvelope>,
}

/// The blocks of one proposal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceManifest {
    /// In order.
    pub blocks: Vec<BlockManifest>,
}

/// How the compressed manifest is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadScheme {
    /// `frame ‖ zlib(rlp)` (before upstream's privacy schemes).
    Unmarked,
    /// `frame ‖ 0x00 ‖ zlib(rlp)`: the plaintext scheme byte first.
    Plaintext,
}

/// A payload that is not a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Shorter than its frame, or than the length the frame names.
    #[error("payload of {0} bytes is shorter than its frame says")]
    Truncated(usize),
    /// Another frame version.
    #[error("payload version {0}, expected {PAYLOAD_VERSION}")]
    Version(U256),
    /// Another scheme byte.
    #[error("payload scheme {0:#04x}, expected plaintext (0x00)")]
    Scheme(u8),
    /// The compressed bytes do not inflate.
    #[error("inflating the manifest: {0}")]
    Inflate(std::io::Error),
    /// The inflated bytes are not the manifest's RLP.
    #[error("decoding the manifest: {0}")]
    Rlp(alloy_rlp::Error),
    /// More blocks than a manifest may hold.
    #[error("{0} blocks, at most {MAX_BLOCKS}")]
    TooManyBlocks(usize),
}

impl BlockManifest {
    fn fields_length(&self) -> usize {
        self.timestamp.length()
            + self.coinbase.length()
            + self.anchor_block_number.length()
            + self.gas_limit.length()
            + self.transactions.length()
    }
}

impl Encodable for BlockManifest {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header { list: true, payload_length: self.fields_length() }.encode(out);
        self.timestamp.encode(out);
        self.coinbase.encode(out);
        self.anchor_block_number.encode(out);
        self.gas_limit.encode(out);
        self.transactions.encode(out);
    }

    fn length(&self) -> usize {
        let payload_length = self.fields_length();
        Header { list: true, payload_length }.length() + payload_length
    }
}

impl Decodable for BlockManifest {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let header = Header::decode(buf)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let mut fields = buf.get(..header.payload_length).ok_or(alloy_rlp::Error::InputTooShort)?;
        *buf = &buf[header.payload_length..];
        let block = Self {
            timestamp: u64::decode(&mut fields)?,
            coinbase: Address::decode(&mut fields)?,
            anchor_block_number: u64::decode(&mut fields)?,
            gas_limit: u64::decode(&mut fields)?,
            transactions: Vec::<TxEnvelope>::decode(&mut fields)?,
        };
        if !fields.is_empty() {
            return Err(alloy_rlp::Error::ListLengthMismatch { expected: header.payload_length, got: 0 });
        }
        Ok(block)
    }
}

impl SourceManifest {
    /// The RLP `[ [block…] ]`.
    pub fn rlp(&self) -> Vec<u8> {
        let mut rlp = vec![];
        Header { list: true, payload_length: self.blocks.length() }.encode(&mut rlp);
        self.blocks.encode(&mut rlp);
        rlp
    }

    /// [`SourceManifest::rlp`], compressed and framed as `scheme` says.
    pub fn encode_payload(&self, scheme: PayloadScheme) -> Vec<u8> {
        let rlp = self.rlp();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let compressed = zlib.write_all(&rlp).and_then(|()| zlib.finish()).unwrap_or_default();
        let mut inner = Vec::with_capacity(compressed.len() + 1);
        if scheme == PayloadScheme::Plaintext {
            inner.push(0);
        }
        inner.extend(compressed);
        let mut out = Vec::with_capacity(FRAME + inner.len());
        out.extend(U256::from(PAYLOAD_VERSION).to_be_bytes::<32>());
        out.extend(U256::from(inner.len()).to_be_bytes::<32>());
        out.extend(inner);
        out
    }

    /// The manifest a framed payload carries (bytes after the length the frame names are ignored: the
    /// rest of the blob data).
    pub fn decode_payload(payload: &[u8], scheme: PayloadScheme) -> Result<Self, ManifestError> {
        let truncated = || ManifestError::Truncated(payload.len());
        let frame = payload.get(..FRAME).ok_or_else(truncated)?;
        let version = U256::from_be_slice(&frame[..32]);
        if version != U256::from(PAYLOAD_VERSION) {
            return Err(ManifestError::Version(version));
        }
        let size: usize = U256::from_be_slice(&frame[32..]).try_into().map_err(|_| truncated())?;
        let mut inner = payload.get(FRAME..FRAME.checked_add(size).ok_or_else(truncated)?).ok_or_else(truncated)?;
        if scheme == PayloadScheme::Plaintext {
            let (&first, rest) = inner.split_first().ok_or_else(truncated)?;
            if first != 0 {
                return Err(ManifestError::Scheme(first));
            }
            inner = rest;
        }
        let mut rlp = vec![];
        flate2::read::ZlibDecoder::new(inner).read_to_end(&mut rlp).map_err(ManifestError::Inflate)?;
        let mut buf = rlp.as_slice();
        let header = Header::decode(&mut buf).map_err(ManifestError::Rlp)?;
        if !header.list {
            return Err(ManifestError::Rlp(alloy_rlp::Error::UnexpectedString));
        }
        let blocks = Vec::<BlockManifest>::decode(&mut buf).map_err(ManifestError::Rlp)?;
        if blocks.len() > MAX_BLOCKS {
            return Err(ManifestError::TooManyBlocks(blocks.len()));
        }
        Ok(Self { blocks })
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        consensus::{SignableTransaction, TxEip1559, TxLegacy},
        signers::{SignerSync, local::PrivateKeySigner},
    };
    use alloy_primitives::{Bytes, TxKind};

    use super::*;
    use crate::blob::{decode_blob, encode_blobs};

    fn manifest(blocks: usize, txs: usize) -> SourceManifest {
        let key = PrivateKeySigner::from_bytes(&alloy_primitives::keccak256("manifest test")).unwrap();
        let tx = |nonce: u64| -> TxEnvelope {
            if nonce.is_multiple_of(2) {
                let tx = TxEip1559 {
                    chain_id: 763374,
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: 10,
                    max_priority_fee_per_gas: 1,
                    to: TxKind::Call(Address::repeat_byte(9)),
                    value: U256::from(nonce),
                    access_list: Default::default(),
                    input: Bytes::from(vec![nonce as u8; 40]),
                };
                TxEnvelope::Eip1559(tx.clone().into_signed(key.sign_hash_sync(&tx.signature_hash()).unwrap()))
            } else {
                let tx = TxLegacy {
                    chain_id: Some(763374),
                    nonce,
                    gas_price: 10,
                    gas_limit: 21_000,
                    to: TxKind::Call(Address::repeat_byte(8)),
                    value: U256::from(1),
                    input: Bytes::new(),
                };
                TxEnvelope::Legacy(tx.clone().into_signed(key.sign_hash_sync(&tx.signature_hash()).unwrap()))
            }
        };
        SourceManifest {
            blocks: (0..blocks as u64)
                .map(|b| BlockManifest {
                    timestamp: 1_700_000_000 + b,
                    coinbase: Address::repeat_byte(0xfe),
                    anchor_block_number: 42,
                    gas_limit: 30_000_000,
                    transactions: (0..txs as u64).map(|n| tx(b * 1000 + n)).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_manifest_goes_through_its_frame_and_blobs_and_back() {
        for scheme in [PayloadScheme::Unmarked, PayloadScheme::Plaintext] {
            let m = manifest(3, 5);
            let payload = m.encode_payload(scheme);
            assert_eq!(U256::from_be_slice(&payload[..32]), U256::from(1), "version word");
            assert_eq!(U256::from_be_slice(&payload[32..64]), U256::from(payload.len() - 64), "length word");
            let zlib_at = if scheme == PayloadScheme::Plaintext { 65 } else { 64 };
            assert_eq!(payload[zlib_at], 0x78, "a zlib stream");
            let data: Vec<u8> = encode_blobs(&payload).unwrap().iter().flat_map(|b| decode_blob(b).unwrap()).collect();
            assert_eq!(SourceManifest::decode_payload(&data, scheme).unwrap(), m);
        }
        // Many blocks: several blobs.
        let big = manifest(40, 200);
        let payload = big.encode_payload(PayloadScheme::Unmarked);
        let blobs = encode_blobs(&payload).unwrap();
        let data: Vec<u8> = blobs.iter().flat_map(|b| decode_blob(b).unwrap()).collect();
        assert_eq!(SourceManifest::decode_payload(&data, PayloadScheme::Unmarked).unwrap(), big);
    }

    #[test]
    fn the_rlp_is_a_list_of_one_list_of_blocks_of_five_fields() {
        let m = manifest(1, 1);
        let payload = m.encode_payload(PayloadScheme::Unmarked);
        let mut rlp = vec![];
        flate2::read::ZlibDecoder::new(&payload[64..]).read_to_end(&mut rlp).unwrap();
        let mut buf = rlp.as_slice();
        assert!(Header::decode(&mut buf).unwrap().list, "[");
        assert!(Header::decode(&mut buf).unwrap().list, "[ blocks");
        let block = Header::decode(&mut buf).unwrap();
        assert!(block.list, "[ [ block");
        assert_eq!(u64::decode(&mut buf).unwrap(), 1_700_000_000);
        assert_eq!(Address::decode(&mut buf).unwrap(), Address::repeat_byte(0xfe));
        assert_eq!(u64::decode(&mut buf).unwrap(), 42);
        assert_eq!(u64::decode(&mut buf).unwrap(), 30_000_000);
        let txs = Vec::<TxEnvelope>::decode(&mut buf).unwrap();
        assert_eq!(txs, m.blocks[0].transactions);
    }

    #[test]
    fn what_is_not_a_manifest_is_refused() {
        let payload = manifest(1, 2).encode_payload(PayloadScheme::Plaintext);
        let mut wrong = payload.clone();
        wrong[31] = 2;
        assert!(matches!(
            SourceManifest::decode_payload(&wrong, PayloadScheme::Plaintext),
            Err(ManifestError::Version(_))
        ));
        let mut scheme = payload.clone();
        scheme[64] = 1;
        assert!(matches!(
            SourceManifest::decode_payload(&scheme, PayloadScheme::Plaintext),
            Err(ManifestError::Scheme(1))
        ));
        assert!(matches!(
            SourceManifest::decode_payload(&payload[..80], PayloadScheme::Plaintext),
            Err(ManifestError::Truncated(80))
        ));
        let mut garbled = payload;
        garbled[70] ^= 0xff;
        assert!(SourceManifest::decode_payload(&garbled, PayloadScheme::Plaintext).is_err());
    }

    /// Upstream's derivation vectors (taiko-mono `testdata/derivation_vectors/manifest_cases.json`, made by
    /// Go's `compress/zlib`): each framed payload decodes to exactly the manifest RLP upstream expects, and
    /// ours (flate2 compresses otherwise: zlib output is not canonical) decodes back to the same RLP.
    #[test]
    fn upstream_manifest_vectors_decode_to_their_rlp() {
        let cases = [
            (
                "789cba77f74eca14060c2064c2da3c635ac30140000000ffff72ea06cc",
                "dedddc649400000000000000000000000000000000000012340583989680c0",
            ),
            (
                "789cfae1f0c3ee874dca14060c2064c2da3c635ac383fb0d8c4d411c5815343448333202020000fffff1700c2a",
                "f840f83ef83c649400000000000000000000000000000000000012340583989680e0df800182520894000000000000000000000000000000000000123480801b0101",
            ),
            (
                "789cfa91fa23f94eca14060c2064c2da3c635ac3811f2ea9b8655f2c677adaccd413d9c0c8d814c481555d43c30146464640000000ffff926b1455",
                "f865f863dc649400000000000000000000000000000000000012340583989680c0f844659400000000000000000000000000000000000012340583989680e8a702e583028c598001018252089400000000000000000000000000000000000012348080c0010101",
            ),
            (
                "789cfa31e5c7a41f1352a63060002113d6e619d31a7e14ef2864fa91d7ccd413d9d0623deb14432b5308f71386a6200eac7a181b0e342cb0cae0d238b548f27be26a97c0e4f4ed5f592f9c7d13e7db1e1f97e73c8bbdccebcc0279cbbdab5ea86edac47b2be64a8ac7b60e01775546879d2db22bcc2467e77cde550d080000ffff930433cd",
                "f894f892f890649400000000000000000000000000000000000012340583989680f873b87102f86e83028c5980843b9aca008502540be4008252089400000000000000000000000000000000000012340180c080a03a680a28caa219f761ab44516367b7f505d0cdec5e4d875f5e6e439a07764acca01f39bdaae825b2b20dda5cd46448b6881047250140b9841da836199b6cf3ba7b",
            ),
        ];
        for (zlib, rlp) in cases {
            let zlib = alloy_primitives::hex::decode(zlib).unwrap();
            let mut payload = U256::from(1).to_be_bytes::<32>().to_vec();
            payload.extend(U256::from(zlib.len()).to_be_bytes::<32>());
            payload.extend(&zlib);
            let manifest = SourceManifest::decode_payload(&payload, PayloadScheme::Unmarked).unwrap();
            assert_eq!(alloy_primitives::hex::encode(manifest.rlp()), rlp);
            let block = &manifest.blocks[0];
            assert_eq!((block.timestamp, block.anchor_block_number, block.gas_limit), (100, 5, 10_000_000));
            assert_eq!(block.coinbase, Address::left_padding_from(&[0x12, 0x34]));
            let ours = manifest.encode_payload(PayloadScheme::Unmarked);
            assert_eq!(SourceManifest::decode_payload(&ours, PayloadScheme::Unmarked).unwrap(), manifest);
        }
    }
}
