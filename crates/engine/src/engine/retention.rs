//! The audit trail's retention: at the end of each run, events older than `[audit] keep_days`
//! go, except each record's latest and the full copy its latest skip points at.

use chrono::Utc;

use super::SyncEngine;

impl SyncEngine {
    /// Prunes the audit trail; a failed prune is logged and tried again after the next run,
    /// since the run it follows did its work.
    pub(super) async fn prune_audit_trail(&self) {
        let keep = chrono::Duration::days(i64::from(self.config.audit.keep_days));
        let older_than = Utc::now() - keep;
        match self.store.prune_audit(older_than).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(
                pruned,
                keep_days = self.config.audit.keep_days,
                "audit trail pruned"
            ),
            Err(error) => tracing::warn!(
                %error,
                "cannot prune the audit trail (audit.keep_days); tried again after the next run"
            ),
        }
    }
}
