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
