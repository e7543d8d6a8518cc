//! The one seed-derivation scheme of activepref.
//!
//! Every random draw comes from a ChaCha8 generator seeded by [`derive_seed`] from a path of
//! integers that names *what* the draw is for; [`rng_for`] builds the generator of
//! `[root, stream, rest...]`. The `rest` elements are named by the constants of this module
//! ([`model_draw`], [`policy_draw`], [`data_draw`], [`initial_draw`], [`NO_MEMBER`], [`NO_ROUND`]):
//!
//! | stream                       | path                                                          |
//! |------------------------------|---------------------------------------------------------------|
//! | synthetic pool data          | `[benchmark seed, Stream::Data]`                              |
//! | synthetic pair data          | `[benchmark seed, Stream::Data, data_draw::PAIR_BENCHMARK]`   |
//! | resplit of pool prompts      | `[resplit seed, Stream::Data, data_draw::RESPLIT]`            |
//! | split of candidate prompts   | `[split seed, Stream::Data, data_draw::PAIR_SPLIT]`           |
//! | generated summarize JSONL    | `[seed, Stream::Data, data_draw::GENERATED_SUMMARIZE]`        |
//! | initial labels / loop order  | `[run seed, Stream::InitialSet]`                              |
//! | cold start (kmeans, kcenter) | `[run seed, Stream::InitialSet, initial_draw::COLD_START]`    |
//! | validation subset            | `[run seed, Stream::InitialSet, initial_draw::VALIDATION_SUBSET]` |
//! | member init                  | `[run seed, Stream::Model, round, member, model_draw::INIT]`  |
//! | shared init (reference)      | `[42, Stream::Model, NO_ROUND, min(member, 1)]`               |
//! | minibatch order              | `[run seed, Stream::Model, round, member, model_draw::ORDER]` |
//! | dropout masks                | `[run seed, Stream::Model, round, member, model_draw::MASK]`  |
//! | MC realisations              | `[run seed, Stream::Model, round, r, model_draw::MC]`         |
//! | Laplace weight samples       | `[run seed, Stream::Model, round, s, model_draw::LAPLACE]`    |
//! | pair-loop refit sample       | `[run seed, Stream::Model, batch, NO_MEMBER, model_draw::PAIR_REFIT]` |
//! | prefix-evaluation fits       | member paths with round `2³² + k` (`k`: the prefix's pairs)   |
//! | policy draws (pool loop)     | `[run seed, Stream::Policy, round]`                           |
//! | score draws (pool loop)      | `[run seed, Stream::Policy, round, policy_draw::SCORE]`       |
//! | pair-rule draws (pair loop)  | `[run seed, Stream::Policy, batch, k]` (`k`: prompt in batch) |
//! | oracle answer (pool loop)    | `[run seed, Stream::Oracle, comparison]` (its pool index)     |
//! | oracle answer (pair loop)    | `[run seed, Stream::Oracle, prompt, i, j]` (`i < j` responses) |
//!
//! The values of these constants are part of every published result: changing one changes every
//! run that uses it.
//!
//! `derive_seed` folds the path with SplitMix64 (Steele, Lea & Flood 2014) so that neighbouring
//! paths give unrelated seeds. No generator is ever shared between threads, so results do not depend
//! on the thread count or on scheduling.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for; its discriminant is part of the seed path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Benchmark data: synthetic benchmarks, prompt splits, generated files (root: a data seed).
    Data = 1,
    /// The run's shuffle of the pool (pool loop) or prompt stream (pair loop) that fixes the initial
    /// labelled set and the loop order (root: the run seed).
    InitialSet = 2,
    /// Model training: initial weights, minibatch order, dropout masks, MC-dropout realisations,
    /// the pair loop's refit sample (root: the run seed); see [`model_draw`].
    Model = 3,
    /// Acquisition: a policy's own draws and stochastic scores (root: the run seed); see
    /// [`policy_draw`].
    Policy = 4,
    /// The oracle's answer to one label query: its Bradley–Terry draw, its flip and its tie coin,
    /// in that order (root: the run seed). The path names the comparison, not the round that asks,
    /// so a comparison gets the same answer whichever round acquires it.
    Oracle = 5,
}

/// The last element of a [`Stream::Model`] path `[round, member, kind]`: which draw of a member.
pub mod model_draw {
    /// A member's initial weights (`[round, member, INIT]`).
    pub const INIT: u64 = 0;
    /// A member's minibatch order over its training set (`[round, member, ORDER]`).
    pub const ORDER: u64 = 1;
    /// A member's dropout masks during training (`[round, member, MASK]`).
    pub const MASK: u64 = 2;
    /// The frozen dropout masks of MC-dropout realisation `r` (`[round, r, MC]`), which act as the
    /// members of the MC-dropout backend (specs/balpm.md §4.5).
    pub const MC: u64 = 3;
    /// The uniform sample of replay-buffer pairs that the pair loop's anchored refit after batch
    /// `t` trains on (`[t, NO_MEMBER, PAIR_REFIT]`; specs/activeuf.md §2.4).
    pub const PAIR_REFIT: u64 = 4;
    /// The standard normal draws of Laplace weight sample `s` (`[round, s, LAPLACE]`).
    pub const LAPLACE: u64 = 5;
}

/// The member slot of a [`Stream::Model`] path whose draw belongs to no single member (the pair
/// loop's refit sample, [`model_draw::PAIR_REFIT`]).
pub const NO_MEMBER: u64 = u64::MAX;

/// The round slot of a [`Stream::Model`] path drawn the same in every round: the reference's shared
/// initialisation (`MemberInit::ReferenceShared`, specs/balpm.md §2 "Seeding"), whose path is
/// `[42, Model, NO_ROUND, min(member, 1)]`.
pub const NO_ROUND: u64 = u64::MAX;

/// Elements after the round in a [`Stream::Policy`] path `[round, ...]` (the bare `[round]` is the
/// policy's own selection stream).
pub mod policy_draw {
    /// The draws of a stochastic uncertainty score in the pool loop (`[round, SCORE]`), kept apart
    /// from the policy's selection stream `[round]`.
    pub const SCORE: u64 = 1;
}

/// Elements after the run seed in a [`Stream::InitialSet`] path (the bare path is the run's
/// shuffle of the pool or prompt stream).
pub mod initial_draw {
    /// The draws of a `kmeans` or `kcenter` cold start that picks the pool loop's initial labelled
    /// set from the shuffled pool (`[COLD_START]`).
    pub const COLD_START: u64 = 1;
    /// The pool loop's seeded subset of the validation split under `loop.validation_size`
    /// (`[VALIDATION_SUBSET]`).
    pub const VALIDATION_SUBSET: u64 = 2;
}

/// The element after the data seed in a [`Stream::Data`] path: which data-level draw. The bare path
/// `[seed, Data]` is the synthetic pool benchmark.
pub mod data_draw {
    /// The synthetic pair (ActiveUltraFeedback-style) benchmark's world and prompts.
    pub const PAIR_BENCHMARK: u64 = 2;
    /// The shuffle of distinct pool prompts that a resplit moves into validation / test / OOD.
    pub const RESPLIT: u64 = 7;
    /// The shuffle of candidate-pool prompts into stream / validation / held-out.
    pub const PAIR_SPLIT: u64 = 8;
    /// The made-up summarize-from-feedback JSON-lines records written for load benchmarks.
    pub const GENERATED_SUMMARIZE: u64 = 99;
}

/// SplitMix64 finaliser: a bijective 64-bit mixer.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Folds a path of integers into one 64-bit seed (SplitMix64 of each element, chained).
pub fn derive_seed(path: &[u64]) -> u64 {
    path.iter().fold(0x6A09_E667_F3BC_C908, |acc, &x| {
        splitmix64(acc ^ splitmix64(x))
    })
}

/// The ChaCha8 generator for the path `[root, stream, rest...]`, seeded with [`derive_seed`] of it.
///
/// # Example
///
/// ```
/// use activepref_core::seeds::{Stream, derive_seed, model_draw, rng_for};
/// use rand::RngExt;
///
/// // The same path always gives the same draws ...
/// let (run_seed, round, member) = (7, 2, 1);
/// let mut a = rng_for(run_seed, Stream::Model, &[round, member, model_draw::INIT]);
/// let mut b = rng_for(run_seed, Stream::Model, &[round, member, model_draw::INIT]);
/// assert_eq!(a.random::<u64>(), b.random::<u64>());
///
/// // ... because `rng_for` seeds ChaCha8 from `derive_seed([root, stream, rest...])`,
/// let path = [run_seed, Stream::Model as u64, round, member, model_draw::INIT];
/// let mut c: rand_chacha::ChaCha8Rng = rand::SeedableRng::seed_from_u64(derive_seed(&path));
/// let mut a = rng_for(run_seed, Stream::Model, &[round, member, model_draw::INIT]);
/// assert_eq!(a.random::<u64>(), c.random::<u64>());
///
/// // ... and any other path (here: the minibatch order of the same member) gives another seed.
/// assert_ne!(
///     derive_seed(&path),
///     derive_seed(&[run_seed, Stream::Model as u64, round, member, model_draw::ORDER]),
/// );
/// ```
pub fn rng_for(root: u64, stream: Stream, rest: &[u64]) -> ChaCha8Rng {
    let mut path = Vec::with_capacity(2 + rest.len());
    path.push(root);
    path.push(stream as u64);
    path.extend_from_slice(rest);
    ChaCha8Rng::seed_from_u64(derive_seed(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn paths_are_order_sensitive_and_stable() {
        assert_ne!(derive_seed(&[1, 2]), derive_seed(&[2, 1]));
        assert_ne!(derive_seed(&[0]), derive_seed(&[0, 0]));
        assert_eq!(derive_seed(&[9, 3, 0, 1]), derive_seed(&[9, 3, 0, 1]));
        // SplitMix64 of 0 is a published constant: guards against accidental edits of the mixer.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    /// The path constants are part of every published result: a changed value changes every run.
    #[test]
    fn path_constants_are_frozen() {
        use model_draw::{INIT, LAPLACE, MASK, MC, ORDER, PAIR_REFIT};
        assert_eq!(
            (INIT, ORDER, MASK, MC, PAIR_REFIT, LAPLACE),
            (0, 1, 2, 3, 4, 5)
        );
        assert_eq!((NO_MEMBER, NO_ROUND), (u64::MAX, u64::MAX));
        assert_eq!((policy_draw::SCORE, initial_draw::COLD_START), (1, 1));
        assert_eq!(
            (
                data_draw::PAIR_BENCHMARK,
                data_draw::RESPLIT,
                data_draw::PAIR_SPLIT,
                data_draw::GENERATED_SUMMARIZE
            ),
            (2, 7, 8, 99)
        );
        let streams = [
            Stream::Data,
            Stream::InitialSet,
            Stream::Model,
            Stream::Policy,
            Stream::Oracle,
        ];
        assert_eq!(streams.map(|s| s as u64), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn same_path_same_draws() {
        let a: Vec<u32> = (0..4)
            .map({
                let mut r = rng_for(5, Stream::Model, &[1, 2]);
                move |_| r.random()
            })
            .collect();
        let b: Vec<u32> = (0..4)
            .map({
                let mut r = rng_for(5, Stream::Model, &[1, 2]);
                move |_| r.random()
            })
            .collect();
        assert_eq!(a, b);
    }
}
