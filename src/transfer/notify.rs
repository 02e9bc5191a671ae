//! Sending the refusal notice (`[notify]`): after the client has its 550, never before, in a
//! task of its own so it never delays an answer. At most one per refused transaction (it is
//! sent from the one place a protected refusal is decided), at most a few per sender and hour,
//! never to the null sender, and over the same typed next-hop client as everything else, with
//! the null reverse path so a notice that cannot be delivered bounces nowhere.

use std::sync::Arc;
use std::time::Instant;

use chrono::Local;
use tracing::{info, warn};

use super::{Core, Transaction};
use crate::metrics::NoticeResult;
use crate::notice::{self, NoticeFacts};
use crate::policy::Decision;
use crate::relay::{MailParams, RcptParams, RelayError};

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Build(#[from] notice::NoticeError),
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error("the notice's next hop answered {0} at {1}")]
    Refused(u16, &'static str),
}

/// What the notice task needs, owned (it outlives the transaction).
struct Job {
    sender: String,
    protected: Vec<String>,
    decision_codes: Vec<crate::reason::ReasonCode>,
    protocol_title: String,
    unrelated: Vec<String>,
    help_url: Option<String>,
    from: String,
    hostname: String,
    id: String,
}

impl Core {
    /// Queues the notice for a refused protected transaction when `[notify]` is on.
    pub(super) fn notify_refusal(self: &Arc<Self>, tx: &Transaction, decision: &Decision) {
        let Some(relay) = tx.settings.notify.clone() else {
            return;
        };
        let Some(sender) = tx.sender.as_ref().map(|s| s.to_string()) else {
            return;
        };
        if !self.notices.allow(&sender, Instant::now()) {
            self.gateway.metrics.notice(NoticeResult::Limited);
            info!(id = %tx.id, "refusal notice not sent: the sender's hourly limit is reached");
            return;
        }
        let config = &tx.settings.config;
        let job = Job {
            sender,
            protected: tx
                .recipients
                .iter()
                .filter(|r| r.protocol.is_some())
                .map(|r| r.address.to_string())
                .collect(),
            decision_codes: decision.reasons.iter().map(|r| r.code).collect(),
            protocol_title: decision.protocol_title.clone(),
            unrelated: decision.unrelated_recipients.clone(),
            help_url: config.policy.help_url.clone(),
            from: config.notify.from.clone(),
            hostname: config.smtp.hostname.clone(),
            id: tx.id.clone(),
        };
        let core = Arc::clone(self);
        tokio::spawn(async move {
            let result = core.send_notice(&relay, &job).await;
            match result {
                Ok(()) => {
                    core.gateway.metrics.notice(NoticeResult::Sent);
                    info!(id = %job.id, "refusal notice sent to the sender");
                }
                Err(e) => {
                    core.gateway.metrics.notice(NoticeResult::Failed);
                    warn!(id = %job.id, error = %e, "refusal notice not sent");
                }
            }
        });
    }

    async fn send_notice(
        &self,
        relay: &crate::relay::RelaySettings,
        job: &Job,
    ) -> Result<(), SendError> {
        let message = notice::build(&NoticeFacts {
            refused_at: Local::now(),
            from: &job.from,
            to: &job.sender,
            protected_recipients: &job.protected,
            protocol_title: &job.protocol_title,
            reasons: &job.decision_codes,
            unrelated_recipients: &job.unrelated,
            help_url: job.help_url.as_deref(),
            hostname: &job.hostname,
            transaction_id: &job.id,
        })?;
        let mut hop = self.dialer.open(relay).await?;
        let params = MailParams {
            size: message.len(),
            body_8bit: true,
            smtputf8: false,
        };
        let steps = async {
            accepted(hop.mail("", params).await?, "MAIL")?;
            accepted(hop.rcpt(&job.sender, RcptParams).await?, "RCPT")?;
            accepted(hop.data(b"", &message).await?, "end of data")
        };
        let outcome = steps.await;
        hop.quit().await;
        outcome
    }
}

fn accepted(reply: crate::reply::Reply, stage: &'static str) -> Result<(), SendError> {
    if reply.code / 100 == 2 {
        Ok(())
    } else {
        Err(SendError::Refused(reply.code, stage))
    }
}
