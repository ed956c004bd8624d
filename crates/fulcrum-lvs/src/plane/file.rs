//! A data plane that is only a file of table records: no traffic, no counters. For tests and dry runs.

use super::{DataPlane, PlaneError};
use crate::format::ConnEntry;
use crate::model::Table;
use crate::record;
use std::path::PathBuf;

/// The table kept in a file (created on first store; a missing file is an empty table).
#[derive(Debug, Clone)]
pub struct FilePlane {
    path: PathBuf,
}

impl FilePlane {
    /// A file data plane at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FilePlane { path: path.into() }
    }

    fn io(&self, source: std::io::Error) -> PlaneError {
        PlaneError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl DataPlane for FilePlane {
    fn load(&mut self) -> Result<Table, PlaneError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(record::decode(text.lines())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Table::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn store(&mut self, table: &Table) -> Result<(), PlaneError> {
        let mut text = record::encode(table).join("\n");
        text.push('\n');
        // Written aside and renamed over: a failure at either step leaves the previous file whole.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| self.io(e).not_applied())?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e).not_applied())
    }

    fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError> {
        Ok(Vec::new())
    }
}
