//! `--ledger DIR`: an append-only log of everything that changed state,
//! replayed at start. The file format and the rules that read it back are in
//! [`scan`]: a versioned header, then frames whose header and payload each carry
//! a crc32.
//!
//! Guarantees, and how they are kept:
//! - **Acknowledged means on disk.** A request is answered only after its record
//!   is fsync'd (group commit: concurrent requests share one fsync), so an
//!   answered transaction survives SIGKILL and power loss.
//! - **Nothing acknowledged is dropped at start.** Only a torn tail (an append
//!   that a crash interrupted, see [`scan`]) is cut. Any other damage stops the
//!   node with [`LedgerError::Corrupt`], naming the file, the byte offset and what
//!   is wrong, and the file is left as it is. `--repair-ledger` first copies the
//!   file to `ledger.log.bak-<unix time>` beside it, then keeps every valid record
//!   before and after the damage, drops the damaged bytes, logs each dropped
//!   region, and swaps the rewritten file in with an atomic rename.
//! - **A failed write is never acknowledged.** The first failed append or fsync
//!   marks the ledger failed: that request and every one waiting on an fsync get
//!   an error, no later append or fsync is attempted (after a failed fsync the
//!   kernel may report the next one as a success for data it dropped), and
//!   [`Ledger::failed`] wakes the node so that it stops; a restart replays what
//!   is on disk. A partial append leaves a torn tail, cut at that restart.
//! - A ledger of another format version (or of the headerless version 1) is
//!   refused; this node does not convert it.
//! - **Memory does not grow with the file.** [`Ledger::open`] checks the records
//!   a frame at a time (only from a frame that does not validate to the end of
//!   the file are the bytes read into memory, to be scanned by [`scan`]), and
//!   [`Ledger::replay`] then hands them over one at a time, with their offsets.
//!   [`Ledger::read_at`] reads one record back by offset (the transaction
//!   history keeps its bodies here, see `bank/history.rs`).

mod scan;

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_hash::Hash;
use solana_message::v0::LoadedAddresses;
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::InnerInstructions;

pub use scan::{Damage, Problem, FORMAT_VERSION};
use scan::{FileHeader, Verdict, FILE_HEADER_LEN, FRAME_HEADER_LEN, MAX_RECORD};

const LOG_FILE: &str = "ledger.log";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    Genesis {
        genesis_hash: [u8; 32],
        unix_time: i64,
    },
    Transaction(Box<StoredTransaction>),
    /// The test cheatcode moved the clock (slots and seconds).
    Clock {
        slot: u64,
        clock_offset: i64,
    },
    /// A slot opened a block. Written when the slot starts, so the block of
    /// every recorded transaction is on disk before the transaction is.
    Block(Block),
    /// The `mirror_setAccount` cheatcode wrote an account.
    SetAccount {
        slot: u64,
        pubkey: Pubkey,
        account: Account,
    },
    /// The SPL Token balances of the transaction recorded just before.
    TokenBalances {
        pre: Vec<TokenBalance>,
        post: Vec<TokenBalance>,
    },
    /// A transaction that loaded accounts through address lookup tables, with
    /// the addresses execution resolved (a table can change or close later, so
    /// history keeps what was loaded then). Added as the last variant: the
    /// records of ledgers written before it decode as they did (no format bump).
    TransactionWithLookups {
        transaction: Box<StoredTransaction>,
        writable: Vec<Pubkey>,
        readonly: Vec<Pubkey>,
    },
}

impl Entry {
    /// The record of `tx`: with its loaded addresses when it has any.
    pub fn transaction(tx: StoredTransaction) -> Self {
        if tx.loaded_addresses.is_empty() {
            return Entry::Transaction(Box::new(tx));
        }
        let LoadedAddresses { writable, readonly } = tx.loaded_addresses.clone();
        Entry::TransactionWithLookups { transaction: Box::new(tx), writable, readonly }
    }

    /// The transaction of a `Transaction` or `TransactionWithLookups` record.
    pub fn into_transaction(self) -> Option<Box<StoredTransaction>> {
        match self {
            Entry::Transaction(tx) => Some(tx),
            Entry::TransactionWithLookups { mut transaction, writable, readonly } => {
                transaction.loaded_addresses = LoadedAddresses { writable, readonly };
                Some(transaction)
            }
            _ => None,
        }
    }
}

/// An SPL Token account's balance in a transaction's meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBalance {
    pub account_index: u8,
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub program_id: Pubkey,
    pub amount: u64,
    pub decimals: u8,
}

/// A block: one per slot the node produced. Its transactions are those
/// recorded with its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub slot: u64,
    pub parent_slot: u64,
    pub block_height: u64,
    pub block_time: i64,
    pub blockhash: Hash,
    pub previous_blockhash: Hash,
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
    /// SPL Token balances before and after, recorded in the `TokenBalances`
    /// entry that follows the transaction's (ledgers from before it have none).
    #[serde(skip)]
    pub token_balances: Arc<(Vec<TokenBalance>, Vec<TokenBalance>)>,
    /// The accounts a v0 transaction loaded through lookup tables (recorded in
    /// an `Entry::TransactionWithLookups`).
    #[serde(skip)]
    pub loaded_addresses: LoadedAddresses,
}

impl StoredTransaction {
    /// Every account of the transaction, in Agave's order: the static keys, then
    /// the writable and the readonly addresses loaded through lookup tables.
    pub fn account_keys(&self) -> impl Iterator<Item = &Pubkey> {
        self.transaction
            .message
            .static_account_keys()
            .iter()
            .chain(&self.loaded_addresses.writable)
            .chain(&self.loaded_addresses.readonly)
    }

    /// The compute-unit price it paid (micro-lamports per unit).
    pub fn prioritization_fee(&self) -> u64 {
        crate::bank::fees::compute_budget_request(&self.transaction.message).unit_price
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("ledger encoding: {0}")]
    Encode(#[from] bincode::Error),
    #[error("ledger record of {0} bytes is over the {MAX_RECORD}-byte limit")]
    TooLarge(usize),
    #[error(
        "ledger {path} is damaged at byte {offset}: {problem} ({len} bytes up to the next valid record; {records_after} valid \
         records after it, {records_before} before). The node does not start on a damaged ledger and has left the file as it \
         is. Rerun with --repair-ledger to keep every valid record (a copy of the file is saved first) and drop the damaged \
         bytes",
        path = .path.display(), offset = .damage.offset, problem = .damage.problem, len = .damage.len,
        records_after = .damage.records_after
    )]
    Corrupt { path: PathBuf, damage: Damage, records_before: usize },
    #[error(
        "ledger {path} is format version {found}; this node reads version {FORMAT_VERSION} only. Use the mirror-localnet that \
         wrote it, or delete the ledger directory to start a new chain",
        path = .path.display()
    )]
    Version { path: PathBuf, found: u32 },
    #[error(
        "{path} does not start with the ledger header (\"MIRLEDGR\" and a format version): it was written by a mirror-localnet \
         older than ledger format {FORMAT_VERSION}, or it is not a ledger. This node does not convert it; delete the ledger \
         directory to start a new chain",
        path = .path.display()
    )]
    NoHeader { path: PathBuf },
    #[error("ledger write failed: {0}; nothing more is recorded and the node stops")]
    Failed(String),
}

pub struct Ledger {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// For positional reads of records already appended (history bodies).
    reader: File,
    sync_handle: File,
    sync_lock: Mutex<()>,
    written: AtomicU64,
    synced: AtomicU64,
    /// The first write or fsync failure; once set, nothing more is written.
    failure: Mutex<Option<String>>,
    failure_notify: tokio::sync::Notify,
}

struct Writer {
    file: File,
    /// The file's length: where the next record starts.
    len: u64,
}

/// Where [`Ledger::append`] put an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The sequence number to pass to [`Ledger::make_durable`].
    pub seq: u64,
    /// The byte offset of its record, for [`Ledger::read_at`].
    pub offset: u64,
}

impl Ledger {
    /// Opens (creating) the ledger in `dir` and checks every record, a frame at
    /// a time (memory does not grow with the file). A damaged ledger is refused,
    /// or repaired when `repair` is set (see the module docs). Its entries are
    /// then read back with [`Ledger::replay`].
    pub fn open(dir: &Path, repair: bool) -> Result<Self, LedgerError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        if !path.exists() {
            write_atomically(&path, &scan::file_header())?;
        }
        let mut head = Vec::with_capacity(FILE_HEADER_LEN);
        File::open(&path)?.take(FILE_HEADER_LEN as u64).read_to_end(&mut head)?;
        match scan::read_file_header(&head) {
            FileHeader::Current => check(&path, repair)?,
            FileHeader::Unfinished => {
                // A crash while the file was being created: nothing was ever recorded.
                tracing::warn!(path = %path.display(), len = head.len(), "rewriting an unfinished ledger header");
                write_atomically(&path, &scan::file_header())?;
            }
            FileHeader::Version(found) => return Err(LedgerError::Version { path, found }),
            FileHeader::Unknown => return Err(LedgerError::NoHeader { path }),
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = file.seek(SeekFrom::End(0))?;
        let sync_handle = file.try_clone()?;
        let reader = file.try_clone()?;
        Ok(Self {
            path,
            writer: Mutex::new(Writer { file, len }),
            reader,
            sync_handle,
            sync_lock: Mutex::new(()),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            failure: Mutex::new(None),
            failure_notify: tokio::sync::Notify::new(),
        })
    }

    /// The entries recorded before this process opened the ledger, in order,
    /// each with its record's offset; read a frame at a time.
    pub fn replay(&self) -> Result<Replay, LedgerError> {
        let end = self.writer.lock().len;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(FILE_HEADER_LEN as u64))?;
        Ok(Replay {
            reader: BufReader::with_capacity(1 << 20, file),
            pos: FILE_HEADER_LEN as u64,
            end,
            buf: Vec::new(),
        })
    }

    /// The entry whose record starts at `offset` (from [`Ledger::append`] or
    /// [`Ledger::replay`]), checked against its crcs, and where the next record starts.
    pub fn read_at(&self, offset: u64) -> Result<(Entry, u64), LedgerError> {
        let mut header = [0u8; FRAME_HEADER_LEN];
        self.reader.read_exact_at(&mut header, offset)?;
        let len = scan::announced_len(&header).ok_or_else(|| self.unreadable(offset, "a bad record header"))?;
        let mut frame = vec![0u8; FRAME_HEADER_LEN + len as usize];
        self.reader.read_exact_at(&mut frame, offset)?;
        let (entry, end) =
            scan::frame_at(&frame, 0).map_err(|problem| self.unreadable(offset, &problem.to_string()))?;
        Ok((entry, offset + end as u64))
    }

    fn unreadable(&self, offset: u64, what: &str) -> LedgerError {
        LedgerError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} at byte {offset}: {what}", self.path.display()),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry (in the OS page cache); returns its sequence number and
    /// offset. On an error nothing of the entry will
    /// be acknowledged; an i/o error also fails the ledger for good.
    pub fn append(&self, entry: &Entry) -> Result<Appended, LedgerError> {
        let payload = bincode::serialize(entry)?;
        if payload.len() > MAX_RECORD as usize {
            return Err(LedgerError::TooLarge(payload.len()));
        }
        let frame = scan::encode_frame(&payload);
        let mut writer = self.writer.lock();
        self.check_not_failed()?;
        if let Err(err) = writer.file.write_all(&frame) {
            return Err(self.fail(format!("appending to {}: {err}", self.path.display())));
        }
        let offset = writer.len;
        writer.len += frame.len() as u64;
        Ok(Appended { seq: self.written.fetch_add(1, Ordering::SeqCst) + 1, offset })
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
        self.check_not_failed()?;
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let target = self.written.load(Ordering::SeqCst);
        if let Err(err) = self.sync_handle.sync_data() {
            return Err(self.fail(format!("fsync of {}: {err}", self.path.display())));
        }
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// The failure that stopped the ledger, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// Resolves with the failure once a write or fsync has failed.
    pub async fn failed(&self) -> String {
        loop {
            if let Some(failure) = self.failure() {
                return failure;
            }
            self.failure_notify.notified().await;
        }
    }

    fn check_not_failed(&self) -> Result<(), LedgerError> {
        match self.failure() {
            Some(failure) => Err(LedgerError::Failed(failure)),
            None => Ok(()),
        }
    }

    fn fail(&self, what: String) -> LedgerError {
        let mut failure = self.failure.lock();
        if failure.is_none() {
            tracing::error!(path = %self.path.display(), error = %what,
                "ledger write failed: nothing more is recorded or acknowledged; the node stops, and a restart replays what is on disk");
            *failure = Some(what.clone());
            self.failure_notify.notify_one();
        }
        LedgerError::Failed(what)
    }
}

/// The entries of a checked ledger, a frame at a time: (record offset, entry).
pub struct Replay {
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
}

impl Iterator for Replay {
    type Item = Result<(u64, Entry), LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let at = self.pos;
        Some(match next_frame(&mut self.reader, self.end - at, &mut self.buf) {
            Ok(Some((entry, len))) => {
                self.pos += len;
                Ok((at, entry))
            }
            // The file was checked when it was opened: it changed since.
            Ok(None) => Err(LedgerError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the ledger changed while it was replayed (byte {at})"),
            ))),
            Err(err) => Err(err.into()),
        })
    }
}

/// Reads the frame at the reader's position, with `remaining` bytes left in
/// the file: its entry and length, or None when it does not validate (the
/// reader's position is then anywhere within the frame).
fn next_frame(reader: &mut impl Read, remaining: u64, buf: &mut Vec<u8>) -> std::io::Result<Option<(Entry, u64)>> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    if remaining < FRAME_HEADER_LEN as u64 {
        return Ok(None);
    }
    reader.read_exact(&mut header)?;
    let Some(len) = scan::announced_len(&header) else {
        return Ok(None);
    };
    let frame_len = FRAME_HEADER_LEN + len as usize;
    if remaining < frame_len as u64 {
        return Ok(None);
    }
    buf.clear();
    buf.extend_from_slice(&header);
    buf.resize(frame_len, 0);
    reader.read_exact(&mut buf[FRAME_HEADER_LEN..])?;
    Ok(scan::frame_at(buf, 0).ok().map(|(entry, _)| (entry, frame_len as u64)))
}

/// Checks a ledger with a current header, a frame at a time, and cuts a torn
/// tail or (with `repair`) rewrites it without its damaged bytes. The valid
/// frames are streamed; from the first one that does not validate to the end,
/// the bytes are read into memory and scanned (a torn tail is a few bytes; a
/// damaged middle is the rare case that an operator looks at).
fn check(path: &Path, repair: bool) -> Result<(), LedgerError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(FILE_HEADER_LEN as u64))?;
    let (mut pos, mut records, mut buf) = (FILE_HEADER_LEN as u64, 0usize, Vec::new());
    while pos < file_len {
        match next_frame(&mut reader, file_len - pos, &mut buf)? {
            Some((_, len)) => {
                pos += len;
                records += 1;
            }
            None => break,
        }
    }
    if pos >= file_len {
        if repair {
            tracing::info!(path = %path.display(), records, "--repair-ledger: the ledger is intact");
        }
        return Ok(());
    }
    let mut tail = Vec::new();
    let mut file = reader.into_inner();
    file.seek(SeekFrom::Start(pos))?;
    file.read_to_end(&mut tail)?;
    let scan = scan::scan_from(&tail, pos);
    match scan.verdict() {
        // Not expected: the frame at `pos` just failed the same checks.
        Verdict::Clean => {}
        Verdict::TornTail { offset } => {
            tracing::warn!(path = %path.display(), offset, dropped_bytes = scan.file_len - offset, records_kept = records,
                problem = %scan.damage[0].problem, "cutting a torn append (never acknowledged) off the ledger tail");
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(offset)?;
            file.sync_all()?;
        }
        Verdict::Corrupt(damage) if !repair => {
            let records_before = records + scan.frames.iter().filter(|f| f.end <= damage.offset).count();
            return Err(LedgerError::Corrupt { path: path.to_path_buf(), damage, records_before });
        }
        Verdict::Corrupt(_) => rewrite_without_damage(path, pos, &tail, &scan, records)?,
    }
    Ok(())
}

/// Rewrites the ledger as its first `intact` bytes (all valid records) and the
/// valid records of `tail` (the bytes from `intact` on, scanned), after saving
/// a copy of the file as it is.
fn rewrite_without_damage(
    path: &Path,
    intact: u64,
    tail: &[u8],
    scan: &scan::Scan,
    records_intact: usize,
) -> Result<(), LedgerError> {
    let backup = backup_path(path);
    {
        let mut from = File::open(path)?;
        let mut to = OpenOptions::new().write(true).create_new(true).open(&backup)?;
        std::io::copy(&mut from, &mut to)?;
        to.sync_all()?;
        sync_dir(&backup)?;
    }
    let tmp = path.with_file_name(format!("{LOG_FILE}.tmp"));
    {
        let mut to = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        std::io::copy(&mut File::open(path)?.take(intact), &mut to)?;
        for frame in &scan.frames {
            to.write_all(&tail[(frame.start - intact) as usize..(frame.end - intact) as usize])?;
        }
        to.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)?;
    for damage in &scan.damage {
        tracing::warn!(path = %path.display(), offset = damage.offset, dropped_bytes = damage.len, problem = %damage.problem,
            records_after = damage.records_after, "--repair-ledger: dropping damaged bytes");
    }
    tracing::warn!(path = %path.display(), backup = %backup.display(), records_kept = records_intact + scan.frames.len(),
        regions_dropped = scan.damage.len(), bytes_dropped = scan.damage.iter().map(|d| d.len).sum::<u64>(),
        "--repair-ledger: ledger repaired; the original is saved as the backup");
    Ok(())
}

/// `ledger.log.bak-<unix time>` beside `path`, with a counter if that name is taken.
fn backup_path(path: &Path) -> PathBuf {
    let stem =
        format!("{}.bak-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or(LOG_FILE), crate::bank::unix_now());
    let mut candidate = path.with_file_name(&stem);
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{stem}-{n}"));
        n += 1;
    }
    candidate
}

/// Replaces `path` with `data` so that a crash leaves either the old or the new file.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), LedgerError> {
    let tmp = path.with_file_name(format!("{LOG_FILE}.tmp"));
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), LedgerError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mirror-ledger-{name}-{}-{}",
            std::process::id(),
            crate::bank::unix_now()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn entries(ledger: &Ledger) -> Vec<Entry> {
        ledger.replay().unwrap().map(|r| r.unwrap().1).collect()
    }

    fn clock_slots(entries: &[Entry]) -> Vec<u64> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Clock { slot, .. } => *slot,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    /// A ledger of `n` clock records, closed; returns the file and each record's offset.
    fn ledger_with(dir: &Path, n: u64) -> (PathBuf, Vec<u64>) {
        let ledger = Ledger::open(dir, false).unwrap();
        assert!(entries(&ledger).is_empty());
        let mut offsets = Vec::new();
        for slot in 0..n {
            offsets.push(std::fs::metadata(ledger.path()).unwrap().len());
            ledger.append(&Entry::Clock { slot, clock_offset: 0 }).unwrap();
        }
        ledger.make_all_durable().unwrap();
        (ledger.path().to_path_buf(), offsets)
    }

    #[test]
    fn a_damaged_middle_is_refused_untouched_then_repaired_with_a_backup() {
        let dir = temp_dir("repair");
        let (path, offsets) = ledger_with(&dir, 6);
        let mut data = std::fs::read(&path).unwrap();
        data[offsets[2] as usize + 20] ^= 0xff;
        std::fs::write(&path, &data).unwrap();

        let err = Ledger::open(&dir, false).err().expect("refused");
        let message = err.to_string();
        assert!(message.contains(&format!("at byte {}", offsets[2])), "{message}");
        assert!(message.contains("--repair-ledger") && message.contains(&path.display().to_string()), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), data, "a refused ledger is left as it is");

        let ledger = Ledger::open(&dir, true).unwrap();
        assert_eq!(clock_slots(&entries(&ledger)), vec![0, 1, 3, 4, 5]);
        let backups: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ledger.log.bak-"))
            .collect();
        assert_eq!(backups.len(), 1);
        assert_eq!(std::fs::read(&backups[0]).unwrap(), data, "the backup is the damaged file as it was");
        ledger.append(&Entry::Clock { slot: 6, clock_offset: 0 }).unwrap();
        ledger.make_all_durable().unwrap();
        drop(ledger);
        let ledger = Ledger::open(&dir, false).unwrap();
        assert_eq!(clock_slots(&entries(&ledger)), vec![0, 1, 3, 4, 5, 6]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_go_on_after_it() {
        let dir = temp_dir("torn");
        let (path, offsets) = ledger_with(&dir, 3);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 5).unwrap();
        drop(file);
        let ledger = Ledger::open(&dir, false).unwrap();
        assert_eq!(clock_slots(&entries(&ledger)), vec![0, 1]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), offsets[2]);
        ledger.append(&Entry::Clock { slot: 7, clock_offset: 0 }).unwrap();
        drop(ledger);
        assert_eq!(clock_slots(&entries(&Ledger::open(&dir, false).unwrap())), vec![0, 1, 7]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_are_read_back_at_their_offsets() {
        let dir = temp_dir("read-at");
        let ledger = Ledger::open(&dir, false).unwrap();
        let appended: Vec<Appended> =
            (0..4).map(|slot| ledger.append(&Entry::Clock { slot, clock_offset: -(slot as i64) }).unwrap()).collect();
        assert_eq!(appended.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        for (slot, a) in appended.iter().enumerate() {
            let (entry, next) = ledger.read_at(a.offset).unwrap();
            assert_eq!(clock_slots(&[entry]), vec![slot as u64]);
            if let Some(after) = appended.get(slot + 1) {
                assert_eq!(next, after.offset);
            }
        }
        assert!(ledger.read_at(appended[1].offset + 3).is_err(), "not a record start");
        ledger.make_all_durable().unwrap();
        drop(ledger);
        let ledger = Ledger::open(&dir, false).unwrap();
        let replayed: Vec<u64> = ledger.replay().unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(replayed, appended.iter().map(|a| a.offset).collect::<Vec<_>>());
        let next = ledger.append(&Entry::Clock { slot: 9, clock_offset: 0 }).unwrap();
        assert_eq!(clock_slots(&[ledger.read_at(next.offset).unwrap().0]), vec![9]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_formats_are_refused() {
        let dir = temp_dir("format");
        let (path, _) = ledger_with(&dir, 1);
        let mut data = std::fs::read(&path).unwrap();
        data[8..12].copy_from_slice(&3u32.to_le_bytes());
        std::fs::write(&path, &data).unwrap();
        let message = Ledger::open(&dir, true).err().expect("refused").to_string();
        assert!(message.contains("format version 3") && message.contains("reads version 2"), "{message}");
        // Version 1: no header, the file starts with a record length.
        std::fs::write(&path, [40u8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let message = Ledger::open(&dir, false).err().expect("refused").to_string();
        assert!(message.contains("does not start with the ledger header"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
