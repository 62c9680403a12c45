//! The on-disk format of `ledger.log` and the rules that read it back.
//!
//! File: a 12-byte header, `b"MIRLEDGR"` then the format version (u32 le), then
//! frames. Frame: `[len u32 le][payload crc32 u32 le][header crc32 u32 le][payload]`,
//! where the header crc covers the first 8 bytes and the payload is one bincode
//! [`Entry`]. The header crc makes the length trustworthy on its own, so a
//! damaged length is told apart from a payload that a crash cut short.
//!
//! [`scan`] walks the frames and, at a frame that does not validate, looks for
//! the next frame that does (header crc, sane length, payload crc, decodes with
//! no trailing bytes): from the end of the bad frame when its header was valid,
//! else from the next byte. What lies between is a damaged region.
//!
//! [`Scan::verdict`] applies the one rule that lets bytes go without an operator:
//! a **torn tail** is a single damaged region at the very end, with no valid
//! frame after it, that is what an interrupted append leaves — fewer than 12
//! header bytes, or a valid header whose payload runs past the end of the file —
//! or only zero bytes (a file extended by the kernel whose data never reached
//! the disk). An append is acknowledged only after its fsync, so such a tail was
//! never acknowledged. Anything else is **corruption**: a damaged region with
//! valid frames after it, a frame whose payload fails its crc, a frame whose crc
//! passes but which does not decode, a bad length. The last record of a ledger
//! with a flipped bit is therefore refused, not cut: it was acknowledged.

use std::ops::Range;

use bincode::Options;

use super::Entry;

pub const FILE_MAGIC: [u8; 8] = *b"MIRLEDGR";
/// Version 1 was the headerless `[len][crc][payload]` format.
pub const FORMAT_VERSION: u32 = 2;
pub const FILE_HEADER_LEN: usize = 12;
pub const FRAME_HEADER_LEN: usize = 12;
/// Bigger records are never written (a transaction is ~1 KiB plus accounts).
pub const MAX_RECORD: u32 = 64 * 1024 * 1024;

pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(&FILE_MAGIC);
    header[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// What the file header says.
#[derive(Debug, PartialEq, Eq)]
pub enum FileHeader {
    /// Our magic and this version.
    Current,
    /// Shorter than a header and a prefix of ours: a crash while creating the file.
    Unfinished,
    /// Our magic with another version.
    Version(u32),
    /// Not our magic (a version 1 ledger starts with a record length).
    Unknown,
}

pub fn read_file_header(data: &[u8]) -> FileHeader {
    let expected = file_header();
    if data.len() < FILE_HEADER_LEN {
        return if expected.starts_with(data) { FileHeader::Unfinished } else { FileHeader::Unknown };
    }
    if data[..8] != FILE_MAGIC {
        return FileHeader::Unknown;
    }
    match u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) {
        FORMAT_VERSION => FileHeader::Current,
        other => FileHeader::Version(other),
    }
}

/// One framed record, ready to append.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&frame[..8]);
    frame.extend_from_slice(&header_crc.to_le_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Why the bytes at an offset are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Fewer bytes than a frame header left.
    IncompleteHeader {
        have: usize,
    },
    BadHeaderCrc,
    /// The header crc passes but the length is impossible.
    BadLength(u32),
    /// A valid header whose payload runs past the end of the file.
    IncompletePayload {
        len: u32,
        have: usize,
    },
    BadPayloadCrc {
        len: u32,
    },
    /// The crc passes, yet the payload is not an entry.
    Undecodable {
        len: u32,
        error: String,
    },
}

impl Problem {
    /// What an interrupted append can leave.
    fn is_torn_write(&self) -> bool {
        matches!(self, Problem::IncompleteHeader { .. } | Problem::IncompletePayload { .. })
    }

    /// Where the next frame starts when this one's length can be trusted.
    fn trusted_len(&self) -> Option<u32> {
        match self {
            Problem::BadPayloadCrc { len } | Problem::Undecodable { len, .. } => Some(*len),
            _ => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::IncompleteHeader { have } => {
                write!(f, "only {have} of the {FRAME_HEADER_LEN} bytes of a record header")
            }
            Problem::BadHeaderCrc => write!(f, "the record header fails its checksum"),
            Problem::BadLength(len) => write!(f, "the record header gives an impossible length ({len} bytes)"),
            Problem::IncompletePayload { len, have } => {
                write!(f, "a {len}-byte record of which only {have} bytes are there")
            }
            Problem::BadPayloadCrc { len } => write!(f, "a {len}-byte record fails its checksum"),
            Problem::Undecodable { len, error } => {
                write!(f, "a {len}-byte record passes its checksum but does not decode ({error})")
            }
        }
    }
}

/// Bytes that are not valid frames, from `offset` (counted from the start of
/// the file) for `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub len: u64,
    pub problem: Problem,
    /// Valid records after this region.
    pub records_after: usize,
    pub zeros_only: bool,
}

/// Every valid record of a ledger body and every damaged region between them.
#[derive(Debug, Default)]
pub struct Scan {
    pub entries: Vec<Entry>,
    /// Where each entry's frame lies, as offsets from the start of the file.
    pub frames: Vec<Range<u64>>,
    pub damage: Vec<Damage>,
    pub file_len: u64,
}

/// What may be done with a scanned ledger.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Cut the file at `offset`: a torn append, never acknowledged.
    TornTail {
        offset: u64,
    },
    /// Refuse to start (or repair on request): the first damaged region.
    Corrupt(Damage),
}

impl Scan {
    pub fn verdict(&self) -> Verdict {
        match self.damage.as_slice() {
            [] => Verdict::Clean,
            [only] if only.records_after == 0 && (only.problem.is_torn_write() || only.zeros_only) => {
                Verdict::TornTail { offset: only.offset }
            }
            [first, ..] => Verdict::Corrupt(first.clone()),
        }
    }
}

/// Scans the frames of `body`, the file's bytes after its header.
#[cfg(test)]
pub fn scan(body: &[u8]) -> Scan {
    scan_from(body, FILE_HEADER_LEN as u64)
}

/// Scans the frames of `body`, the file's bytes from offset `base` to its end.
pub fn scan_from(body: &[u8], base: u64) -> Scan {
    let mut out = Scan { file_len: base + body.len() as u64, ..Scan::default() };
    let mut damaged: Vec<(usize, usize, Problem)> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        match frame_at(body, pos) {
            Ok((entry, end)) => {
                out.entries.push(entry);
                out.frames.push(base + pos as u64..base + end as u64);
                pos = end;
            }
            Err(problem) => {
                let search_from = match problem.trusted_len() {
                    Some(len) => pos + FRAME_HEADER_LEN + len as usize,
                    None => pos + 1,
                };
                let end = next_valid_frame(body, search_from).unwrap_or(body.len());
                damaged.push((pos, end, problem));
                pos = end;
            }
        }
    }
    for (start, end, problem) in damaged {
        let records_after = out.frames.iter().filter(|f| f.start >= base + end as u64).count();
        out.damage.push(Damage {
            offset: base + start as u64,
            len: (end - start) as u64,
            problem,
            records_after,
            zeros_only: body[start..end].iter().all(|b| *b == 0),
        });
    }
    out
}

fn next_valid_frame(body: &[u8], from: usize) -> Option<usize> {
    (from..body.len()).find(|&pos| frame_at(body, pos).is_ok())
}

/// The payload length a frame header announces, if the header is intact and
/// the length possible.
pub fn announced_len(header: &[u8; FRAME_HEADER_LEN]) -> Option<u32> {
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let header_crc = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
    (crc32fast::hash(&header[..8]) == header_crc && len > 0 && len <= MAX_RECORD).then_some(len)
}

/// Decodes the frame at `pos`, returning its entry and where the next frame starts.
pub fn frame_at(body: &[u8], pos: usize) -> Result<(Entry, usize), Problem> {
    let rest = &body[pos..];
    if rest.len() < FRAME_HEADER_LEN {
        return Err(Problem::IncompleteHeader { have: rest.len() });
    }
    let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
    let (len, payload_crc, header_crc) = (word(0), word(4), word(8));
    if crc32fast::hash(&rest[..8]) != header_crc {
        return Err(Problem::BadHeaderCrc);
    }
    if len == 0 || len > MAX_RECORD {
        return Err(Problem::BadLength(len));
    }
    let have = rest.len() - FRAME_HEADER_LEN;
    if have < len as usize {
        return Err(Problem::IncompletePayload { len, have });
    }
    let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len as usize];
    if crc32fast::hash(payload) != payload_crc {
        return Err(Problem::BadPayloadCrc { len });
    }
    let entry = decode(payload).map_err(|e| Problem::Undecodable { len, error: e.to_string() })?;
    Ok((entry, pos + FRAME_HEADER_LEN + len as usize))
}

/// The exact inverse of `bincode::serialize`, refusing trailing bytes.
fn decode(payload: &[u8]) -> bincode::Result<Entry> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .with_limit(payload.len() as u64)
        .deserialize(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(slot: u64) -> Vec<u8> {
        encode_frame(&bincode::serialize(&Entry::Clock { slot, clock_offset: 0 }).unwrap())
    }

    /// A body of `n` clock records and the offsets (from the file start) of each.
    fn body(n: u64) -> (Vec<u8>, Vec<u64>) {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for slot in 0..n {
            offsets.push((FILE_HEADER_LEN + data.len()) as u64);
            data.extend(clock(slot));
        }
        (data, offsets)
    }

    fn slots(scan: &Scan) -> Vec<u64> {
        scan.entries
            .iter()
            .map(|e| match e {
                Entry::Clock { slot, .. } => *slot,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn body_index(offset: u64) -> usize {
        offset as usize - FILE_HEADER_LEN
    }

    #[test]
    fn clean_body() {
        let (data, _) = body(5);
        let scan = scan(&data);
        assert_eq!(slots(&scan), vec![0, 1, 2, 3, 4]);
        assert_eq!(scan.verdict(), Verdict::Clean);
    }

    #[test]
    fn every_prefix_of_an_append_is_a_torn_tail() {
        let (mut data, _) = body(3);
        let intact = data.len();
        let next = clock(3);
        for cut in 1..next.len() {
            data.truncate(intact);
            data.extend_from_slice(&next[..cut]);
            let scan = scan(&data);
            assert_eq!(slots(&scan), vec![0, 1, 2], "cut at {cut}");
            assert_eq!(scan.verdict(), Verdict::TornTail { offset: (FILE_HEADER_LEN + intact) as u64 }, "cut at {cut}");
        }
    }

    #[test]
    fn a_zeroed_tail_is_torn() {
        let (mut data, _) = body(3);
        let intact = data.len();
        data.extend(std::iter::repeat_n(0u8, 3000));
        assert_eq!(scan(&data).verdict(), Verdict::TornTail { offset: (FILE_HEADER_LEN + intact) as u64 });
    }

    #[test]
    fn every_flipped_byte_in_the_middle_is_corruption_and_keeps_the_rest() {
        let (data, offsets) = body(5);
        let (start, end) = (body_index(offsets[2]), body_index(offsets[3]));
        for i in start..end {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            let scan = scan(&bad);
            assert_eq!(slots(&scan), vec![0, 1, 3, 4], "byte {i}");
            match scan.verdict() {
                Verdict::Corrupt(d) => {
                    assert_eq!((d.offset, d.len, d.records_after), (offsets[2], (end - start) as u64, 2), "byte {i}")
                }
                other => panic!("byte {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_corruption_not_a_torn_tail() {
        let (data, offsets) = body(4);
        for i in body_index(offsets[3])..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x01;
            let scan = scan(&bad);
            assert_eq!(slots(&scan), vec![0, 1, 2], "byte {i}");
            assert!(matches!(scan.verdict(), Verdict::Corrupt(Damage { records_after: 0, .. })), "byte {i}");
        }
    }

    #[test]
    fn a_record_that_passes_its_crc_but_does_not_decode_is_corruption() {
        let (mut data, offsets) = body(2);
        let garbage = encode_frame(&[0xff; 40]);
        let at = data.len();
        data.extend(&garbage);
        data.extend(clock(9));
        let scan = scan(&data);
        assert_eq!(slots(&scan), vec![0, 1, 9]);
        match scan.verdict() {
            Verdict::Corrupt(d) => {
                assert_eq!(d.offset, (FILE_HEADER_LEN + at) as u64);
                assert_eq!(d.len, garbage.len() as u64);
                assert!(matches!(d.problem, Problem::Undecodable { len: 40, .. }), "{:?}", d.problem);
            }
            other => panic!("{other:?}"),
        }
        // Even as the last record: a torn append never passes its crc.
        let tail = &data[..body_index(offsets[1]) + clock(1).len() + garbage.len()];
        assert!(matches!(super::scan(tail).verdict(), Verdict::Corrupt(Damage { records_after: 0, .. })));
    }

    #[test]
    fn a_torn_record_followed_by_valid_ones_is_corruption() {
        let (mut data, _) = body(2);
        let at = data.len();
        data.extend_from_slice(&clock(2)[..7]);
        data.extend(clock(3));
        let scan = scan(&data);
        assert_eq!(slots(&scan), vec![0, 1, 3]);
        assert!(
            matches!(scan.verdict(), Verdict::Corrupt(Damage { offset, records_after: 1, .. }) if offset == (FILE_HEADER_LEN + at) as u64)
        );
    }

    #[test]
    fn file_headers() {
        assert_eq!(read_file_header(&file_header()), FileHeader::Current);
        assert_eq!(read_file_header(&file_header()[..5]), FileHeader::Unfinished);
        assert_eq!(read_file_header(&[]), FileHeader::Unfinished);
        let mut other = file_header();
        other[8] = 7;
        assert_eq!(read_file_header(&other), FileHeader::Version(7));
        // A version 1 ledger starts with a record length.
        assert_eq!(read_file_header(&[0x30, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), FileHeader::Unknown);
    }
}
