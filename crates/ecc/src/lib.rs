//! placeholder module list; filled by its issue.
