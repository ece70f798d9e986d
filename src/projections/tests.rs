//! Projections as pure folds: given events, then views. No I/O.

use uuid::Uuid;

use super::*;
use crate::domain::samples::{employee, opportunity, stage, user};
use crate::domain::{Event, FieldChange, LeadKind, OdooId, Role};
use crate::testing::Harness;

/// Ann (1) manages Bob (2), who manages Cat (3); Dan (4) reports to Ann. Stages: New (1), Won (2).
fn org() -> Harness {
    let mut h = Harness::default();
    h.given(vec![
        Event::StageCreated {
            id: 1,
            record: stage("New", 1, false),
        },
        Event::StageCreated {
            id: 2,
            record: stage("Won", 70, true),
        },
        Event::UserCreated {
            id: 1,
            record: user("Ann", "ann@example.com"),
        },
        Event::UserCreated {
            id: 2,
            record: user("Bob", "bob@example.com"),
        },
        Event::UserCreated {
            id: 3,
            record: user("Cat", "cat@example.com"),
        },
        Event::UserCreated {
            id: 4,
            record: user("Dan", "dan@example.com"),
        },
        Event::EmployeeCreated {
            id: 10,
            record: employee("Ann", Some(1), None),
        },
        Event::EmployeeCreated {
            id: 20,
            record: employee("Bob", Some(2), Some(10)),
        },
        Event::EmployeeCreated {
            id: 30,
            record: employee("Cat", Some(3), Some(20)),
        },
        Event::EmployeeCreated {
            id: 40,
            record: employee("Dan", Some(4), Some(10)),
        },
    ]);
    h
}

fn set(field: &str, after: impl serde::Serialize) -> Vec<FieldChange> {
    vec![FieldChange {
        field: field.into(),
        before: serde_json::Value::Null,
        after: serde_json::to_value(after).expect("json"),
    }]
}

#[test]
fn an_opportunity_counts_for_its_owner_and_everyone_above() {
    let mut h = org();
    h.given(vec![Event::OpportunityCreated {
        id: 100,
        record: opportunity(Some(3), 1, 10_000),
    }]);
    for user in [3, 2, 1, EVERYTHING] {
        let totals = h.usd(user);
        assert_eq!(
            (totals.open_count, totals.open_value, totals.weighted_value),
            (1, 10_000, 5_000),
            "user {user}"
        );
    }
    assert_eq!(h.usd(4), Totals::default());
    let view = h.opportunity(100).expect("opportunity row");
    assert_eq!(view.salesperson.map(|s| s.name), Some("Cat".to_string()));
    assert_eq!(view.manager_chain, vec![2, 1]);
    assert_eq!(view.visible_to, vec![1, 2, 3]);
    assert_eq!(view.stage.map(|s| s.name), Some("New".to_string()));
    h.assert_replay_matches();
}

#[test]
fn winning_and_losing_follow_stage_and_active_flags() {
    let mut h = org();
    h.given(vec![
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 1, 10_000),
        },
        Event::OpportunityCreated {
            id: 101,
            record: opportunity(Some(3), 1, 30_000),
        },
    ]);
    h.given(vec![
        Event::OpportunityStageChanged {
            id: 100,
            from: Some(1),
            to: Some(2),
        },
        Event::OpportunityArchived {
            id: 101,
            lost_reason: Some("Too expensive".into()),
        },
    ]);
    let ann = h.usd(1);
    assert_eq!(
        (ann.won_count, ann.won_value, ann.lost_count, ann.lost_value),
        (1, 10_000, 1, 30_000)
    );
    assert_eq!((ann.open_count, ann.weighted_value), (0, 0));
    assert_eq!(ann.win_rate_by_count(), Some(0.5));
    assert_eq!(ann.win_rate_by_value(), Some(0.25));
    assert_eq!(h.opportunity(101).map(|o| o.status), Some(DealStatus::Lost));
    assert_eq!(
        ann.by_stage.get(&2).map(|s| s.count),
        Some(1),
        "won deals stay in their stage"
    );
    h.given(vec![Event::OpportunityRestored { id: 101 }]);
    assert_eq!(h.usd(1).open_count, 1);
    h.assert_replay_matches();
}

#[test]
fn flipping_a_stage_to_won_re_rates_every_deal_in_it() {
    let mut h = org();
    h.given(vec![
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 1, 100),
        },
        Event::OpportunityCreated {
            id: 101,
            record: opportunity(Some(4), 1, 200),
        },
    ]);
    h.given(vec![Event::StageUpdated {
        id: 1,
        changes: set("is_won", true),
    }]);
    assert_eq!(h.usd(1).won_count, 2);
    assert_eq!(h.opportunity(101).map(|o| o.status), Some(DealStatus::Won));
    h.assert_replay_matches();
}

#[test]
fn leads_are_listed_but_never_counted() {
    let mut h = org();
    let mut lead = opportunity(Some(3), 1, 5_000);
    lead.kind = LeadKind::Lead;
    h.given(vec![Event::OpportunityCreated {
        id: 100,
        record: lead,
    }]);
    assert!(h.opportunity(100).is_some());
    assert_eq!(h.usd(EVERYTHING), Totals::default());
    h.assert_replay_matches();
}

#[test]
fn moving_a_subtree_moves_its_reach_and_figures() {
    let mut h = org();
    h.given(vec![Event::OpportunityCreated {
        id: 100,
        record: opportunity(Some(3), 1, 10_000),
    }]);
    // Bob (and Cat under him) now report to Dan.
    h.given(vec![Event::EmployeeUpdated {
        id: 20,
        changes: set("manager_id", Some(40)),
    }]);
    assert_eq!(h.usd(4).open_value, 10_000);
    assert_eq!(h.usd(1).open_value, 10_000, "Ann is still above Dan");
    assert_eq!(h.access(4).visible_users, vec![2, 3, 4]);
    assert_eq!(
        h.opportunity(100).map(|o| o.manager_chain),
        Some(vec![2, 4, 1])
    );
    assert_eq!(h.profile(1).map(|p| p.subtree), Some(vec![2, 3, 4]));
    assert_eq!(h.profile(4).map(|p| p.direct_reports), Some(vec![2]));
    h.assert_replay_matches();
}

#[test]
fn an_override_wins_and_can_be_removed() {
    let mut h = org();
    h.given(vec![Event::ManagerAssigned {
        user_id: 3,
        manager_id: Some(4),
    }]);
    let cat = h.profile(3).expect("profile");
    assert_eq!(
        (cat.manager_id, cat.manager_source),
        (Some(4), Some(ManagerSource::Override))
    );
    assert_eq!(h.access(2).visible_users, vec![2]);
    h.given(vec![Event::ManagerAssigned {
        user_id: 3,
        manager_id: None,
    }]);
    assert_eq!(h.profile(3).and_then(|p| p.manager_id), Some(2));
    h.assert_replay_matches();
}

#[test]
fn a_manager_cycle_is_cut_and_reported() {
    let mut h = org();
    h.given(vec![Event::EmployeeUpdated {
        id: 10,
        changes: set("manager_id", Some(30)),
    }]);
    let ann = h.profile(1).expect("profile");
    assert!(ann.in_manager_cycle);
    assert_eq!(
        ann.manager_id, None,
        "the smallest id in the cycle loses its link"
    );
    assert_eq!(h.profile(3).and_then(|p| p.manager_id), Some(2));
    assert_eq!(h.model.hierarchy().broken_cycles, vec![vec![1, 2, 3]]);
    h.assert_replay_matches();
}

#[test]
fn an_approved_admin_login_sees_everything() {
    let mut h = org();
    let register = |email: &str, role| Event::UserRegistered {
        email: email.into(),
        name: "x".into(),
        role,
        approved: false,
    };
    h.given(vec![register("ANN@example.com", Role::Admin)]);
    assert!(!h.access(1).everything, "pending admins see nothing extra");
    h.given(vec![Event::UserApproved {
        email: "ann@example.com".into(),
    }]);
    assert!(h.access(1).everything);
    let login: LoginView = h
        .view(ViewTable::Logins, RowKey::Name("ann@example.com".into()))
        .expect("login");
    assert_eq!(login.user_id, Some(1));
    assert_eq!(
        h.profile(1).and_then(|p| p.login_account).map(|l| l.status),
        Some(LoginStatus::Approved)
    );
    h.given(vec![Event::UserDisabled {
        email: "ann@example.com".into(),
    }]);
    assert!(!h.access(1).everything);
    h.assert_replay_matches();
}

#[test]
fn deleting_a_user_removes_their_rows_and_keeps_their_deals_for_admins() {
    let mut h = org();
    h.given(vec![Event::OpportunityCreated {
        id: 100,
        record: opportunity(Some(3), 1, 700),
    }]);
    h.given(vec![Event::UserDeleted { id: 3 }]);
    assert!(h.profile(3).is_none());
    assert_eq!(h.usd(2).open_value, 0);
    assert_eq!(h.usd(EVERYTHING).open_value, 700);
    let view = h.opportunity(100).expect("opportunity stays");
    assert!(view.salesperson.is_none() && view.visible_to.is_empty());
    h.assert_replay_matches();
}

#[test]
fn team_rows_and_top_performers_come_from_reports() {
    let mut h = org();
    h.given(vec![
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 2, 500),
        },
        Event::OpportunityCreated {
            id: 101,
            record: opportunity(Some(4), 2, 900),
        },
        Event::OpportunityCreated {
            id: 102,
            record: opportunity(Some(4), 1, 100),
        },
    ]);
    let ann = h.metrics(1);
    let team: Vec<OdooId> = ann.team.iter().map(|m| m.user_id).collect();
    assert_eq!(team, vec![2, 4]);
    assert_eq!(ann.team[0].totals.by_currency["USD"].won_value, 500);
    assert!(
        ann.team[0].totals.by_currency["USD"].by_stage.is_empty(),
        "team rows are summaries"
    );
    let top: Vec<(OdooId, i64)> = ann
        .top_performers
        .iter()
        .map(|p| (p.user_id, p.won_value))
        .collect();
    assert_eq!(top, vec![(4, 900), (3, 500)]);
    h.assert_replay_matches();
}

#[test]
fn the_everything_rows_split_every_deal_once() {
    let mut h = org();
    let mut portal = user("Portal", "portal@example.com");
    portal.share = true;
    let mut in_euros = opportunity(Some(4), 2, 300);
    in_euros.currency = "EUR".into();
    h.given(vec![
        Event::UserCreated {
            id: 5,
            record: portal,
        },
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 1, 500),
        },
        Event::OpportunityCreated {
            id: 101,
            record: opportunity(None, 1, 70),
        },
        Event::OpportunityCreated {
            id: 102,
            record: opportunity(Some(99), 1, 11),
        },
        Event::OpportunityCreated {
            id: 103,
            record: opportunity(Some(5), 1, 2_000),
        },
        Event::OpportunityCreated {
            id: 104,
            record: in_euros,
        },
    ]);
    let everything = h.metrics(EVERYTHING);
    let roots: Vec<OdooId> = everything.team.iter().map(|m| m.user_id).collect();
    assert_eq!(
        roots,
        vec![1],
        "Ann tops the hierarchy; the share user is in no row"
    );
    let open = |a: &Aggregate, currency: &str| a.by_currency.get(currency).map(|t| t.open_value);
    assert_eq!(open(&everything.team[0].totals, "USD"), Some(500));
    assert_eq!(
        open(&everything.unassigned, "USD"),
        Some(81),
        "no salesperson, or one pipelog holds no user for"
    );
    assert_eq!(open(&everything.outside, "USD"), Some(2_000));
    assert_eq!(open(&everything.visible, "USD"), Some(2_581));
    assert_eq!(
        everything.team[0].totals.by_currency["EUR"].won_value, 300,
        "currencies stay apart in every row"
    );
    // Top performers are ranked in each currency, never across them.
    let top: Vec<(&str, OdooId)> = everything
        .top_performers
        .iter()
        .map(|p| (p.currency.as_str(), p.user_id))
        .collect();
    assert_eq!(top, vec![("EUR", 4)]);
    h.assert_replay_matches();
}

#[test]
fn renaming_related_records_refreshes_denormalized_names() {
    let mut h = org();
    let mut record = opportunity(Some(3), 1, 100);
    record.account_id = Some(7);
    h.given(vec![
        Event::AccountCreated {
            id: 7,
            record: crate::domain::AccountRecord {
                name: "Acme".into(),
                city: None,
                country: None,
                is_company: true,
                active: true,
            },
        },
        Event::OpportunityCreated { id: 100, record },
    ]);
    h.given(vec![
        Event::AccountUpdated {
            id: 7,
            changes: set("name", "Acme Corp"),
        },
        Event::UserUpdated {
            id: 3,
            changes: set("name", "Catherine"),
        },
        Event::StageUpdated {
            id: 1,
            changes: set("name", "Qualified"),
        },
    ]);
    let view = h.opportunity(100).expect("row");
    assert_eq!(view.account.map(|a| a.name), Some("Acme Corp".to_string()));
    assert_eq!(
        view.salesperson.map(|s| s.name),
        Some("Catherine".to_string())
    );
    assert_eq!(view.stage.map(|s| s.name), Some("Qualified".to_string()));
    h.assert_replay_matches();
}

#[test]
fn currencies_stay_apart() {
    let mut h = org();
    let mut euro = opportunity(Some(3), 1, 400);
    euro.currency = "EUR".into();
    h.given(vec![
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 1, 100),
        },
        Event::OpportunityCreated {
            id: 101,
            record: euro,
        },
    ]);
    let all = h.metrics(EVERYTHING).visible;
    assert_eq!(all.by_currency["USD"].open_value, 100);
    assert_eq!(all.by_currency["EUR"].open_value, 400);
    h.assert_replay_matches();
}

#[test]
fn sync_runs_are_a_view_of_the_sync_events() {
    let mut h = Harness::default();
    let run = Uuid::now_v7();
    h.given(vec![Event::SyncStarted {
        run_id: run,
        full: true,
    }]);
    h.given(vec![Event::SyncFailed {
        run_id: run,
        reason: "timeout".into(),
        duration_ms: 9,
    }]);
    let status: SyncStatusView = h
        .view(ViewTable::SyncStatus, RowKey::Name(SYNC_STATUS_KEY.into()))
        .expect("row");
    let last = status.last_run().expect("one run");
    assert_eq!(
        last.outcome,
        SyncOutcome::Failed {
            reason: "timeout".into()
        }
    );
    assert_eq!((status.runs_total, status.failures_total), (1, 1));
    assert!(status.last_failure_at.is_some() && status.last_success_at.is_none());
    h.assert_replay_matches();
}

#[test]
fn updates_of_unknown_records_are_reported_not_fatal() {
    let mut h = org();
    h.given(vec![
        Event::OpportunityUpdated {
            id: 999,
            changes: set("name", "x"),
        },
        Event::OpportunityCreated {
            id: 100,
            record: opportunity(Some(3), 1, 100),
        },
        Event::OpportunityUpdated {
            id: 100,
            changes: set("probability", "high"),
        },
    ]);
    assert_eq!(h.model.anomalies_total(), 2);
    assert_eq!(h.opportunity(100).map(|o| o.probability), Some(50.0));
    h.assert_replay_matches();
}
