//! Progress of `featurize` on stderr: an indicatif bar on a terminal, and where there is none (a
//! SLURM job, `nohup`, `2>log`) a plain line at most every [`LINE_EVERY`] and one at the end, so
//! that a batch log shows the encoder is alive and when it will be done (as `run`'s batch lines
//! do, README "Batch logs").

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use activepref_encode::featurize::Progress;
use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The least time between two lines of a batch log.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// The texts encoded so far out of `total`, shown as a bar or as batch-log lines.
pub(crate) struct TextsProgress {
    /// Counts the texts in either mode (hidden without a terminal).
    bar: ProgressBar,
    /// Without a terminal: when the last line was written.
    last_line: Option<Mutex<Instant>>,
}

impl TextsProgress {
    /// Progress over `total` texts; nothing at all when `quiet`.
    pub(crate) fn new(total: usize, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = ProgressBar::new(total as u64);
        if quiet || !terminal {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} texts ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        let last_line = (!quiet && !terminal).then(|| {
            eprintln!(
                "featurize: {total} texts to encode (a line when a chunk of texts finishes, at most once every {} s, and at the end)",
                LINE_EVERY.as_secs()
            );
            Mutex::new(Instant::now())
        });
        Self { bar, last_line }
    }

    /// More texts done: encoded, or found saved (a finished table, an interrupted run's chunks),
    /// which took no encoding time; the rate behind the ETA then starts again from here, so that
    /// a resumed run's first ETA is not read off a burst of saved chunks.
    pub(crate) fn inc(&self, p: Progress) {
        self.bar.inc(p.inputs as u64);
        if p.saved {
            // `inc` records the rate only when its limiter allows; the tick records this
            // position, so that the reset keeps the saved inputs out of the next rate.
            self.bar.tick();
            self.bar.reset_eta();
        }
        let Some(last) = &self.last_line else { return };
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let (pos, total) = (self.bar.position(), self.bar.length().unwrap_or(0));
        if last.elapsed() >= LINE_EVERY || pos >= total {
            *last = Instant::now();
            eprintln!("{}", line(pos, total, self.bar.elapsed(), self.bar.eta()));
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `featurize: 3072/20000 texts (15%), 2 minutes elapsed, eta 5 minutes`; no ETA once done.
fn line(pos: u64, total: u64, elapsed: Duration, eta: Duration) -> String {
    let percent = (100 * pos).checked_div(total).unwrap_or(100);
    let eta = if pos >= total {
        String::new()
    } else {
        format!(", eta {}", HumanDuration(eta))
    };
    format!(
        "featurize: {pos}/{total} texts ({percent}%), {} elapsed{eta}",
        HumanDuration(elapsed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_log_line_says_how_far_and_how_long() {
        let s = Duration::from_secs;
        assert_eq!(
            line(3_072, 20_000, s(120), s(300)),
            "featurize: 3072/20000 texts (15%), 2 minutes elapsed, eta 5 minutes"
        );
        assert_eq!(
            line(20_000, 20_000, s(7_200), s(0)),
            "featurize: 20000/20000 texts (100%), 2 hours elapsed"
        );
        assert_eq!(
            line(0, 0, s(1), s(0)),
            "featurize: 0/0 texts (100%), 1 second elapsed"
        );
    }
}
