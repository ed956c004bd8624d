//! All the VRRP instances of one node, and the sync groups that move members together (sans-IO).
//!
//! keepalived's `vrrp_sync_group`: when one member becomes master, or steps down to backup, the others follow; when one
//! enters fault, all do, and they leave fault together once no member is faulty any more.

use std::time::Instant;

use crate::instance::{Action, Event, Instance, InstanceConfig, NotifyState, State, TrackKey};

/// A sync group: its name and member indexes into the node's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// The `vrrp_sync_group` name.
    pub name: String,
    /// Indexes of the member instances.
    pub members: Vec<usize>,
}

/// An action for the driver, naming whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// An instance's action.
    Instance {
        /// Index of the instance.
        index: usize,
        /// What to do.
        action: Action,
    },
    /// A sync group changed state: run its notify scripts.
    GroupNotify {
        /// Index of the group.
        group: usize,
        /// The group's new state.
        state: NotifyState,
    },
}

#[derive(Debug)]
struct Group {
    cfg: GroupConfig,
    state: Option<NotifyState>,
}

/// The instances and sync groups of one node.
#[derive(Debug)]
pub struct Node {
    instances: Vec<Instance>,
    groups: Vec<Group>,
    member_of: Vec<Option<usize>>,
}

impl Node {
    /// Builds a node; group members out of range or in several groups are ignored past their first group.
    pub fn new(instances: Vec<InstanceConfig>, groups: Vec<GroupConfig>) -> Node {
        let mut member_of = vec![None; instances.len()];
        let groups = groups
            .into_iter()
            .enumerate()
            .map(|(gi, mut cfg)| {
                cfg.members.retain(|&m| {
                    if m < member_of.len() && member_of[m].is_none() {
                        member_of[m] = Some(gi);
                        true
                    } else {
                        false
                    }
                });
                Group { cfg, state: None }
            })
            .collect();
        Node {
            instances: instances.into_iter().map(Instance::new).collect(),
            groups,
            member_of,
        }
    }

    /// The instances, in configuration order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Mutable access to one instance (for reconfiguration on reload).
    pub fn instance_mut(&mut self, index: usize) -> Option<&mut Instance> {
        self.instances.get_mut(index)
    }

    /// The sync groups.
    pub fn groups(&self) -> impl Iterator<Item = &GroupConfig> {
        self.groups.iter().map(|g| &g.cfg)
    }

    /// Replaces instance `index` by one carried over from an earlier node (reload without a state change).
    pub fn adopt(&mut self, index: usize, instance: Instance) {
        if let Some(slot) = self.instances.get_mut(index) {
            *slot = instance;
        }
    }

    /// Takes the instances out, ending the node (used on reload).
    pub fn into_instances(self) -> Vec<Instance> {
        self.instances
    }

    /// The earliest timer of any instance.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(Instance::poll_timeout)
            .min()
    }

    /// Feeds an event to one instance.
    pub fn handle(&mut self, now: Instant, index: usize, event: Event) -> Vec<NodeAction> {
        let mut out = Vec::new();
        self.dispatch(now, index, event, &mut out);
        out
    }

    /// Feeds an event to every instance (Start, Timer, TrackChanged, Shutdown).
    pub fn broadcast(&mut self, now: Instant, event: Event) -> Vec<NodeAction> {
        let mut out = Vec::new();
        for i in 0..self.instances.len() {
            self.dispatch(now, i, event.clone(), &mut out);
        }
        out
    }

    /// A link changed: instances on it get InterfaceUp/Down, instances tracking it get TrackChanged.
    pub fn link_changed(&mut self, now: Instant, ifname: &str, up: bool) -> Vec<NodeAction> {
        let mut out = Vec::new();
        for i in 0..self.instances.len() {
            if self.instances[i].config().interface == ifname {
                let ev = if up {
                    Event::InterfaceUp
                } else {
                    Event::InterfaceDown
                };
                self.dispatch(now, i, ev, &mut out);
            }
            self.dispatch(
                now,
                i,
                Event::TrackChanged {
                    key: TrackKey::Interface(ifname.to_string()),
                    ok: up,
                },
                &mut out,
            );
        }
        out
    }

    fn dispatch(&mut self, now: Instant, i: usize, event: Event, out: &mut Vec<NodeAction>) {
        let Some(inst) = self.instances.get_mut(i) else {
            return;
        };
        let before = inst.state();
        push(out, i, inst.handle(now, event));
        let after = self.instances[i].state();
        self.sync(now, i, before, after, out);
    }

    fn sync(
        &mut self,
        now: Instant,
        i: usize,
        before: State,
        after: State,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(g) = self.member_of[i] else {
            return;
        };
        let members = self.groups[g].cfg.members.clone();
        let any_fault = members.iter().any(|&m| self.instances[m].own_fault());
        for &m in &members {
            let acts = self.instances[m].set_group_fault(now, any_fault);
            push(out, m, acts);
        }
        if !any_fault && before != after && matches!(after, State::Master | State::Backup) {
            for &m in &members {
                if m != i && matches!(self.instances[m].state(), State::Master | State::Backup) {
                    let acts = self.instances[m].force(now, after);
                    push(out, m, acts);
                }
            }
        }
        let group_state = if any_fault {
            Some(NotifyState::Fault)
        } else if after == State::Initialize
            && members
                .iter()
                .all(|&m| self.instances[m].state() == State::Initialize)
        {
            Some(NotifyState::Stop)
        } else {
            match self.instances[i].state() {
                State::Master => Some(NotifyState::Master),
                State::Backup => Some(NotifyState::Backup),
                State::Fault => Some(NotifyState::Fault),
                State::Initialize => self.groups[g].state,
            }
        };
        if group_state != self.groups[g].state {
            self.groups[g].state = group_state;
            if let Some(state) = group_state {
                out.push(NodeAction::GroupNotify { group: g, state });
            }
        }
    }
}

fn push(out: &mut Vec<NodeAction>, index: usize, actions: Vec<Action>) {
    out.extend(
        actions
            .into_iter()
            .map(|action| NodeAction::Instance { index, action }),
    );
}
