//! The pool loop's labels: the oracle's answers drawn once per run, the labelled split they
//! train on, and what each round records of them (label cost, flipped and tied answers).

use super::*;

impl PoolLoop<'_> {
    /// Draws the oracle's answer to every pool comparison, once per run (nothing under the
    /// default oracle). The answers depend only on the run seed and the comparison, so a resumed
    /// run draws the same ones.
    pub(super) fn draw_answers(&mut self) -> Result<(), LoopError> {
        let oracle = &self.config.oracle;
        if oracle.prices_words() && self.bench.pool.lengths.is_none() {
            return Err(LoopError::Oracle {
                why: format!(
                    "loop.oracle.cost prices words, but benchmark `{}` has no word counts; add `lengths:` to a synthetic benchmark, or price per_label only",
                    self.bench.name
                ),
            });
        }
        if !oracle.changes_answers() || self.answers.is_some() {
            return Ok(());
        }
        let pool = &self.bench.pool;
        let gaps = match (&pool.latent_gap, oracle.needs_gap()) {
            (Some(g), _) => Some(g.as_slice()),
            (None, false) => None,
            (None, true) => {
                return Err(LoopError::Oracle {
                    why: format!(
                        "kind: bradley_terry and ties need each comparison's latent reward gap, which benchmark `{}` does not have (only the synthetic benchmark has one); use flip alone",
                        self.bench.name
                    ),
                });
            }
        };
        let answers = (0..pool.len())
            .map(|i| {
                let gap = gaps.map_or(0.0, |g| g[i]);
                oracle.answer(self.run_seed, &[i as u64], pool.a_preferred[i], gap)
            })
            .collect();
        self.answers = Some(answers);
        Ok(())
    }

    /// The oracle's answer for pool comparison `i`.
    pub(super) fn answer(&self, i: usize) -> Answer {
        match &self.answers {
            Some(a) => a[i],
            None => Answer::Prefers(self.bench.pool.a_preferred[i]),
        }
    }

    /// The comparisons `labelled` as a training split, with the oracle's answers as labels,
    /// dropped ties left out and kept ties (`half`) in both orientations, A's first.
    pub(super) fn labelled_split(&self, labelled: &[usize]) -> PoolSplit {
        let Some(answers) = &self.answers else {
            return self.bench.pool.subset(labelled);
        };
        let (kept, labels): (Vec<usize>, Vec<bool>) = labelled
            .iter()
            .flat_map(|&i| match answers[i] {
                Answer::Prefers(a) => vec![(i, a)],
                Answer::Tie => vec![(i, true), (i, false)],
                Answer::Dropped => vec![],
            })
            .unzip();
        let mut split = self.bench.pool.subset(&kept);
        split.a_preferred = labels;
        split
    }

    /// Records what the oracle charged for `labelled` (nothing without `oracle.cost`), summed in
    /// `labelled` order.
    pub(super) fn record_cost(&self, labelled: &[usize], record: &mut RoundRecord) {
        if let Some(cost) = &self.config.oracle.cost {
            let lengths = self.bench.pool.lengths.as_deref();
            record.label_cost = Some(
                labelled
                    .iter()
                    .map(|&i| cost.of(lengths.map(|l| &l[i])))
                    .sum(),
            );
        }
    }

    /// Records how many of `labelled` the oracle flipped or dropped (nothing under the default
    /// oracle).
    pub(super) fn record_oracle(&self, labelled: &[usize], record: &mut RoundRecord) {
        let Some(answers) = &self.answers else {
            return;
        };
        let truth = &self.bench.pool.a_preferred;
        let count = |keep: &dyn Fn(usize, Answer) -> bool| {
            labelled.iter().filter(|&&i| keep(i, answers[i])).count()
        };
        record.oracle_flipped = Some(count(
            &|i, a| matches!(a, Answer::Prefers(p) if p != truth[i]),
        ));
        record.oracle_dropped = Some(count(&|_, a| a == Answer::Dropped));
        record.oracle_ties = Some(count(&|_, a| a == Answer::Tie));
    }
}
