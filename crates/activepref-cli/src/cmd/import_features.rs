//! `activepref import-features`: a BAL-PM hub file (CSV or Parquet) or a `.npy` array into a
//! feature store, refusing a file of the other layout and a table the store already holds.

use std::path::{Path, PathBuf};

use activepref_data::feature_store::{FeatureTable, HubLayout, import_balpm_hub, table_path};
use activepref_data::text::SplitRole;
use anyhow::anyhow;

use crate::say;

/// What `import-features` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportLayout {
    /// BAL-PM hub CSV/parquet `id, 0..2d-1`: writes pair_a and pair_b.
    BalpmPair,
    /// BAL-PM hub CSV/parquet `id, 0..d-1`: writes prompt.
    BalpmPrompt,
    /// A rows x dim .npy array: writes --table.
    Npy,
}

/// A table of a feature store split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableName {
    /// (prompt, response A) features.
    #[value(name = "pair_a")]
    PairA,
    /// (prompt, response B) features.
    #[value(name = "pair_b")]
    PairB,
    /// Prompt-only features (BAL-PM's entropy term).
    Prompt,
    /// One imported score per comparison (`score: imported` / `imported_low`, the perplexity
    /// baselines): a one-column npy, or `--layout balpm-prompt` with columns `id, 0`.
    Score,
}

impl TableName {
    fn name(self) -> &'static str {
        match self {
            TableName::PairA => "pair_a",
            TableName::PairB => "pair_b",
            TableName::Prompt => "prompt",
            TableName::Score => "score",
        }
    }
}

/// The arguments of `activepref import-features`.
#[derive(clap::Args, Debug)]
pub struct ImportFeaturesArgs {
    /// The file to import.
    pub file: PathBuf,
    /// How the file lays out its rows.
    #[arg(long)]
    pub layout: ImportLayout,
    /// The split the rows belong to (aliases: train = pool; valid, valid1, eval = validation).
    #[arg(long)]
    pub split: SplitRole,
    /// The feature store directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// For npy: the table the array fills.
    #[arg(long)]
    pub table: Option<TableName>,
    /// For npy: a text file with one row id per line (default 0, 1, 2, ...).
    #[arg(long, value_name = "FILE")]
    pub ids: Option<PathBuf>,
    /// Replace a table the store already holds (without it, an existing table is refused).
    #[arg(long)]
    pub replace: bool,
}

/// `activepref import-features`: a BAL-PM hub file or a `.npy` array into a feature store.
pub fn import_features(a: &ImportFeaturesArgs) -> anyhow::Result<()> {
    let (layout, file, role, out, table, ids) = (
        a.layout,
        a.file.as_path(),
        a.split,
        a.out.as_path(),
        a.table,
        a.ids.as_deref(),
    );
    refuse_other_layout(file, layout)?;
    refuse_existing(out, role.name(), (layout, table), a.replace)?;
    let written: Vec<(String, FeatureTable)> = match layout {
        ImportLayout::BalpmPair | ImportLayout::BalpmPrompt => {
            let l = if layout == ImportLayout::BalpmPair {
                HubLayout::Pair
            } else {
                HubLayout::Prompt
            };
            // `--table score` keeps the prompt layout (`id, 0..d-1`) but writes the score table.
            let rename = match (layout, table) {
                (ImportLayout::BalpmPrompt, Some(TableName::Score)) => Some("score"),
                (_, None) => None,
                (_, Some(t)) => {
                    return Err(anyhow!(
                        "--table {} applies to --layout npy (any table) or balpm-prompt (score only)",
                        t.name()
                    ));
                }
            };
            import_balpm_hub(file, l)?
                .tables
                .into_iter()
                .map(|(n, t)| (rename.unwrap_or(n).to_string(), t))
                .collect()
        }
        ImportLayout::Npy => {
            let table = table.ok_or_else(|| {
                anyhow!("--table is required with --layout npy (pair_a, pair_b, prompt or score)")
            })?;
            let ids = match ids {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| anyhow!("{}: cannot read ids ({e})", p.display()))?
                        .lines()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect(),
                ),
                None => None,
            };
            vec![(
                table.name().to_string(),
                FeatureTable::import_npy(file, ids)?,
            )]
        }
    };
    for (name, t) in &written {
        check_import(file, name, t)?;
    }
    for (name, t) in written {
        let p = table_path(out, role.name(), &name);
        t.save(&p)?;
        say!(
            "wrote {} ({} rows x {} dims)",
            p.display(),
            t.rows(),
            t.dim()
        );
    }
    Ok(())
}

/// A file of the other layout: a `.npy` array (its magic bytes) given a BAL-PM hub layout, which
/// reads CSV or Parquet columns, or a `.csv`/`.parquet` file given `--layout npy`. The error
/// names the layout that reads it.
fn refuse_other_layout(file: &Path, layout: ImportLayout) -> anyhow::Result<()> {
    let said = if layout == ImportLayout::Npy {
        let table = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("parquet"));
        if !table {
            return Ok(());
        }
        "a table, which --layout npy does not read; a BAL-PM hub file (columns `id, 0, 1, ...`) takes --layout balpm-pair (pair features) or balpm-prompt (prompt features, or --table score)"
    } else {
        // Only a regular file is peeked at: a pipe's bytes would be gone for the reader.
        use std::io::Read;
        let mut magic = [0u8; 6];
        let npy = std::fs::metadata(file).is_ok_and(|m| m.is_file())
            && std::fs::File::open(file)
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok()
            && &magic == b"\x93NUMPY";
        if !npy {
            return Ok(()); // the reader reads it or says why
        }
        "a .npy array, which --layout balpm-pair and balpm-prompt (CSV or Parquet with columns `id, 0, 1, ...`) do not read; import it with --layout npy --table <pair_a|pair_b|prompt|score>"
    };
    Err(anyhow!("{}: {said}", file.display()))
}

/// The tables an import will write, refused before a long import when the store holds one and
/// `replace` is not given.
fn refuse_existing(
    out: &Path,
    split: &str,
    (layout, table): (ImportLayout, Option<TableName>),
    replace: bool,
) -> anyhow::Result<()> {
    let names: Vec<&str> = match (layout, table) {
        (ImportLayout::BalpmPair, _) => vec!["pair_a", "pair_b"],
        (ImportLayout::BalpmPrompt, Some(TableName::Score)) => vec!["score"],
        (ImportLayout::BalpmPrompt, _) => vec!["prompt"],
        (ImportLayout::Npy, t) => t.map(|t| t.name()).into_iter().collect(),
    };
    match names
        .iter()
        .map(|n| table_path(out, split, n))
        .find(|p| p.exists())
    {
        Some(p) if !replace => Err(anyhow!(
            "{}: the store already holds this table; pass --replace to overwrite it, or choose another --out",
            p.display()
        )),
        _ => Ok(()),
    }
}

/// An imported table is refused when it is empty or when a `score` table has more than one
/// column ([`refuse_existing`] refuses a table the store holds, before the import).
fn check_import(file: &Path, name: &str, t: &FeatureTable) -> anyhow::Result<()> {
    if t.rows() == 0 || t.dim() == 0 {
        return Err(anyhow!(
            "{}: holds {} rows x {} dims; a feature table needs at least one row and one dimension",
            file.display(),
            t.rows(),
            t.dim()
        ));
    }
    if name == "score" && t.dim() != 1 {
        return Err(anyhow!(
            "{}: has {} columns, but a score table holds one number per row",
            file.display(),
            t.dim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` array given a hub layout, and a CSV or Parquet table given `--layout npy`, are
    /// refused naming the layout that reads them; a file of the right layout passes to its reader.
    #[test]
    fn a_file_of_the_other_layout_names_the_layout_that_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let (npy, csv) = (dir.path().join("a.npy"), dir.path().join("t.csv"));
        std::fs::write(&npy, b"\x93NUMPY\x01\x00rest of the header").unwrap();
        std::fs::write(&csv, "id,0\na,1\n").unwrap();
        let refused = |f: &Path, l| refuse_other_layout(f, l).unwrap_err().to_string();
        for layout in [ImportLayout::BalpmPair, ImportLayout::BalpmPrompt] {
            let e = refused(&npy, layout);
            assert!(
                e.ends_with("a.npy: a .npy array, which --layout balpm-pair and balpm-prompt (CSV or Parquet with columns `id, 0, 1, ...`) do not read; import it with --layout npy --table <pair_a|pair_b|prompt|score>"),
                "{e}"
            );
            refuse_other_layout(&csv, layout).unwrap();
        }
        assert!(refused(&csv, ImportLayout::Npy).ends_with("t.csv: a table, which --layout npy does not read; a BAL-PM hub file (columns `id, 0, 1, ...`) takes --layout balpm-pair (pair features) or balpm-prompt (prompt features, or --table score)"));
        refuse_other_layout(&npy, ImportLayout::Npy).unwrap();
        // A table by its name alone, however short (nothing is read for --layout npy).
        assert!(refused(&dir.path().join("empty.parquet"), ImportLayout::Npy).contains("a table"));
        // Unreadable or too short: left to the reader, which says why.
        refuse_other_layout(&dir.path().join("absent.npy"), ImportLayout::BalpmPair).unwrap();
    }
}
