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
    pub field: String,
    /// What is wrong and, where there is one, how to fix it.
    pub message: String,
}

impl FieldError {
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
