//! The life of a protocol: not yet in force, in force, ending (notice given, an end date is
//! set), ended. Article 11 of the seed protocol makes it terminable with six months' notice;
//! once the end date is known the administrator, the data protection officer and the staff who
//! still send to the mailbox must all see it coming. `sealgate protocols` and the
//! `sealgate_protocol_*` metrics read their facts from here.
//!
//! Dates are local calendar days, both ends included, as in [`super::in_force`]: a protocol
//! with `in_force_until = 2027-06-30` protects mail on that whole day and is ended from the
//! first second of 2027-07-01 local time.

use chrono::{Local, NaiveDate, TimeZone};
use serde::Serialize;

use crate::config::{Mode, ProtocolConfig, Rules};

/// Where a protocol stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    /// `in_force_from` is still ahead.
    NotYetInForce { days_until_start: i64 },
    /// In force with no end date.
    InForce,
    /// In force, and notice has been given: the last day is `days_left` days from today
    /// (0: today is the last day).
    Ending { days_left: i64 },
    /// Past its last day: mail to its mailboxes is refused (`protocol_not_in_force`).
    Ended,
}

impl Status {
    pub fn of(protocol: &ProtocolConfig, today: NaiveDate) -> Status {
        if today < protocol.in_force_from {
            let days_until_start = (protocol.in_force_from - today).num_days();
            return Status::NotYetInForce { days_until_start };
        }
        match protocol.in_force_until {
            None => Status::InForce,
            Some(until) if today <= until => Status::Ending {
                days_left: (until - today).num_days(),
            },
            Some(_) => Status::Ended,
        }
    }

    pub fn is_in_force(self) -> bool {
        matches!(self, Status::InForce | Status::Ending { .. })
    }

    /// A short English description for people: "in force", "ending in 10 days", ...
    pub fn describe(self) -> String {
        match self {
            Status::NotYetInForce { days_until_start } => {
                format!("not yet in force (starts in {})", days(days_until_start))
            }
            Status::InForce => "in force".into(),
            Status::Ending { days_left: 0 } => "in force, today is its last day".into(),
            Status::Ending { days_left } => format!("in force, ending in {}", days(days_left)),
            Status::Ended => "ended".into(),
        }
    }
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// The instant a protocol stops being in force: the start of the local day after
/// `in_force_until`, as Unix seconds. None when open-ended.
pub fn end_timestamp(protocol: &ProtocolConfig) -> Option<i64> {
    let day_after = protocol.in_force_until?.succ_opt()?;
    let midnight = day_after.and_hms_opt(0, 0, 0)?;
    // A DST gap at midnight has no such local instant: take the earliest one that exists.
    Local
        .from_local_datetime(&midnight)
        .earliest()
        .map(|at| at.timestamp())
        .or_else(|| Some(midnight.and_utc().timestamp()))
}

/// One rule whose value differs from the strict default, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelaxedRule {
    pub rule: &'static str,
    pub value: String,
    pub default: String,
}

/// The rules of `rules` that differ from [`Rules::default`], in the configuration's order.
pub fn relaxed_rules(rules: &Rules) -> Vec<RelaxedRule> {
    let strict = Rules::default();
    let pairs: [(&'static str, String, String); 8] = [
        (
            "require_header_encryption",
            rules.require_header_encryption.to_string(),
            strict.require_header_encryption.to_string(),
        ),
        (
            "min_kdf_cycles_power",
            rules.min_kdf_cycles_power.to_string(),
            strict.min_kdf_cycles_power.to_string(),
        ),
        (
            "allow_other_attachments",
            rules.allow_other_attachments.to_string(),
            strict.allow_other_attachments.to_string(),
        ),
        (
            "forbid_identifiers",
            rules.forbid_identifiers.to_string(),
            strict.forbid_identifiers.to_string(),
        ),
        (
            "forbid_password_in_message",
            rules.forbid_password_in_message.to_string(),
            strict.forbid_password_in_message.to_string(),
        ),
        (
            "allow_unrelated_recipients",
            rules.allow_unrelated_recipients.to_string(),
            strict.allow_unrelated_recipients.to_string(),
        ),
        (
            "max_nesting_depth",
            rules.max_nesting_depth.to_string(),
            strict.max_nesting_depth.to_string(),
        ),
        (
            "max_parts",
            rules.max_parts.to_string(),
            strict.max_parts.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, value, default)| value != default)
        .map(|(rule, value, default)| RelaxedRule {
            rule,
            value,
            default,
        })
        .collect()
}

/// Everything of `protocol` that differs from the strict defaults: its relaxed [`Rules`], then
/// `mode` when it monitors and `senders` when only listed senders may send (a restriction,
/// but one the administrator must see as well).
pub fn differing_from_defaults(protocol: &ProtocolConfig) -> Vec<RelaxedRule> {
    let mut out = relaxed_rules(&protocol.rules);
    if protocol.mode != Mode::default() {
        out.push(RelaxedRule {
            rule: "mode",
            value: protocol.mode.as_str().into(),
            default: Mode::default().as_str().into(),
        });
    }
    if let Some(senders) = &protocol.senders {
        out.push(RelaxedRule {
            rule: "senders",
            value: senders.join(", "),
            default: "any sender".into(),
        });
    }
    out
}

/// Warns once for every protocol in monitor mode (at start and after each reload): the
/// mailboxes are not protected while it lasts, and that must never go unnoticed in the logs.
/// Returns how many protocols monitor.
pub fn warn_monitor_mode(protocols: &[ProtocolConfig]) -> usize {
    let monitored: Vec<&ProtocolConfig> = protocols
        .iter()
        .filter(|p| p.mode == Mode::Monitor)
        .collect();
    for p in &monitored {
        tracing::warn!(
            protocol = %p.id,
            mode = p.mode.as_str(),
            "protocol in monitor mode: mail that breaks its rules is relayed and recorded as would_reject, not refused"
        );
    }
    monitored.len()
}

/// Everything `sealgate protocols` shows about one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolSummary {
    pub id: String,
    pub title: String,
    pub mailboxes: Vec<String>,
    pub in_force_from: NaiveDate,
    pub in_force_until: Option<NaiveDate>,
    #[serde(flatten)]
    pub status: Status,
    /// Unix seconds at which it stops being in force; absent when open-ended.
    pub end_timestamp: Option<i64>,
    /// "enforce" or "monitor" (also listed among the differing rules when "monitor").
    pub mode: Mode,
    pub rules_differing_from_defaults: Vec<RelaxedRule>,
}

impl ProtocolSummary {
    pub fn of(protocol: &ProtocolConfig, today: NaiveDate) -> ProtocolSummary {
        ProtocolSummary {
            id: protocol.id.clone(),
            title: protocol.title.clone(),
            mailboxes: protocol.mailboxes.clone(),
            in_force_from: protocol.in_force_from,
            in_force_until: protocol.in_force_until,
            status: Status::of(protocol, today),
            end_timestamp: end_timestamp(protocol),
            mode: protocol.mode,
            rules_differing_from_defaults: differing_from_defaults(protocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn protocol(from: &str, until: Option<&str>) -> ProtocolConfig {
        ProtocolConfig {
            id: "p".into(),
            title: "P".into(),
            mailboxes: vec!["kindengezin@wervik.be".into()],
            in_force_from: day(from),
            in_force_until: until.map(day),
            rules: Rules::default(),
            mode: Mode::Enforce,
            senders: None,
        }
    }

    #[test]
    fn status_follows_the_calendar_with_both_ends_included() {
        let p = protocol("2023-12-01", Some("2027-06-30"));
        assert_eq!(
            Status::of(&p, day("2023-11-21")),
            Status::NotYetInForce {
                days_until_start: 10
            }
        );
        assert_eq!(
            Status::of(&p, day("2023-12-01")),
            Status::Ending { days_left: 1307 }
        );
        assert_eq!(
            Status::of(&p, day("2027-06-20")),
            Status::Ending { days_left: 10 }
        );
        assert_eq!(
            Status::of(&p, day("2027-06-30")),
            Status::Ending { days_left: 0 }
        );
        assert_eq!(Status::of(&p, day("2027-07-01")), Status::Ended);
        let open = protocol("2023-12-01", None);
        assert_eq!(Status::of(&open, day("2099-01-01")), Status::InForce);
    }

    #[test]
    fn status_agrees_with_the_registry_on_every_day_around_the_ends() {
        let p = protocol("2024-03-30", Some("2024-10-27"));
        let mut today = day("2024-03-01");
        while today < day("2024-11-30") {
            assert_eq!(
                Status::of(&p, today).is_in_force(),
                super::super::in_force(&p, today),
                "{today}"
            );
            today = today.succ_opt().unwrap();
        }
    }

    #[test]
    fn end_timestamp_is_the_local_midnight_after_the_last_day() {
        assert_eq!(end_timestamp(&protocol("2023-12-01", None)), None);
        let p = protocol("2023-12-01", Some("2027-06-30"));
        let end = end_timestamp(&p).unwrap();
        let local = Local.timestamp_opt(end, 0).unwrap();
        assert_eq!(local.date_naive(), day("2027-07-01"));
        assert_eq!(local.time(), chrono::NaiveTime::MIN);
    }

    #[test]
    fn only_relaxed_rules_are_listed() {
        let mut p = protocol("2023-12-01", None);
        assert!(relaxed_rules(&p.rules).is_empty());
        p.rules.allow_other_attachments = true;
        p.rules.min_kdf_cycles_power = 16;
        let relaxed = relaxed_rules(&p.rules);
        let names: Vec<_> = relaxed.iter().map(|r| r.rule).collect();
        assert_eq!(names, ["min_kdf_cycles_power", "allow_other_attachments"]);
        assert_eq!(relaxed[0].value, "16");
        assert_eq!(relaxed[0].default, "19");
    }

    #[test]
    fn mode_and_senders_are_listed_when_set() {
        let mut p = protocol("2023-12-01", None);
        assert!(differing_from_defaults(&p).is_empty());
        p.mode = Mode::Monitor;
        p.senders = Some(vec!["an@opgroeien.be".into(), "@kindengezin.be".into()]);
        p.rules.max_parts = 50;
        let listed = differing_from_defaults(&p);
        let names: Vec<_> = listed.iter().map(|r| r.rule).collect();
        assert_eq!(names, ["max_parts", "mode", "senders"]);
        assert_eq!(listed[1].value, "monitor");
        assert_eq!(listed[1].default, "enforce");
        assert_eq!(listed[2].value, "an@opgroeien.be, @kindengezin.be");
        assert_eq!(listed[2].default, "any sender");
        let json = serde_json::to_value(ProtocolSummary::of(&p, day("2024-01-01"))).unwrap();
        assert_eq!(json["mode"], "monitor");
        assert_eq!(json["rules_differing_from_defaults"][2]["rule"], "senders");
    }

    #[test]
    fn every_protocol_in_monitor_mode_is_warned_about() {
        let mut monitored = protocol("2023-12-01", None);
        monitored.mode = Mode::Monitor;
        let enforced = protocol("2023-12-01", None);
        assert_eq!(warn_monitor_mode(std::slice::from_ref(&enforced)), 0);
        assert_eq!(
            warn_monitor_mode(&[monitored.clone(), enforced, monitored]),
            2
        );
    }

    #[test]
    fn descriptions_read_naturally() {
        assert_eq!(
            Status::Ending { days_left: 1 }.describe(),
            "in force, ending in 1 day"
        );
        assert_eq!(
            Status::NotYetInForce {
                days_until_start: 3
            }
            .describe(),
            "not yet in force (starts in 3 days)"
        );
        assert_eq!(Status::Ended.describe(), "ended");
    }
}
