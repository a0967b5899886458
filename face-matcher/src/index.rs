//! The watchlist index: exact cosine search over every enrolled reference embedding.
//!
//! A subject (a stay-home order) has one or more reference embeddings; its score against a
//! query face is the best of its references. [`WatchlistIndex::search`] answers a whole batch of
//! query faces with one blocked matrix product (see [`kernel`]) and keeps, per query, the `k`
//! best *subjects* while the product runs, so the full score matrix is never stored.
//!
//! The search is exact: scores are f32 inner products of the unit vectors, nothing is quantised
//! or approximated, and results equal a brute-force scan up to float rounding (checked by a
//! property test). The index remembers the model its embeddings came from and refuses queries
//! from any other model.
//!
//! # Speed
//! `benches/index.rs`, 100 000 random unit references × 512, one thread, on the development
//! machine (AMD EPYC, Zen 4, 2 vCPUs shared with other work, so ranges over runs):
//!
//! | kernel | batch 1 | batch 256 |
//! |---|---|---|
//! | AVX-512 (default here) | 110–127 queries/s (7.9–9.1 ms: the 205 MB database at 22–26 GB/s) | 1030–1070 queries/s (≈107 GFLOP/s) |
//! | AVX2 + FMA | ≈116 queries/s | ≈990 queries/s |
//!
//! Side by side with faiss-cpu 1.15.1 `IndexFlatIP` in one run (`bench/index_vs_faiss.py`, one
//! thread, shared 2-core machine): faiss 98–110 and 884–928 queries/s, this index 119–129 and
//! 1083–1087 (about 1.2× at both batch sizes). STACK.md's older faiss figures (63 / 841) were
//! measured apart and are not the bar any more.

pub mod kernel;

use crate::embed::Embedding;
use crate::FaceError;
use kernel::{Isa, Panels, TileSink};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One watchlist hit for one query face.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Match {
    /// The subject's opaque id.
    pub subject_id: String,
    /// Cosine similarity of the query with the subject's best reference, in `[-1, 1]`.
    pub score: f32,
    /// Which of the subject's references that was (0-based, in enrolment order).
    pub reference: usize,
}

/// Exact cosine search over the references of every enrolled subject.
#[derive(Clone)]
pub struct WatchlistIndex {
    model: Arc<str>,
    dim: usize,
    /// Subject ids by subject number.
    subjects: Vec<String>,
    by_id: HashMap<String, u32>,
    /// How many references each subject has.
    ref_counts: Vec<u32>,
    /// Per database row: subject number and reference number within the subject.
    row_owner: Vec<(u32, u32)>,
    db: Panels,
    isa: Isa,
    threads: usize,
}

impl std::fmt::Debug for WatchlistIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchlistIndex")
            .field("model", &self.model)
            .field("dim", &self.dim)
            .field("subjects", &self.subjects.len())
            .field("references", &self.row_owner.len())
            .field("isa", &self.isa)
            .field("threads", &self.threads)
            .finish()
    }
}

impl WatchlistIndex {
    /// An empty index for embeddings of `model_id` with `dim` dimensions, searching on one
    /// thread with the best instruction set of this CPU.
    pub fn new(model_id: impl Into<Arc<str>>, dim: usize) -> Self {
        WatchlistIndex {
            model: model_id.into(),
            dim,
            subjects: Vec::new(),
            by_id: HashMap::new(),
            ref_counts: Vec::new(),
            row_owner: Vec::new(),
            db: Panels::new(dim),
            isa: Isa::detect(),
            threads: 1,
        }
    }

    /// Search with `threads` threads (default 1), each scanning its share of the references.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Force an instruction set (tests and benches compare them); refused when this CPU does
    /// not have it.
    pub fn with_isa(mut self, isa: Isa) -> Result<Self, FaceError> {
        if !isa.supported() {
            return Err(FaceError::Unsupported {
                what: format!("instruction set {isa:?} on this CPU"),
            });
        }
        self.isa = isa;
        Ok(self)
    }

    /// The instruction set searches use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The model every embedding in the index comes from.
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// Embedding dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of subjects.
    pub fn subjects(&self) -> usize {
        self.subjects.len()
    }

    /// Number of reference embeddings, all subjects together.
    pub fn references(&self) -> usize {
        self.row_owner.len()
    }

    /// Whether nothing is enrolled.
    pub fn is_empty(&self) -> bool {
        self.row_owner.is_empty()
    }

    fn check(&self, e: &Embedding) -> Result<(), FaceError> {
        if e.model_id() != &*self.model {
            return Err(FaceError::IndexModelMismatch {
                index_model: self.model.to_string(),
                embedding_model: e.model_id().to_string(),
            });
        }
        if e.dim() != self.dim {
            return Err(FaceError::DimensionMismatch {
                model: self.model.to_string(),
                expected: self.dim,
                found: e.dim(),
            });
        }
        Ok(())
    }

    /// Adds reference embeddings for a subject (a new one, or more references for one already
    /// enrolled). Checks every embedding before adding any, so a refused call changes nothing.
    pub fn add(&mut self, subject_id: &str, references: &[Embedding]) -> Result<(), FaceError> {
        for e in references {
            self.check(e)?;
        }
        let s = match self.by_id.get(subject_id) {
            Some(&s) => s,
            None => {
                let s = u32::try_from(self.subjects.len()).map_err(|_| FaceError::Internal {
                    what: "more than 2^32 subjects".into(),
                })?;
                self.subjects.push(subject_id.to_string());
                self.by_id.insert(subject_id.to_string(), s);
                self.ref_counts.push(0);
                s
            }
        };
        for e in references {
            let r = self.ref_counts[s as usize];
            self.row_owner.push((s, r));
            self.ref_counts[s as usize] = r + 1;
            self.db.push(e.as_slice());
        }
        Ok(())
    }

    /// The reference embeddings of a subject, in enrolment order (empty for an unknown id).
    pub fn references_of(&self, subject_id: &str) -> Vec<Embedding> {
        let Some(&s) = self.by_id.get(subject_id) else {
            return Vec::new();
        };
        self.row_owner
            .iter()
            .enumerate()
            .filter(|(_, (owner, _))| *owner == s)
            .filter_map(|(row, _)| Embedding::from_raw(self.model.clone(), self.db.row(row)).ok())
            .collect()
    }

    /// The `k` best subjects for each query face, best first (ties: earlier-enrolled subject
    /// first). Queries must come from the index's model.
    pub fn search(&self, queries: &[Embedding], k: usize) -> Result<Vec<Vec<Match>>, FaceError> {
        for q in queries {
            self.check(q)?;
        }
        let mut flat = Vec::with_capacity(queries.len() * self.dim);
        for q in queries {
            flat.extend_from_slice(q.as_slice());
        }
        Ok(self.search_flat(&flat, k))
    }

    /// [`WatchlistIndex::search`] for one query face.
    pub fn search_one(&self, query: &Embedding, k: usize) -> Result<Vec<Match>, FaceError> {
        Ok(self
            .search(std::slice::from_ref(query), k)?
            .pop()
            .unwrap_or_default())
    }

    /// The search on queries already checked, row-major.
    fn search_flat(&self, queries: &[f32], k: usize) -> Vec<Vec<Match>> {
        let n_queries = queries.len().checked_div(self.dim).unwrap_or(0);
        if k == 0 || self.is_empty() {
            return vec![Vec::new(); n_queries];
        }
        let panels = self.db.panels();
        let threads = self.threads.min(panels).max(1);
        let lists = if threads == 1 {
            let mut sink = Selection::new(n_queries, k, &self.row_owner);
            kernel::scan(self.isa, &self.db, 0..panels, queries, &mut sink);
            sink.lists
        } else {
            // Each thread scans a contiguous share of the panels with its own selection; the
            // per-thread top-k lists are then merged, which is exact because a subject in the
            // global top-k is in the top-k of the share where its best reference lies.
            let per = panels.div_ceil(threads);
            let parts: Vec<Vec<TopK>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let range = (t * per).min(panels)..((t + 1) * per).min(panels);
                        scope.spawn(move || {
                            let mut sink = Selection::new(n_queries, k, &self.row_owner);
                            kernel::scan(self.isa, &self.db, range, queries, &mut sink);
                            sink.lists
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            });
            let mut merged: Vec<TopK> = (0..n_queries).map(|_| TopK::new(k)).collect();
            for part in parts {
                for (m, list) in merged.iter_mut().zip(part) {
                    for e in list.entries {
                        m.offer(e.subject, e.row, e.score);
                    }
                }
            }
            merged
        };
        lists
            .into_iter()
            .map(|list| {
                let mut entries = list.entries;
                entries.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.subject.cmp(&b.subject)));
                entries
                    .into_iter()
                    .map(|e| Match {
                        subject_id: self.subjects[e.subject as usize].clone(),
                        score: e.score,
                        reference: self.row_owner[e.row as usize].1 as usize,
                    })
                    .collect()
            })
            .collect()
    }

    /// The same answer as [`WatchlistIndex::search`] by the plainest possible loop (the
    /// reference the fast path is tested against; also fine for tiny watchlists).
    pub fn search_brute_force(
        &self,
        queries: &[Embedding],
        k: usize,
    ) -> Result<Vec<Vec<Match>>, FaceError> {
        for q in queries {
            self.check(q)?;
        }
        Ok(queries
            .iter()
            .map(|q| {
                let mut best: Vec<Option<(f32, usize)>> = vec![None; self.subjects.len()];
                for (row, &(s, _)) in self.row_owner.iter().enumerate() {
                    let score = crate::embed::dot(q.as_slice(), &self.db.row(row));
                    let b = &mut best[s as usize];
                    if b.is_none_or(|(bs, _)| score > bs) {
                        *b = Some((score, row));
                    }
                }
                let mut all: Vec<(usize, f32, usize)> = best
                    .iter()
                    .enumerate()
                    .filter_map(|(s, b)| b.map(|(score, row)| (s, score, row)))
                    .collect();
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                all.truncate(k);
                all.into_iter()
                    .map(|(s, score, row)| Match {
                        subject_id: self.subjects[s].clone(),
                        score,
                        reference: self.row_owner[row].1 as usize,
                    })
                    .collect()
            })
            .collect())
    }
}

/// One kept subject of a query's top-k.
#[derive(Clone, Copy, Debug)]
struct Entry {
    score: f32,
    subject: u32,
    row: u32,
}

/// The `k` best distinct subjects seen so far for one query.
///
/// Invariant: every subject not in `entries` has a best-so-far score ≤ `threshold` (the
/// smallest kept score once `k` subjects are kept, −∞ before), so a score at or below the
/// threshold can be skipped without looking at whose it is — that is what lets the kernel
/// test a whole tile against one number.
#[derive(Clone, Debug)]
struct TopK {
    k: usize,
    entries: Vec<Entry>,
    threshold: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            entries: Vec::with_capacity(k),
            threshold: f32::NEG_INFINITY,
        }
    }

    fn offer(&mut self, subject: u32, row: u32, score: f32) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.subject == subject) {
            if score > e.score {
                e.score = score;
                e.row = row;
                self.update_threshold();
            }
            return;
        }
        if self.entries.len() < self.k {
            self.entries.push(Entry {
                score,
                subject,
                row,
            });
            self.update_threshold();
        } else if score > self.threshold {
            // Evict the weakest; if it comes back later with a higher score it re-enters then.
            if let Some(weakest) = self
                .entries
                .iter_mut()
                .min_by(|a, b| a.score.total_cmp(&b.score))
            {
                *weakest = Entry {
                    score,
                    subject,
                    row,
                };
            }
            self.update_threshold();
        }
    }

    fn update_threshold(&mut self) {
        self.threshold = if self.entries.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.entries
                .iter()
                .map(|e| e.score)
                .fold(f32::INFINITY, f32::min)
        };
    }
}

/// The kernel's sink: one [`TopK`] per query, rows mapped to their subjects.
struct Selection<'a> {
    lists: Vec<TopK>,
    owners: &'a [(u32, u32)],
}

impl<'a> Selection<'a> {
    fn new(queries: usize, k: usize, owners: &'a [(u32, u32)]) -> Self {
        Selection {
            lists: (0..queries).map(|_| TopK::new(k)).collect(),
            owners,
        }
    }
}

impl TileSink for Selection<'_> {
    #[inline]
    fn threshold(&self, q: usize) -> f32 {
        self.lists[q].threshold
    }

    fn offer(&mut self, q: usize, row: usize, score: f32) {
        if let Some(&(subject, _)) = self.owners.get(row) {
            self.lists[q].offer(subject, row as u32, score);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(model: &str, v: Vec<f32>) -> Embedding {
        Embedding::from_raw(model, v).unwrap()
    }

    #[test]
    fn a_subject_scores_its_best_reference() {
        let mut idx = WatchlistIndex::new("m", 2);
        idx.add("a", &[unit("m", vec![1.0, 0.0]), unit("m", vec![0.0, 1.0])])
            .unwrap();
        idx.add("b", &[unit("m", vec![1.0, 1.0])]).unwrap();
        let q = unit("m", vec![0.1, 1.0]);
        let hits = idx.search_one(&q, 5).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].subject_id, "a");
        assert_eq!(hits[0].reference, 1);
        assert_eq!(hits[1].subject_id, "b");
        assert_eq!(idx.search_one(&q, 1).unwrap().len(), 1);
        assert!(idx.search_one(&q, 0).unwrap().is_empty());
        assert_eq!(idx.references_of("a").len(), 2);
    }

    #[test]
    fn refuses_other_models_and_dimensions() {
        let mut idx = WatchlistIndex::new("m", 2);
        let e = idx.add("a", &[unit("other", vec![1.0, 0.0])]).unwrap_err();
        assert!(matches!(e, FaceError::IndexModelMismatch { .. }), "{e}");
        assert!(idx.is_empty(), "a refused add changes nothing");
        let e = idx
            .search(&[unit("m", vec![1.0, 0.0, 0.0])], 1)
            .unwrap_err();
        assert!(matches!(e, FaceError::DimensionMismatch { .. }), "{e}");
        assert!(idx.search(&[unit("m", vec![1.0, 0.0])], 1).unwrap()[0].is_empty());
    }

    fn vectors(n: usize, dim: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
        proptest::collection::vec(proptest::collection::vec(-1.0f32..1.0, dim), n)
    }

    /// (dim, references, owner of each reference, queries, k)
    type Case = (usize, Vec<Vec<f32>>, Vec<usize>, Vec<Vec<f32>>, usize);

    fn arb_case() -> impl Strategy<Value = Case> {
        (1usize..40, 1usize..80, 1usize..20, 1usize..8).prop_flat_map(|(dim, n, nq, k)| {
            (
                Just(dim),
                vectors(n, dim),
                proptest::collection::vec(0usize..12, n),
                vectors(nq, dim),
                Just(k),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn search_equals_brute_force((dim, refs, owners, queries, k) in arb_case(), threads in 1usize..4) {
            let mut idx = WatchlistIndex::new("m", dim).with_threads(threads);
            let mut norm_refs = Vec::new();
            for (v, o) in refs.iter().zip(&owners) {
                let mut v = v.clone();
                v[0] += 2.0; // never the zero vector
                let e = unit("m", v);
                idx.add(&format!("s{o}"), std::slice::from_ref(&e)).unwrap();
                norm_refs.push(e);
            }
            let qs: Vec<Embedding> = queries.iter().map(|v| {
                let mut v = v.clone();
                v[0] -= 2.0;
                unit("m", v)
            }).collect();
            for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
                if !isa.supported() { continue; }
                let idx = idx.clone().with_isa(isa).unwrap();
                let fast = idx.search(&qs, k).unwrap();
                let slow = idx.search_brute_force(&qs, k).unwrap();
                prop_assert_eq!(fast.len(), slow.len());
                for (f, s) in fast.iter().zip(&slow) {
                    prop_assert_eq!(f.len(), s.len());
                    for (a, b) in f.iter().zip(s) {
                        // Scores agree up to rounding, rank by rank.
                        prop_assert!((a.score - b.score).abs() < 1e-5, "{a:?} vs {b:?}");
                        // Subjects agree unless two scores are tied within rounding.
                        let near_tie = s.iter().filter(|m| (m.score - b.score).abs() < 1e-5).count() > 1
                            || f.len() == k && idx.search_brute_force(&qs, k + 1).unwrap()
                                .iter().any(|l| l.len() > k && (l[k].score - b.score).abs() < 1e-5);
                        if !near_tie {
                            prop_assert_eq!(&a.subject_id, &b.subject_id);
                            prop_assert_eq!(a.reference, b.reference);
                        }
                    }
                }
            }
        }
    }
}
