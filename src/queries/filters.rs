//! What the dashboard's and the list's filters offer a viewer: teams, the people within reach
//! (namesakes told apart), stages.

use std::collections::HashMap;

use serde::Serialize;

use super::QueryError;
use crate::auth::Viewer;
use crate::domain::OdooId;
use crate::projections::{NamedRef, StageRef};
use crate::store::Snapshot;

/// What the dashboard's filters offer a viewer: teams, the people within their reach, stages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FilterOptions {
    pub teams: Vec<NamedRef>,
    pub salespeople: Vec<PersonChoice>,
    pub stages: Vec<StageRef>,
}

/// Someone to pick: `label` is the name, with the email added when another person has it too.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonChoice {
    pub id: OdooId,
    pub name: String,
    pub email: Option<String>,
    pub label: String,
}

pub fn filter_options(snapshot: &Snapshot, viewer: &Viewer) -> Result<FilterOptions, QueryError> {
    let mut salespeople: Vec<PersonChoice> = snapshot
        .views::<crate::projections::UserProfileView>(crate::projections::ViewTable::UserProfiles)?
        .into_iter()
        .filter(|profile| profile.active && viewer.sees_user(profile.user_id))
        .map(|profile| PersonChoice {
            id: profile.user_id,
            label: profile.name.clone(),
            name: profile.name,
            email: profile.email,
        })
        .collect();
    salespeople.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    label_namesakes(&mut salespeople);
    Ok(FilterOptions {
        teams: snapshot.teams()?,
        salespeople,
        stages: snapshot.stages()?,
    })
}

/// People with the same name get their email (or, without one, their user id) in their label.
fn label_namesakes(people: &mut [PersonChoice]) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for person in people.iter() {
        *counts.entry(person.name.clone()).or_default() += 1;
    }
    for person in people.iter_mut() {
        if counts.get(&person.name).is_some_and(|&n| n > 1) {
            let detail = person
                .email
                .clone()
                .unwrap_or_else(|| format!("user {}", person.id));
            person.label = format!("{} ({detail})", person.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesakes_are_told_apart_by_email_or_id() {
        let person = |id: OdooId, name: &str, email: Option<&str>| PersonChoice {
            id,
            name: name.into(),
            email: email.map(str::to_string),
            label: name.into(),
        };
        let mut people = vec![
            person(1, "Ann Lee", Some("ann@a.example")),
            person(2, "Ann Lee", None),
            person(3, "Bob Ray", Some("bob@a.example")),
        ];
        label_namesakes(&mut people);
        let labels: Vec<&str> = people.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Ann Lee (ann@a.example)", "Ann Lee (user 2)", "Bob Ray"]
        );
    }
}
