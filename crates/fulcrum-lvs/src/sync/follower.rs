//! keepalived's `lvs_sync_daemon`: one daemon that is the backup while its VRRP instance is not MASTER and the
//! master while it is. Starting or stopping conntrackd takes a few milliseconds to seconds, so the changes run on
//! a thread of their own and the VRRP thread only sends the new role.

use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

use super::{start, stop, Role, SyncError, SyncSpec};

/// The thread keeping the daemon in the role it was last given; stops the daemon when dropped.
pub struct Follower {
    tx: Sender<Option<Role>>,
    thread: Option<JoinHandle<()>>,
}

/// A handle for the VRRP thread: sends roles to the [`Follower`].
#[derive(Clone)]
pub struct RoleSender {
    tx: Sender<Option<Role>>,
}

impl RoleSender {
    /// Asks for `role` (nothing happens when it is the current one).
    pub fn follow(&self, role: Role) {
        let _ = self.tx.send(Some(role));
    }
}

impl Follower {
    /// Starts the thread and, at once, the backup daemon of `spec` (its role is ignored).
    pub fn start(spec: SyncSpec) -> std::io::Result<Follower> {
        let (tx, rx) = channel::<Option<Role>>();
        let thread = std::thread::Builder::new()
            .name("fulcrum-sync".into())
            .spawn(move || {
                let mut current: Option<Role> = None;
                let mut want = Some(Role::Backup);
                loop {
                    if want != current {
                        if let Some(old) = current.take() {
                            match stop(old) {
                                Ok(()) | Err(SyncError::NotRunning) => {
                                    tracing::info!("{} sync daemon stopped", old.name())
                                }
                                Err(e) => {
                                    tracing::error!("stopping the {} sync daemon: {e}", old.name())
                                }
                            }
                        }
                        if let Some(new) = want {
                            let s = SyncSpec {
                                role: new,
                                ..spec.clone()
                            };
                            match start(&s) {
                                Ok(()) | Err(SyncError::AlreadyRunning) => {
                                    tracing::info!(
                                        "{} sync daemon started (conntrackd)",
                                        new.name()
                                    );
                                    current = Some(new);
                                }
                                Err(e) => {
                                    tracing::error!("starting the {} sync daemon: {e}", new.name())
                                }
                            }
                        }
                    }
                    match rx.recv() {
                        Ok(Some(r)) => want = Some(r),
                        Ok(None) | Err(_) => want = None,
                    }
                    if want.is_none() {
                        if let Some(old) = current.take() {
                            let _ = stop(old);
                        }
                        return;
                    }
                }
            })?;
        Ok(Follower {
            tx,
            thread: Some(thread),
        })
    }

    /// A sender of roles for another thread.
    pub fn sender(&self) -> RoleSender {
        RoleSender {
            tx: self.tx.clone(),
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.tx.send(None);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
