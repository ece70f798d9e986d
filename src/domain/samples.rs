//! Sample records and events for tests.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;

pub fn user(name: &str, email: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        login: email.into(),
        email: Some(email.into()),
        active: true,
        share: false,
        team_id: None,
    }
}

pub fn employee(name: &str, user_id: Option<OdooId>, manager_id: Option<OdooId>) -> EmployeeRecord {
    EmployeeRecord {
        name: name.into(),
        user_id,
        manager_id,
        work_email: None,
        department: Some("Sales".into()),
        job_title: Some("Account Executive".into()),
        active: true,
    }
}

pub fn opportunity(owner: Option<OdooId>, stage: OdooId, cents: Cents) -> OpportunityRecord {
    OpportunityRecord {
        name: "Deal".into(),
        kind: LeadKind::Opportunity,
        user_id: owner,
        team_id: None,
        account_id: None,
        stage_id: Some(stage),
        expected_revenue: cents,
        currency: "USD".into(),
        probability: 50.0,
        date_deadline: None,
        date_closed: None,
        active: true,
        lost_reason: None,
        prorated_revenue: None,
    }
}

pub fn stage(name: &str, sequence: i64, is_won: bool) -> StageRecord {
    StageRecord {
        name: name.into(),
        sequence,
        is_won,
        fold: false,
        team_id: None,
    }
}

pub fn one_of_each_event() -> Vec<Event> {
    let change = FieldChange::new("name", &"a", &"b");
    let run_id = Uuid::nil();
    vec![
        Event::UserCreated {
            id: 1,
            record: user("Ann", "ann@example.com"),
        },
        Event::UserUpdated {
            id: 1,
            changes: vec![change.clone()],
        },
        Event::UserDeleted { id: 1 },
        Event::EmployeeCreated {
            id: 1,
            record: employee("Ann", Some(1), None),
        },
        Event::EmployeeUpdated {
            id: 1,
            changes: vec![change.clone()],
        },
        Event::EmployeeDeleted { id: 1 },
        Event::OpportunityCreated {
            id: 1,
            record: opportunity(Some(1), 1, 100),
        },
        Event::OpportunityUpdated {
            id: 1,
            changes: vec![change.clone()],
        },
        Event::OpportunityDeleted { id: 1 },
        Event::OpportunityArchived {
            id: 1,
            lost_reason: None,
        },
        Event::OpportunityRestored { id: 1 },
        Event::OpportunityAssigned {
            id: 1,
            from: None,
            to: Some(1),
        },
        Event::OpportunityStageChanged {
            id: 1,
            from: Some(1),
            to: Some(2),
        },
        Event::OpportunityHistoryBegins {
            id: 1,
            record: opportunity(Some(2), 1, 80),
            first_read_at: None,
            gaps: vec![HistoryGap {
                field: "stage_id".into(),
                tracked: serde_json::json!(2),
                found: serde_json::json!(3),
                after: None,
                before: None,
            }],
        },
        Event::OpportunityChangeRecorded {
            id: 1,
            changes: vec![FieldChange::new("stage_id", &Some(1), &Some(2))],
            message_id: 199,
            author_id: Some(3),
            author: Some("Mitchell Admin".into()),
        },
        Event::AccountCreated {
            id: 1,
            record: AccountRecord {
                name: "Acme".into(),
                city: Some("Lyon".into()),
                country: Some("France".into()),
                is_company: true,
                active: true,
            },
        },
        Event::AccountUpdated {
            id: 1,
            changes: vec![change.clone()],
        },
        Event::AccountDeleted { id: 1 },
        Event::TeamCreated {
            id: 1,
            record: TeamRecord {
                name: "Europe".into(),
                leader_id: None,
                active: true,
            },
        },
        Event::TeamUpdated {
            id: 1,
            changes: vec![change.clone()],
        },
        Event::TeamDeleted { id: 1 },
        Event::StageCreated {
            id: 1,
            record: stage("New", 1, false),
        },
        Event::StageUpdated {
            id: 1,
            changes: vec![change],
        },
        Event::StageDeleted { id: 1 },
        Event::UserRegistered {
            email: "ann@example.com".into(),
            name: "Ann".into(),
            role: Role::Member,
            approved: false,
        },
        Event::UserApproved {
            email: "ann@example.com".into(),
        },
        Event::UserDisabled {
            email: "ann@example.com".into(),
        },
        Event::UserRoleChanged {
            email: "ann@example.com".into(),
            role: Role::Admin,
        },
        Event::UserLoggedIn {
            email: "ann@example.com".into(),
            provider: None,
        },
        Event::UserLoggedIn {
            email: "ann@example.com".into(),
            provider: Some("https://id.example.com".into()),
        },
        Event::ExternalIdentityLinked {
            email: "ann@example.com".into(),
            identity: crate::domain::ExternalIdentity {
                issuer: "https://id.example.com".into(),
                subject: "248289761001".into(),
            },
        },
        Event::SignupExpired {
            email: "ann@example.com".into(),
        },
        Event::ManagerAssigned {
            user_id: 1,
            manager_id: Some(2),
        },
        Event::SyncStarted { run_id, full: true },
        Event::SyncCompleted {
            run_id,
            counts: BTreeMap::new(),
            duration_ms: 5,
            warnings: vec!["a warning".into()],
            quarantined: Vec::new(),
        },
        Event::SyncFailed {
            run_id,
            reason: "timeout".into(),
            duration_ms: 5,
        },
    ]
}
