//! Output: human-readable lines, or (with `--json`) exactly one JSON object per line and
//! nothing else on stdout.

use std::fmt::Arguments;
use std::io::Write;

/// Where results go.
pub struct Report {
    json: bool,
}

impl Report {
    /// `json = true`: only [`Report::json`] lines are printed.
    pub fn new(json: bool) -> Report {
        Report { json }
    }

    /// `true` in JSON mode (lets callers skip work only the human report shows).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// A line for people (suppressed in JSON mode).
    pub fn human(&mut self, line: Arguments<'_>) {
        if !self.json {
            println!("{line}");
        }
    }

    /// One JSON object (printed only in JSON mode; the caller passes a complete object).
    pub fn json(&mut self, object: Arguments<'_>) {
        if self.json {
            println!("{object}");
            // Rows appear as they are measured, even when stdout is a pipe.
            let _ = std::io::stdout().flush();
        }
    }
}

/// `x` as a JSON number with `decimals` digits after the point, or `null` if it is not
/// finite (JSON has no NaN or infinity).
pub fn json_num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "null".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::json_num;

    #[test]
    fn numbers() {
        assert_eq!(json_num(1234.567, 0), "1235");
        assert_eq!(json_num(2.0 / 3.0, 3), "0.667");
        assert_eq!(json_num(f64::NAN, 3), "null");
        assert_eq!(json_num(f64::INFINITY, 0), "null");
    }
}
