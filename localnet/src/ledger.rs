//! `--ledger DIR`: an append-only log of everything that changed state,
//! replayed at start. Each record is `[len u32 le][crc32 u32 le][bincode]`.
//! A request is answered only after its record is fsync'd (group commit:
//! concurrent requests share one fsync), so an answered transaction survives
//! SIGKILL; a torn record at the tail (a crash mid-write, never answered) is
//! cut off at replay.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::InnerInstructions;

const LOG_FILE: &str = "ledger.log";
/// Bigger records are treated as corruption (a transaction is ~1 KiB plus accounts).
const MAX_RECORD: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    Genesis { genesis_hash: [u8; 32], unix_time: i64 },
    Transaction(Box<StoredTransaction>),
    /// The test cheatcode moved the clock (slots and seconds).
    Clock { slot: u64, clock_offset: i64 },
}

/// A processed transaction with everything RPC needs to serve it again, and
/// the post-state of the accounts it wrote (replayed without re-executing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTransaction {
    pub slot: u64,
    pub block_time: i64,
    pub transaction: VersionedTransaction,
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    pub fee: u64,
    pub pre_balances: Vec<u64>,
    pub post_balances: Vec<u64>,
    pub compute_units: u64,
    pub inner_instructions: Vec<InnerInstructions>,
    pub return_data: Option<(Pubkey, Vec<u8>)>,
    pub accounts: Vec<(Pubkey, Account)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("ledger encoding: {0}")]
    Encode(#[from] bincode::Error),
}

pub struct Ledger {
    path: PathBuf,
    writer: Mutex<BufWriter<File>>,
    sync_handle: File,
    sync_lock: Mutex<()>,
    written: AtomicU64,
    synced: AtomicU64,
}

impl Ledger {
    /// Opens (creating) the ledger in `dir` and returns it with its valid entries.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Entry>), LedgerError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path)?;
        let (entries, valid_len) = read_entries(&mut file)?;
        let len = file.metadata()?.len();
        if valid_len < len {
            tracing::warn!(path = %path.display(), valid_len, len, "cutting a torn record off the ledger tail");
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let sync_handle = file.try_clone()?;
        Ok((
            Self {
                path,
                writer: Mutex::new(BufWriter::with_capacity(1 << 20, file)),
                sync_handle,
                sync_lock: Mutex::new(()),
                written: AtomicU64::new(0),
                synced: AtomicU64::new(0),
            },
            entries,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry (in the OS page cache); returns the sequence number to
    /// pass to [`Ledger::make_durable`].
    pub fn append(&self, entry: &Entry) -> Result<u64, LedgerError> {
        let payload = bincode::serialize(entry)?;
        let mut writer = self.writer.lock();
        writer.write_all(&(payload.len() as u32).to_le_bytes())?;
        writer.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
        writer.write_all(&payload)?;
        writer.flush()?;
        Ok(self.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once everything appended so far is on disk.
    pub fn make_all_durable(&self) -> Result<(), LedgerError> {
        self.make_durable(self.written.load(Ordering::SeqCst))
    }

    /// The highest sequence number known to be on disk.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::SeqCst)
    }

    /// Returns once every entry up to `seq` is on disk. Callers that arrive
    /// while an fsync runs are covered by the next one.
    pub fn make_durable(&self, seq: u64) -> Result<(), LedgerError> {
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let _one_fsync_at_a_time = self.sync_lock.lock();
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let target = self.written.load(Ordering::SeqCst);
        self.sync_handle.sync_data()?;
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }
}

fn read_entries(file: &mut File) -> Result<(Vec<Entry>, u64), LedgerError> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut entries = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut header = [0u8; 8];
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            break;
        }
        let mut payload = vec![0u8; len as usize];
        if reader.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        match bincode::deserialize::<Entry>(&payload) {
            Ok(entry) => entries.push(entry),
            Err(_) => break,
        }
        offset += 8 + len as u64;
    }
    Ok((entries, offset))
}
