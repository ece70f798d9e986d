//! The effective reporting hierarchy, derived from users, employees and admin overrides.
//!
//! Pure: a function of the records it is given. Employees link to users by `user_id`, or by work email
//! when `user_id` is empty. A user's manager is the nearest ancestor employee that has a user (so a
//! manager without a login does not cut their subtree off from the level above), unless an admin
//! override names another user. Cycles are broken deterministically: in every cycle the member with the
//! smallest user id loses its manager link, and the cycle is reported.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::{EmployeeRecord, OdooId, UserRecord, normalize_email};

/// Where a user's effective manager comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerSource {
    Odoo,
    Override,
}

/// The effective hierarchy over all known users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hierarchy {
    /// The employee record linked to each user.
    pub employee_of: BTreeMap<OdooId, OdooId>,
    /// Each user's effective manager, after overrides and cycle breaking.
    pub manager_of: BTreeMap<OdooId, (OdooId, ManagerSource)>,
    /// Direct reports, sorted by id.
    pub reports: BTreeMap<OdooId, Vec<OdooId>>,
    /// Cycles found in the manager data, each sorted; the first member's link was cut.
    pub broken_cycles: Vec<Vec<OdooId>>,
    /// Each user's managers, nearest first (only users that have one).
    chains: BTreeMap<OdooId, Vec<OdooId>>,
    /// Everyone below each manager, sorted (only users that have reports).
    subtrees: BTreeMap<OdooId, Vec<OdooId>>,
}

impl Hierarchy {
    pub fn compute(
        users: &BTreeMap<OdooId, UserRecord>,
        employees: &BTreeMap<OdooId, EmployeeRecord>,
        overrides: &BTreeMap<OdooId, OdooId>,
    ) -> Hierarchy {
        let employee_of = link_employees(users, employees);
        let user_of_employee: BTreeMap<OdooId, OdooId> = employee_of
            .iter()
            .map(|(user, employee)| (*employee, *user))
            .collect();

        let mut manager_of = BTreeMap::new();
        for (&user, &employee) in &employee_of {
            if let Some(manager) =
                nearest_manager_user(user, employee, employees, &user_of_employee)
            {
                manager_of.insert(user, (manager, ManagerSource::Odoo));
            }
        }
        for (&user, &manager) in overrides {
            if users.contains_key(&user) && users.contains_key(&manager) && user != manager {
                manager_of.insert(user, (manager, ManagerSource::Override));
            }
        }

        let broken_cycles = break_cycles(&mut manager_of);
        let mut reports: BTreeMap<OdooId, Vec<OdooId>> = BTreeMap::new();
        for (&user, &(manager, _)) in &manager_of {
            reports.entry(manager).or_default().push(user);
        }
        let mut hierarchy = Hierarchy {
            employee_of,
            manager_of,
            reports,
            broken_cycles,
            chains: BTreeMap::new(),
            subtrees: BTreeMap::new(),
        };
        hierarchy.index_reach();
        hierarchy
    }

    /// Caches every chain and subtree: they are read far more often than the hierarchy changes.
    fn index_reach(&mut self) {
        let mut chains = BTreeMap::new();
        let mut subtrees: BTreeMap<OdooId, Vec<OdooId>> = BTreeMap::new();
        for &user in self.manager_of.keys() {
            let mut chain = Vec::new();
            let mut current = user;
            while let Some(manager) = self.manager(current) {
                chain.push(manager);
                subtrees.entry(manager).or_default().push(user);
                current = manager;
            }
            chains.insert(user, chain);
        }
        for members in subtrees.values_mut() {
            members.sort_unstable();
        }
        self.chains = chains;
        self.subtrees = subtrees;
    }

    pub fn manager(&self, user: OdooId) -> Option<OdooId> {
        self.manager_of.get(&user).map(|(manager, _)| *manager)
    }

    pub fn direct_reports(&self, user: OdooId) -> &[OdooId] {
        self.reports.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The managers above `user`, nearest first.
    pub fn chain(&self, user: OdooId) -> &[OdooId] {
        self.chains.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Everyone below `user` (not `user` itself), sorted by id.
    pub fn subtree(&self, user: OdooId) -> &[OdooId] {
        self.subtrees.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Users ordered so that every user comes after all of their reports (for bottom-up sums).
    pub fn bottom_up<'a>(&self, users: impl Iterator<Item = &'a OdooId>) -> Vec<OdooId> {
        let mut order = Vec::new();
        for &user in users {
            if self.manager(user).is_none() {
                self.push_post_order(user, &mut order);
            }
        }
        order
    }

    fn push_post_order(&self, root: OdooId, order: &mut Vec<OdooId>) {
        // Iterative post-order: a deep hierarchy must not overflow the stack.
        let mut stack = vec![(root, false)];
        while let Some((user, expanded)) = stack.pop() {
            if expanded {
                order.push(user);
            } else {
                stack.push((user, true));
                for &report in self.direct_reports(user).iter().rev() {
                    stack.push((report, false));
                }
            }
        }
    }

    pub fn in_broken_cycle(&self, user: OdooId) -> bool {
        self.broken_cycles
            .iter()
            .any(|cycle| cycle.binary_search(&user).is_ok())
    }
}

/// Links each user to at most one employee: by the employee's `user_id`, else by work email. When
/// several employees claim one user, the smallest employee id wins.
fn link_employees(
    users: &BTreeMap<OdooId, UserRecord>,
    employees: &BTreeMap<OdooId, EmployeeRecord>,
) -> BTreeMap<OdooId, OdooId> {
    let users_by_email = users_by_email(users);
    let mut employee_of = BTreeMap::new();
    for (&employee_id, employee) in employees {
        let linked = match employee.user_id {
            Some(user) => users.contains_key(&user).then_some(user),
            None => employee
                .work_email
                .as_deref()
                .and_then(|email| users_by_email.get(&normalize_email(email)).copied()),
        };
        if let Some(user) = linked {
            employee_of.entry(user).or_insert(employee_id);
        }
    }
    employee_of
}

/// Email (and login, which Odoo usually sets to the email) to user id; the smallest id wins a tie, and
/// an email beats a login.
pub fn users_by_email(users: &BTreeMap<OdooId, UserRecord>) -> BTreeMap<String, OdooId> {
    let mut by_email = BTreeMap::new();
    for (&id, user) in users {
        if user.login.contains('@') {
            by_email.entry(normalize_email(&user.login)).or_insert(id);
        }
    }
    for (&id, user) in users.iter().rev() {
        if let Some(email) = &user.email {
            by_email.insert(normalize_email(email), id);
        }
    }
    by_email
}

fn nearest_manager_user(
    user: OdooId,
    employee: OdooId,
    employees: &BTreeMap<OdooId, EmployeeRecord>,
    user_of_employee: &BTreeMap<OdooId, OdooId>,
) -> Option<OdooId> {
    let mut seen = BTreeSet::from([employee]);
    let mut next = employees.get(&employee)?.manager_id;
    while let Some(candidate) = next {
        if !seen.insert(candidate) {
            return None; // a cycle among employees without users: no manager found
        }
        match user_of_employee.get(&candidate) {
            Some(&manager) if manager != user => return Some(manager),
            _ => next = employees.get(&candidate)?.manager_id,
        }
    }
    None
}

/// Removes one link from every cycle of the manager graph and returns the cycles, each sorted.
fn break_cycles(manager_of: &mut BTreeMap<OdooId, (OdooId, ManagerSource)>) -> Vec<Vec<OdooId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<OdooId, Mark> = BTreeMap::new();
    let mut cycles = Vec::new();
    let starts: Vec<OdooId> = manager_of.keys().copied().collect();
    for start in starts {
        let mut path = Vec::new();
        let mut current = Some(start);
        while let Some(user) = current {
            match marks.get(&user) {
                Some(Mark::Done) => break,
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|&member| member == user).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.sort_unstable();
                    cycles.push(cycle);
                    break;
                }
                None => {
                    marks.insert(user, Mark::OnPath);
                    path.push(user);
                    current = manager_of.get(&user).map(|(manager, _)| *manager);
                }
            }
        }
        for user in path {
            marks.insert(user, Mark::Done);
        }
    }
    for cycle in &cycles {
        manager_of.remove(&cycle[0]);
    }
    cycles.sort();
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::{employee, user};

    fn users(ids: &[OdooId]) -> BTreeMap<OdooId, UserRecord> {
        ids.iter()
            .map(|&id| {
                (
                    id,
                    user(&format!("User {id}"), &format!("u{id}@example.com")),
                )
            })
            .collect()
    }

    /// employee id = user id * 10, manager given as a user id.
    fn staff(links: &[(OdooId, Option<OdooId>)]) -> BTreeMap<OdooId, EmployeeRecord> {
        links
            .iter()
            .map(|&(user, manager)| {
                (
                    user * 10,
                    employee(&format!("Emp {user}"), Some(user), manager.map(|m| m * 10)),
                )
            })
            .collect()
    }

    #[test]
    fn manager_comes_from_the_employee_parent() {
        let h = Hierarchy::compute(
            &users(&[1, 2, 3]),
            &staff(&[(1, None), (2, Some(1)), (3, Some(2))]),
            &BTreeMap::new(),
        );
        assert_eq!(h.manager(3), Some(2));
        assert_eq!(h.chain(3), [2, 1]);
        assert_eq!(h.subtree(1), [2, 3]);
        assert_eq!(h.direct_reports(1), &[2]);
        assert!(h.broken_cycles.is_empty());
    }

    #[test]
    fn a_manager_without_a_login_is_skipped_not_a_dead_end() {
        let mut employees = staff(&[(1, None), (3, None)]);
        employees.insert(20, employee("No login", None, Some(10)));
        employees.get_mut(&30).expect("employee 30").manager_id = Some(20);
        let h = Hierarchy::compute(&users(&[1, 3]), &employees, &BTreeMap::new());
        assert_eq!(h.manager(3), Some(1));
    }

    #[test]
    fn employees_link_by_work_email_when_user_id_is_empty() {
        let mut employees = staff(&[(1, None)]);
        let mut report = employee("Bob", None, Some(10));
        report.work_email = Some("U2@Example.com".into());
        employees.insert(99, report);
        let h = Hierarchy::compute(&users(&[1, 2]), &employees, &BTreeMap::new());
        assert_eq!(h.employee_of.get(&2), Some(&99));
        assert_eq!(h.manager(2), Some(1));
    }

    #[test]
    fn an_override_wins_over_odoo() {
        let overrides = BTreeMap::from([(3, 1)]);
        let h = Hierarchy::compute(
            &users(&[1, 2, 3]),
            &staff(&[(1, None), (2, Some(1)), (3, Some(2))]),
            &overrides,
        );
        assert_eq!(h.manager_of.get(&3), Some(&(1, ManagerSource::Override)));
        assert!(h.subtree(2).is_empty());
    }

    #[test]
    fn cycles_are_broken_at_the_smallest_id_whatever_the_input_order() {
        let h = Hierarchy::compute(
            &users(&[1, 2, 3, 4]),
            &staff(&[(2, Some(3)), (3, Some(4)), (4, Some(2)), (1, Some(4))]),
            &BTreeMap::new(),
        );
        assert_eq!(h.broken_cycles, vec![vec![2, 3, 4]]);
        assert_eq!(h.manager(2), None);
        assert_eq!(h.chain(1), [4, 2]);
        assert!(h.in_broken_cycle(3));
        assert!(!h.in_broken_cycle(1));
        assert_eq!(h.subtree(2), [1, 3, 4]);
    }

    #[test]
    fn a_self_override_is_ignored() {
        let h = Hierarchy::compute(
            &users(&[1]),
            &staff(&[(1, None)]),
            &BTreeMap::from([(1, 1)]),
        );
        assert_eq!(h.manager(1), None);
    }

    #[test]
    fn bottom_up_lists_reports_before_their_managers() {
        let all = users(&[1, 2, 3, 4]);
        let h = Hierarchy::compute(
            &all,
            &staff(&[(1, None), (2, Some(1)), (3, Some(2)), (4, Some(1))]),
            &BTreeMap::new(),
        );
        let order = h.bottom_up(all.keys());
        let index = |u| order.iter().position(|&x| x == u).expect("listed");
        assert_eq!(order.len(), 4);
        assert!(index(3) < index(2) && index(2) < index(1) && index(4) < index(1));
    }
}
