//! Progress of an experiment on stderr: an indicatif bar on a terminal, and one plain line per
//! finished round where there is none (a SLURM job, `nohup`, `2>log`), so that a batch log shows
//! where a run is and when it will end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing (`--quiet`, or a library caller).
    Off,
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// One line per finished round on stderr.
    Lines,
}

/// The progress of one `run_experiment` call: `total` rounds still to run.
pub(crate) struct Progress {
    mode: Mode,
    bar: ProgressBar,
    start: Instant,
    total: u64,
    /// Rounds finished by this process (the rate behind the ETA).
    done_now: AtomicU64,
    /// Rounds finished before it (resumed runs).
    done_before: AtomicU64,
    /// What the rounds finished so far cost, for the ETA.
    eta: Arc<Mutex<EtaModel>>,
    /// `[grid point 2/6 beta/beta=1] ` in a sweep, else empty.
    prefix: String,
}

/// `[grid point 2/6 beta/beta=0.1] ` before every progress line of a sweep (empty: nothing).
pub(crate) fn bracketed(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("[{prefix}] ")
    }
}

/// `1 h 02 min`, `3 min 20 s`, `12.5 s`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

impl Progress {
    /// `enabled`: the caller wants progress (not `--quiet`); the mode follows from whether
    /// stderr is a terminal.
    pub(crate) fn new(enabled: bool, total: u64, prefix: &str) -> Self {
        let mode = match (enabled, std::io::stderr().is_terminal()) {
            (false, _) => Mode::Off,
            (true, true) => Mode::Bar,
            (true, false) => Mode::Lines,
        };
        let bar = if mode == Mode::Bar {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        let eta = Arc::new(Mutex::new(EtaModel::default()));
        let for_bar = Arc::clone(&eta);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix}{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rounds (eta {fitted_eta}) {msg}",
            )
            .expect("valid template")
            .with_key(
                "fitted_eta",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let model = for_bar.lock().unwrap_or_else(|e| e.into_inner());
                    let text = model.eta(state.elapsed()).map_or("…".into(), human);
                    let _ = w.write_str(&text);
                },
            ),
        );
        let prefix = bracketed(prefix);
        bar.set_prefix(prefix.clone());
        Self {
            mode,
            bar,
            start: Instant::now(),
            total,
            done_now: AtomicU64::new(0),
            done_before: AtomicU64::new(0),
            eta,
            prefix,
        }
    }

    /// A status message (on the bar, or as its own line).
    pub(crate) fn message(&self, msg: String) {
        match self.mode {
            Mode::Bar => self.bar.set_message(msg),
            Mode::Lines => eprintln!("{}{msg}", self.prefix),
            Mode::Off => {}
        }
    }

    /// A status shown on the bar only (too frequent for a batch log).
    pub(crate) fn status(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// A line that must be seen whatever the mode (warnings and errors).
    pub(crate) fn println(&self, msg: String) {
        match self.mode {
            Mode::Bar => self.bar.println(msg),
            _ => eprintln!("{}{msg}", self.prefix),
        }
    }

    /// `n` rounds of a resumed run were finished by an earlier invocation.
    pub(crate) fn resumed(&self, n: u64) {
        self.done_before.fetch_add(n, Ordering::Relaxed);
        self.bar.inc(n);
    }

    /// Run `run` of `runs` (`stem`) finished round `round` (1-based) of `rounds`, which took
    /// `secs` seconds.
    pub(crate) fn round_done(
        &self,
        (run, runs): (usize, usize),
        stem: &str,
        (round, rounds): (usize, usize),
        secs: f64,
    ) {
        let now = self.done_now.fetch_add(1, Ordering::Relaxed) + 1;
        let before = self.done_before.load(Ordering::Relaxed);
        let left = self.total.saturating_sub(now + before);
        let elapsed = self.start.elapsed();
        let eta = {
            let mut model = self.eta.lock().unwrap_or_else(|e| e.into_inner());
            model.record(run, round, rounds, secs, left);
            model.eta(elapsed).expect("a round was just recorded")
        };
        self.bar.inc(1);
        if self.mode != Mode::Lines {
            return;
        }
        eprintln!(
            "{}run {run}/{runs} {stem}: round {round}/{rounds} done; {}/{} rounds in all, elapsed {}, eta {}",
            self.prefix,
            now + before,
            self.total,
            human(elapsed),
            human(eta)
        );
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A line on stderr for a step that turns out slow: nothing when the step ends within
/// [`SlowNotice::AFTER`] (so a quick error stays one line), else `<what>...` then, when it ends,
/// `<what>: done in 74.2 s` when the notice is dropped. Batch logs thus show what a silent minute is spent on.
pub struct SlowNotice {
    state: Arc<(Mutex<Option<Instant>>, Condvar)>,
    what: String,
}

impl SlowNotice {
    /// How long a step may take before it is announced.
    pub const AFTER: Duration = Duration::from_secs(2);

    /// Starts timing `what`; the line appears only once the step has taken [`Self::AFTER`].
    pub fn start(what: String) -> Self {
        let state = Arc::new((Mutex::new(Some(Instant::now())), Condvar::new()));
        let (s, line) = (state.clone(), what.clone());
        std::thread::spawn(move || {
            let (lock, cv) = &*s;
            let guard = lock.lock().expect("no poisoned lock");
            let (guard, timeout) = cv
                .wait_timeout_while(guard, Self::AFTER, |started| started.is_some())
                .expect("no poisoned lock");
            if timeout.timed_out() && guard.is_some() {
                eprintln!("{line}...");
            }
        });
        Self { state, what }
    }
}

impl Drop for SlowNotice {
    fn drop(&mut self) {
        let (lock, cv) = &*self.state;
        let started = lock.lock().expect("no poisoned lock").take();
        cv.notify_all();
        if let Some(t) = started
            && t.elapsed() >= Self::AFTER
        {
            eprintln!("{}: done in {:.1} s", self.what, t.elapsed().as_secs_f64());
        }
    }
}

/// The time left, from what rounds cost so far: in BAL-PM's setting a round trains on more labels
/// than the one before, so a run's later rounds take longer and a linear extrapolation of the
/// rounds done would promise a paper-scale run in a quarter of its time. A least-squares line
/// `secs ≈ a + b · round` over every finished round (b ≥ 0) prices each round still to run; the
/// sum is divided by the concurrency seen so far (seconds of rounds per second of wall time).
#[derive(Debug, Default)]
struct EtaModel {
    /// `(round, secs)` of every round finished by this process.
    done: Vec<(f64, f64)>,
    /// Per run: the last round finished and the run's number of rounds.
    runs: std::collections::BTreeMap<usize, (usize, usize)>,
    /// Rounds still to run, over every run (the progress bar's count).
    left: u64,
}

impl EtaModel {
    fn record(&mut self, run: usize, round: usize, rounds: usize, secs: f64, left: u64) {
        self.done.push((round as f64, secs.max(0.0)));
        self.runs.insert(run, (round, rounds));
        self.left = left;
    }

    /// `secs ≈ a + b · round`, b ≥ 0; `None` before any round.
    fn line(&self) -> Option<(f64, f64)> {
        let n = self.done.len() as f64;
        if n == 0.0 {
            return None;
        }
        let (mx, my) = self
            .done
            .iter()
            .fold((0.0, 0.0), |(x, y), &(r, s)| (x + r, y + s));
        let (mx, my) = (mx / n, my / n);
        let sxx: f64 = self.done.iter().map(|&(r, _)| (r - mx).powi(2)).sum();
        let sxy: f64 = self.done.iter().map(|&(r, s)| (r - mx) * (s - my)).sum();
        let b = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
        Some((my - b * mx, b))
    }

    /// Wall time left, given the wall time `elapsed` so far; `None` before any round.
    fn eta(&self, elapsed: Duration) -> Option<Duration> {
        let (a, b) = self.line()?;
        let cost = |r: usize| (a + b * r as f64).max(0.0);
        // Rounds of the runs seen so far, priced by their index; rounds of runs not seen yet
        // (left over) priced as a whole run's average round.
        let mut left = self.left as f64;
        let mut secs = 0.0;
        for &(done, rounds) in self.runs.values() {
            let rest = rounds.saturating_sub(done);
            secs += (done + 1..=rounds).map(cost).sum::<f64>();
            left -= rest as f64;
        }
        if left > 0.0 {
            let rounds = self
                .runs
                .values()
                .map(|&(_, r)| r)
                .max()
                .unwrap_or(1)
                .max(1);
            let mean = (1..=rounds).map(cost).sum::<f64>() / rounds as f64;
            secs += left * mean;
        }
        let spent: f64 = self.done.iter().map(|&(_, s)| s).sum();
        let concurrency = if elapsed.as_secs_f64() > 0.0 && spent > 0.0 {
            (spent / elapsed.as_secs_f64()).max(1.0)
        } else {
            1.0
        };
        Some(Duration::from_secs_f64(secs / concurrency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds that grow by 10 s each: after rounds 1–3 (10, 20, 30 s) of a 5-round run, rounds 4
    /// and 5 cost 40 + 50 s, where the linear extrapolation would say 40 s.
    #[test]
    fn eta_prices_growing_rounds_by_their_index() {
        let mut m = EtaModel::default();
        for (round, secs) in [(1, 10.0), (2, 20.0), (3, 30.0)] {
            m.record(0, round, 5, secs, 5 - round as u64);
        }
        assert_eq!(
            m.eta(Duration::from_secs(60)),
            Some(Duration::from_secs(90))
        );
        // A run not started yet adds its rounds at the average round cost: one round of 10 s
        // seen, one left in that run and two in the next.
        let mut m = EtaModel::default();
        m.record(0, 1, 2, 10.0, 3);
        assert_eq!(
            m.eta(Duration::from_secs(10)),
            Some(Duration::from_secs(30))
        );
        // Two runs side by side (twice the round seconds per wall second) halve the time.
        m.record(1, 1, 2, 10.0, 2);
        assert_eq!(
            m.eta(Duration::from_secs(10)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(EtaModel::default().eta(Duration::from_secs(5)), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_millis(12_500)), "12.5 s");
        assert_eq!(human(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human(Duration::from_secs(3_720)), "1 h 02 min");
    }
}
