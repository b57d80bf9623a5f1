//! The incremental root equals a from-scratch root, and the stored nodes equal a from-scratch build,
//! across rounds of random inserts, updates and deletes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, convert::Infallible};

use alloy_primitives::{B256, keccak256};
use proptest::prelude::*;
use surge_trie::{BranchNodeCompact, LeafSource, Nibbles, NodeSource, PrefixSet, TrieUpdates, compute_root, full_root};

#[derive(Default)]
struct Mem {
    leaves: BTreeMap<B256, Vec<u8>>,
    nodes: BTreeMap<Nibbles, BranchNodeCompact>,
    seeks: usize,
}

struct Nodes<'a>(&'a BTreeMap<Nibbles, BranchNodeCompact>, &'a mut usize);
struct Leaves<'a>(&'a BTreeMap<B256, Vec<u8>>, &'a mut usize);

impl NodeSource for Nodes<'_> {
    type Error = Infallible;
    fn seek_node(&mut self, from: &Nibbles) -> Result<Option<(Nibbles, BranchNodeCompact)>, Infallible> {
        *self.1 += 1;
        Ok(self.0.range(*from..).next().map(|(k, v)| (*k, v.clone())))
    }
}

impl LeafSource for Leaves<'_> {
    type Error = Infallible;
    fn seek_leaf(&mut self, from: &B256) -> Result<Option<(B256, Vec<u8>)>, Infallible> {
        *self.1 += 1;
        Ok(self.0.range(*from..).next().map(|(k, v)| (*k, v.clone())))
    }
}

impl Mem {
    fn rebuild(&mut self) -> B256 {
        let full = full_root(self.leaves.iter().map(|(k, v)| (k, v.as_slice())));
        self.nodes = full.updated.into_iter().collect();
        full.root
    }

    /// Applies changes to the leaves, then recomputes incrementally and persists the node updates.
    fn apply(&mut self, changes: &[(B256, Option<Vec<u8>>)]) -> TrieUpdates {
        for (k, v) in changes {
            match v {
                Some(v) => self.leaves.insert(*k, v.clone()),
                None => self.leaves.remove(k),
            };
        }
        let changed = PrefixSet::from_keys(changes.iter().map(|(k, _)| *k));
        let mut seeks = 0;
        let updates = {
            let mut nodes = Nodes(&self.nodes, &mut seeks);
            let mut leaves_seeks = 0;
            let mut leaves = Leaves(&self.leaves, &mut leaves_seeks);
            let u = compute_root(&mut nodes, &mut leaves, &changed).unwrap();
            seeks += leaves_seeks;
            u
        };
        self.seeks = seeks;
        for p in &updates.removed {
            self.nodes.remove(p);
        }
        for (p, n) in &updates.updated {
            self.nodes.insert(*p, n.clone());
        }
        updates
    }
}

fn key(i: u64) -> B256 {
    keccak256(i.to_be_bytes())
}

/// Values of several sizes: short ones make embedded (< 32 byte) leaves, long ones hashed leaves.
fn value(i: u64, round: u64) -> Vec<u8> {
    let len = (i * 7 + round) % 40 + 1;
    alloy_rlp::encode(vec![(i ^ round) as u8; len as usize])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_matches_full(
        initial in 0u64..400,
        rounds in prop::collection::vec(prop::collection::vec((0u64..600, prop::bool::weighted(0.3)), 0..40), 1..6),
    ) {
        let mut mem = Mem::default();
        for i in 0..initial {
            mem.leaves.insert(key(i), value(i, 0));
        }
        mem.rebuild();
        for (round, ops) in rounds.iter().enumerate() {
            let changes: Vec<_> = ops
                .iter()
                .map(|(i, delete)| (key(*i), (!delete).then(|| value(*i, round as u64 + 1))))
                .collect();
            let got = mem.apply(&changes);
            let incremental_nodes = mem.nodes.clone();
            let expected = mem.rebuild();
            prop_assert_eq!(got.root, expected, "round {}", round);
            prop_assert_eq!(incremental_nodes, mem.nodes.clone(), "stored nodes drifted in round {}", round);
        }
    }
}

#[test]
fn deleting_everything_gives_the_empty_root() {
    let mut mem = Mem::default();
    for i in 0..50 {
        mem.leaves.insert(key(i), value(i, 0));
    }
    mem.rebuild();
    let changes: Vec<_> = (0..50).map(|i| (key(i), None)).collect();
    let u = mem.apply(&changes);
    assert_eq!(u.root, surge_trie::EMPTY_ROOT_HASH);
    assert!(mem.nodes.is_empty());
}

#[test]
fn no_change_reproduces_the_root_from_stored_hashes() {
    let mut mem = Mem::default();
    for i in 0..1000 {
        mem.leaves.insert(key(i), value(i, 0));
    }
    let root = mem.rebuild();
    let u = mem.apply(&[]);
    assert_eq!(u.root, root);
    assert!(mem.seeks < 40, "{} seeks for an unchanged trie", mem.seeks);
}

#[test]
fn cost_follows_the_change_not_the_trie() {
    let mut seeks = vec![];
    for size in [1_000u64, 10_000, 100_000] {
        let mut mem = Mem::default();
        for i in 0..size {
            mem.leaves.insert(key(i), value(i, 0));
        }
        mem.rebuild();
        let changes: Vec<_> = (0..10).map(|i| (key(i * 97), Some(value(i, 9)))).collect();
        mem.apply(&changes);
        seeks.push(mem.seeks);
        let incremental = mem.nodes.clone();
        mem.rebuild();
        assert_eq!(incremental, mem.nodes);
    }
    println!("seeks for 10 changed leaves at 1k/10k/100k leaves: {seeks:?}");
    // 100x more leaves: the work grows with the depth (a few levels), not with the size.
    assert!(seeks[2] < seeks[0] * 3, "seeks per size: {seeks:?}");
}

#[test]
fn proofs_from_the_incremental_walk_verify() {
    use alloy_trie::proof::verify_proof;
    let mut mem = Mem::default();
    for i in 0..2000 {
        mem.leaves.insert(key(i), value(i, 0));
    }
    let root = mem.rebuild();
    let targets = [key(5), key(1999), key(123_456)]; // the last one is absent
    let mut seeks = (0, 0);
    let (updates, proofs) = surge_trie::compute_root_with_proofs(
        &mut Nodes(&mem.nodes, &mut seeks.0),
        &mut Leaves(&mem.leaves, &mut seeks.1),
        &PrefixSet::default(),
        &targets,
    )
    .unwrap();
    assert_eq!(updates.root, root);
    for t in targets {
        let path = Nibbles::unpack(t);
        let proof: Vec<_> =
            proofs.matching_nodes_sorted(&path).into_iter().map(|(_, n)| n).filter(|n| n.len() >= 32).collect();
        assert!(!proof.is_empty());
        verify_proof(root, path, mem.leaves.get(&t).cloned(), &proof).unwrap();
    }
}
