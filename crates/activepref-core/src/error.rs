//! The error of every configuration check: which field, what is wrong and how to fix it.

/// A configuration value that cannot be used, printed as `field: message`.
///
/// `field` is a dotted path relative to the section that was checked (`batch_size`,
/// `policies.balpm.k`); a caller that owns the enclosing section prefixes it with [`within`], and
/// the experiment file adds the file name, so the user reads `file: loop.batch_size: message`.
///
/// [`within`]: FieldError::within
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field relative to the checked section (`batch_size`,
    /// `policies.balpm.k`); empty for the section itself.
    pub field: String,
    /// What is wrong and, where there is one, how to fix it.
    pub message: String,
}

impl FieldError {
    /// An error for `field` (a dotted path) with `message` (what is wrong, how to fix it).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from the enclosing section: `within("loop")` turns `batch_size` into
    /// `loop.batch_size`.
    pub fn within(mut self, section: &str) -> Self {
        self.field = if self.field.is_empty() {
            section.to_string()
        } else {
            format!("{section}.{}", self.field)
        };
        self
    }

    /// Checks that a count lies in `[min, max]`; the error names the bound it broke, so that a
    /// value that would overflow or never finish (`rounds: 1152921504606846977`) is refused with
    /// the range that makes sense.
    ///
    /// ```
    /// use activepref_core::FieldError;
    /// assert!(FieldError::check_count("rounds", 75, 1, 100_000).is_ok());
    /// let e = FieldError::check_count("rounds", 1 << 60, 1, 100_000).unwrap_err();
    /// assert_eq!(e.to_string(), "rounds: is 1152921504606846976; must be between 1 and 100000");
    /// ```
    ///
    /// # Errors
    /// When `value < min` or `value > max`.
    pub fn check_count(field: &str, value: usize, min: usize, max: usize) -> Result<(), Self> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(Self::new(
                field,
                format!("is {value}; must be between {min} and {max}"),
            ))
        }
    }

    /// Checks that a real number is finite and lies in `range` (closed or open at each end, as
    /// `0.0..=1.0` or `(Bound::Excluded(0.0), Bound::Included(1e6))`); the error gives the value as
    /// the file wrote it, the interval in mathematical notation and, when `why` is not empty,
    /// why the range is what it is. NaN and ±infinity are never in range.
    ///
    /// ```
    /// use std::ops::Bound::{Excluded, Included};
    /// use activepref_core::FieldError;
    /// assert!(FieldError::check_real("beta", 0.5f32, 0.0..=1e6, "").is_ok());
    /// let e = FieldError::check_real("eps", 1e30, (Excluded(0.0), Included(1.0)), "it keeps a log finite");
    /// assert_eq!(e.unwrap_err().to_string(), "eps: is 1e30; must be a number in (0, 1]; it keeps a log finite");
    /// let e = FieldError::check_real("tol", f64::NAN, 0.0..=1e6, "").unwrap_err();
    /// assert_eq!(e.to_string(), "tol: is NaN; must be a number in [0, 1e6]");
    /// ```
    ///
    /// # Errors
    /// When `value` is NaN, infinite or outside `range`.
    pub fn check_real<T>(
        field: &str,
        value: T,
        range: impl std::ops::RangeBounds<f64>,
        why: &str,
    ) -> Result<(), Self>
    where
        T: Copy + Into<f64> + std::fmt::Display + std::fmt::LowerExp,
    {
        let v: f64 = value.into();
        if v.is_finite() && range.contains(&v) {
            return Ok(());
        }
        use std::ops::Bound;
        let (open, lo) = match range.start_bound() {
            Bound::Included(&x) => ("[", show(x)),
            Bound::Excluded(&x) => ("(", show(x)),
            Bound::Unbounded => ("(", "-inf".to_string()),
        };
        let (hi, close) = match range.end_bound() {
            Bound::Included(&x) => (show(x), "]"),
            Bound::Excluded(&x) => (show(x), ")"),
            Bound::Unbounded => ("inf".to_string(), ")"),
        };
        let shown = if v.is_nan() {
            "NaN".to_string()
        } else if v.is_infinite() {
            (if v > 0.0 { "inf" } else { "-inf" }).to_string()
        } else {
            show(value)
        };
        let why = if why.is_empty() {
            String::new()
        } else {
            format!("; {why}")
        };
        Err(Self::new(
            field,
            format!("is {shown}; must be a number in {open}{lo}, {hi}{close}{why}"),
        ))
    }
}

/// A number of a [`FieldError::check_real`] message: plain from 10⁻⁴ to below 10⁵ (`0.5`,
/// `4308`), else in exponent form (`1e6`, `1e-8`), in the value's own type (an f32 `0.1` is
/// `0.1`, not its f64 widening).
fn show<T: Copy + Into<f64> + std::fmt::Display + std::fmt::LowerExp>(x: T) -> String {
    let a = x.into().abs();
    if a != 0.0 && !(1e-4..1e5).contains(&a) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// The first `shown` of `items` joined by commas, and how many more there are, for one-line
/// errors that would otherwise list dozens of keys or paths.
///
/// ```
/// use activepref_core::error::first_few;
/// let items: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
/// assert_eq!(first_few(&items, 2), "a, b, and 1 more");
/// assert_eq!(first_few(&items, 3), "a, b, c");
/// ```
pub fn first_few(items: &[String], shown: usize) -> String {
    let mut said = items[..items.len().min(shown)].join(", ");
    if items.len() > shown {
        said.push_str(&format!(", and {} more", items.len() - shown));
    }
    said
}

/// `n` and the noun in the number it takes, for counts in messages.
///
/// ```
/// use activepref_core::error::counted;
/// assert_eq!(counted(1, "seed", "seeds"), "1 seed");
/// assert_eq!(counted(0, "run", "runs"), "0 runs");
/// ```
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `text` quoted for a POSIX shell where it needs quoting, for the commands messages suggest;
/// as is where it cannot be quoted (a NUL byte).
///
/// ```
/// use activepref_core::error::shell_quoted;
/// assert_eq!(shell_quoted("results/quickstart"), "results/quickstart");
/// assert_eq!(shell_quoted("my data/hh.jsonl"), "'my data/hh.jsonl'");
/// ```
pub fn shell_quoted(text: &str) -> String {
    shlex::try_quote(text).map_or_else(|_| text.to_string(), |q| q.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_prefixes_the_field_path() {
        let e = FieldError::new("k", "must be at least 1")
            .within("balpm")
            .within("policies");
        assert_eq!(e.field, "policies.balpm.k");
        assert_eq!(e.to_string(), "policies.balpm.k: must be at least 1");
        assert_eq!(
            FieldError::new("", "is missing").within("loop").to_string(),
            "loop: is missing"
        );
    }
}
