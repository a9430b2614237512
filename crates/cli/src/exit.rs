//! The exit codes of the brief, in one place: 1 when a check or run failed, 2 for bad usage or
//! bad config. Commands return `CliError`; `main` prints it once and exits with its code.

use std::process::ExitCode;

#[derive(Debug)]
pub struct CliError {
    kind: ErrorKind,
    error: anyhow::Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Failed,
    Usage,
}

impl CliError {
    /// A check or run failed (exit 1).
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: ErrorKind::Failed,
            error: error.into(),
        }
    }

    /// Bad usage or bad config (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: ErrorKind::Usage,
            error: error.into(),
        }
    }

    pub fn report(self) -> ExitCode {
        eprintln!("error: {:#}", self.error);
        match self.kind {
            ErrorKind::Failed => ExitCode::from(1),
            ErrorKind::Usage => ExitCode::from(2),
        }
    }
}

impl From<mlc_config::ConfigError> for CliError {
    fn from(error: mlc_config::ConfigError) -> Self {
        CliError::usage(error)
    }
}
