//! The drill-down contract: the exact `/api/opportunities` query behind a figure, built once
//! here from the dashboard's scope and the figure's own terms, so that a page only follows it and
//! the list's totals equal the figure. Knows query strings, not HTTP.

use crate::domain::OdooId;

use super::DashboardQuery;

/// The list query behind a figure: the dashboard's subject (as someone's whole reach), team and
/// stage, and the figure's own terms. Built here once; the page only follows it.
#[derive(Debug, Clone, Default)]
pub(super) struct Drill(Vec<(&'static str, String)>);

impl Drill {
    pub(super) fn of(subject: Option<OdooId>, query: &DashboardQuery) -> Drill {
        let mut drill = Drill::scoped(subject, query.team);
        if let Some(stage) = query.stage {
            drill = drill.with("stage", stage);
        }
        if let Some(at) = query.as_of {
            drill = drill.with("as_of", at);
        }
        drill
    }

    /// Someone's whole reach (everything for `None`) and a team.
    pub(super) fn scoped(subject: Option<OdooId>, team: Option<OdooId>) -> Drill {
        let drill = match subject {
            Some(user) => Drill::default().with("user", user),
            None => Drill::default(),
        };
        match team {
            Some(team) => drill.with("team", team),
            None => drill,
        }
    }

    pub(super) fn with(mut self, name: &'static str, value: impl std::fmt::Display) -> Drill {
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value.to_string()));
        self
    }

    /// Deals closed within the dashboard's period (when it has one).
    pub(super) fn closed_in(self, query: &DashboardQuery) -> Drill {
        let drill = match query.from {
            Some(from) => self.with("closed_from", from),
            None => self,
        };
        match query.to {
            Some(to) => drill.with("closed_to", to),
            None => drill,
        }
    }

    pub(super) fn query(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes what a query value may not hold as it is.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
