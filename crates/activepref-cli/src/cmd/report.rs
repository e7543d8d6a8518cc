//! `activepref report`: remakes the report of a results directory (or of every grid point of a
//! sweep's results root, plus one ablation report per grid). The work is
//! `activepref_report::results`; this prints what it did.

use std::path::{Path, PathBuf};

use activepref_core::saving::SavingDefinition;
use activepref_experiment::Experiment;
use activepref_report::results::{
    ReportLine, ReportLog, ReportOverrides, report_experiment, report_results,
};

use crate::say;

/// The arguments of `activepref report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A results directory written by `activepref run`.
    pub results: PathBuf,
    /// Override the smoothing window of the experiment file: a trailing mean over this many
    /// rounds of each run's curve, 1 (no smoothing) to 10000.
    #[arg(long, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub window: Option<usize>,
    /// Override the label-saving definition of the experiment file (`report.saving`).
    #[arg(long)]
    pub saving: Option<SavingDefinition>,
    /// Override the bootstrap resamples behind each saving's 95% interval (0: none).
    #[arg(long, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub bootstrap: Option<usize>,
    /// Report an unfinished experiment (runs paused by --max-rounds, interrupted or still going):
    /// every run cut at the fewest rounds any has finished, written to RESULTS/partial/report/
    /// (the experiment's own report is left as it is). One results directory, not a sweep root
    #[arg(long)]
    pub partial: bool,
}

/// `activepref report <dir>`.
pub fn run(a: &ReportArgs) -> anyhow::Result<()> {
    let over = ReportOverrides {
        window: a.window,
        saving: a.saving,
        bootstrap: a.bootstrap,
    };
    if a.partial {
        let mut log = ReportLog::new();
        let result = activepref_report::partial::report_partial(&a.results, over, &mut log);
        print_log(&log);
        result?;
        return Ok(());
    }
    report_dir(&a.results, over)
}

/// The report of results directory (or sweep results root) `results`, printed as it goes.
pub(crate) fn report_dir(results: &Path, over: ReportOverrides) -> anyhow::Result<()> {
    let mut log = ReportLog::new();
    let result = report_results(results, over, &mut log);
    print_log(&log);
    result?;
    Ok(())
}

/// The report of experiment `exp`'s results directory, just after its runs.
pub(crate) fn report_one(exp: &Experiment) -> anyhow::Result<()> {
    let mut log = ReportLog::new();
    let result = report_experiment(&exp.output_dir(), exp, ReportOverrides::default(), &mut log);
    print_log(&log);
    result?;
    Ok(())
}

/// `wrote <path>` on stdout, `warning: ...` on stderr, in order.
fn print_log(log: &ReportLog) {
    for line in log {
        match line {
            ReportLine::Wrote(path) => say!("wrote {}", path.display()),
            ReportLine::Warning(w) => eprintln!("warning: {w}"),
        }
    }
}
