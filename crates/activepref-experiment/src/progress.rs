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
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix}{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rounds (eta {eta}) {msg}",
            )
            .expect("valid template"),
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

    /// Run `run` of `runs` (`stem`) finished round `round` (1-based) of `rounds`.
    pub(crate) fn round_done(
        &self,
        (run, runs): (usize, usize),
        stem: &str,
        round: usize,
        rounds: usize,
    ) {
        self.bar.inc(1);
        let now = self.done_now.fetch_add(1, Ordering::Relaxed) + 1;
        if self.mode != Mode::Lines {
            return;
        }
        let before = self.done_before.load(Ordering::Relaxed);
        let elapsed = self.start.elapsed();
        let left = self.total.saturating_sub(now + before);
        let eta = elapsed.mul_f64(left as f64 / now as f64);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_millis(12_500)), "12.5 s");
        assert_eq!(human(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human(Duration::from_secs(3_720)), "1 h 02 min");
    }
}
