//! What a block changed, kept so the block can be undone: every touched account and storage slot as it
//! was before the block.

use alloy_primitives::{Address, B256, U256};

use super::{StoreError, tables::StoredAccount};

/// The pre-block values of everything a block touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockRevert {
    /// Accounts before the block (`None`: did not exist).
    pub accounts: Vec<(Address, Option<StoredAccount>)>,
    /// Storage slots before the block (zero: unset).
    pub storage: Vec<(Address, B256, U256)>,
}

impl BlockRevert {
    /// Encodes as: account count, then 20-byte address + flag + 72-byte account each; storage count, then
    /// 20 + 32 + 32 bytes each.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.accounts.len() * 93 + self.storage.len() * 84);
        out.extend_from_slice(&(self.accounts.len() as u32).to_be_bytes());
        for (addr, acc) in &self.accounts {
            out.extend_from_slice(addr.as_slice());
            match acc {
                Some(a) => {
                    out.push(1);
                    out.extend_from_slice(&a.to_bytes());
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.storage.len() as u32).to_be_bytes());
        for (addr, slot, value) in &self.storage {
            out.extend_from_slice(addr.as_slice());
            out.extend_from_slice(slot.as_slice());
            out.extend_from_slice(&value.to_be_bytes::<32>());
        }
        out
    }

    /// Decodes [`encode`](Self::encode)'s output.
    pub fn decode(bytes: &[u8], block: u64) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("revert record of block {block}"));
        let mut r = Reader { bytes, pos: 0 };
        let n = r.u32().ok_or_else(corrupt)?;
        let mut accounts = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let addr = Address::from_slice(r.take(20).ok_or_else(corrupt)?);
            let acc = match r.take(1).ok_or_else(corrupt)?[0] {
                0 => None,
                1 => Some(StoredAccount::from_bytes(r.take(StoredAccount::SIZE).ok_or_else(corrupt)?)),
                _ => return Err(corrupt()),
            };
            accounts.push((addr, acc));
        }
        let n = r.u32().ok_or_else(corrupt)?;
        let mut storage = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let addr = Address::from_slice(r.take(20).ok_or_else(corrupt)?);
            let slot = B256::from_slice(r.take(32).ok_or_else(corrupt)?);
            let value = U256::from_be_slice(r.take(32).ok_or_else(corrupt)?);
            storage.push((addr, slot, value));
        }
        if r.pos != bytes.len() {
            return Err(corrupt());
        }
        Ok(Self { accounts, storage })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let r = BlockRevert {
            accounts: vec![
                (Address::repeat_byte(1), None),
                (Address::repeat_byte(2), Some(StoredAccount { nonce: 3, ..Default::default() })),
            ],
            storage: vec![(Address::repeat_byte(2), B256::repeat_byte(4), U256::from(5))],
        };
        let bytes = r.encode();
        assert_eq!(BlockRevert::decode(&bytes, 1).unwrap(), r);
        assert!(BlockRevert::decode(&bytes[..bytes.len() - 1], 1).is_err());
        assert!(BlockRevert::decode(&[0xff, 0xff, 0xff, 0xff], 1).is_err());
    }
}
