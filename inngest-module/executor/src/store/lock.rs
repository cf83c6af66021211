//! One owner per database: an exclusive `flock` on `<database>.lock`, taken before anything
//! is read and held for the store's life. The kernel drops it when the process dies (even by
//! `kill -9`), so a crashed owner never blocks its successor.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::error::{StoreError, StoreResult};

/// The held lock; released when dropped.
#[derive(Debug)]
pub(crate) struct OwnerLock {
    _file: File,
}

/// The lock file of `database`: `<database>.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl OwnerLock {
    /// Takes the lock of `database`, or says which process holds it.
    pub(crate) fn acquire(database: &Path) -> StoreResult<Self> {
        let path = lock_path(database);
        let lock_error = |source: std::io::Error| StoreError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        if let Err(error) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if error == rustix::io::Errno::WOULDBLOCK {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::InUse {
                    path: database.to_path_buf(),
                    holder: text.trim().parse().ok(),
                });
            }
            return Err(lock_error(error.into()));
        }
        // Record who holds it, for the next process's error message.
        file.set_len(0).map_err(lock_error)?;
        file.seek(SeekFrom::Start(0)).map_err(lock_error)?;
        write!(file, "{}", std::process::id()).map_err(lock_error)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("x.sqlite3");
        let first = OwnerLock::acquire(&database).unwrap();
        let error = OwnerLock::acquire(&database).unwrap_err();
        match &error {
            StoreError::InUse { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            error.to_string().contains("is in use by another process"),
            "{error}"
        );
        drop(first);
        assert!(OwnerLock::acquire(&database).is_ok());
    }
}
