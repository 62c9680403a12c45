//! The soak: does the node's memory stay bounded, and its notification
//! latency flat, as history grows? A steady stream of transactions
//! (create_mirror, or transfers that leave account state the same size) (signed as they go, on a fresh blockhash every few seconds)
//! into a node process; every window of transactions, the node's RSS
//! (/proc/<pid>/status) and the window's logsSubscribe send→notification
//! p50/p99 (subscribed to the sender's address).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;
use tokio::sync::Mutex;

use super::{create_mirror_tx, percentile, start_node};

/// One window's figures.
struct Row {
    txs: usize,
    seconds: f64,
    rss_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ledger_mib: f64,
}

/// What the soak sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Each transaction creates a Mirror account: account state grows with history.
    CreateMirror,
    /// System transfers among 16 accounts: account state stays the same size,
    /// so what grows is the history alone.
    Transfer,
}

/// The `n`th transaction of `workload` from `payer`.
fn transaction(workload: Workload, payer: &Keypair, n: u64, blockhash: Hash) -> VersionedTransaction {
    match workload {
        Workload::CreateMirror => create_mirror_tx(payer, n, blockhash),
        Workload::Transfer => {
            let to = Pubkey::new_from_array(recipient(n % 16));
            // The system program's Transfer: instruction 2, then the lamports (bincode).
            let mut data = 2u32.to_le_bytes().to_vec();
            data.extend_from_slice(&(1_000_000 + n).to_le_bytes());
            let ix = Instruction {
                program_id: anchor_lang::system_program::ID,
                accounts: vec![AccountMeta::new(payer.pubkey(), true), AccountMeta::new(to, false)],
                data,
            };
            VersionedTransaction::from(Transaction::new(
                &[payer],
                Message::new(&[ix], Some(&payer.pubkey())),
                blockhash,
            ))
        }
    }
}

/// One of 16 fixed recipient addresses.
fn recipient(i: u64) -> [u8; 32] {
    let mut key = [7u8; 32];
    key[..8].copy_from_slice(&i.to_le_bytes());
    key
}

/// What to soak with: `txs` of `workload` per node at `rate` a second, a row
/// every `window`, and the limited node's `--limit-ledger-size`.
pub struct Plan {
    pub workload: Workload,
    pub txs: usize,
    pub rate: u64,
    pub window: usize,
    pub limit: u64,
}

pub async fn run(binary: &Path, plan: Plan) -> anyhow::Result<()> {
    let (workload, txs, rate, window, limit) = (plan.workload, plan.txs, plan.rate, plan.window, plan.limit);
    println!(
        "bench/localnet soak: {txs} {workload:?} transactions per node at {rate} tx/s, a row every {window}; node {}",
        binary.display()
    );
    let port = 30_000 + (std::process::id() % 1000) as u16 * 2;
    let ledger = tempfile::tempdir()?;
    let limited = tempfile::tempdir()?;
    let ledger_arg = |dir: &Path| vec!["--ledger".to_string(), dir.display().to_string()];
    let mut limited_args = ledger_arg(limited.path());
    limited_args.extend(["--limit-ledger-size".to_string(), limit.to_string()]);
    let runs: [(String, Vec<String>, Option<&Path>); 3] = [
        ("no --ledger (history in memory)".into(), vec![], None),
        ("--ledger (history bodies in the file)".into(), ledger_arg(ledger.path()), Some(ledger.path())),
        (format!("--ledger --limit-ledger-size {limit}"), limited_args, Some(limited.path())),
    ];
    let mut results = Vec::new();
    for (name, extra, dir) in runs {
        println!("\n{name}");
        println!(
            "{:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>10}",
            "txs", "seconds", "RSS MiB", "p50 ms", "p99 ms", "max ms", "ledger MiB"
        );
        let rows = soak_one(binary, port, &extra, dir, &plan).await?;
        results.push((name, rows));
    }

    // Restart on the full ledger: replay a record at a time.
    let started = Instant::now();
    let (node, _rpc) = start_node(binary, port, &ledger_arg(ledger.path())).await?;
    let ready = started.elapsed().as_secs_f64();
    let pid = node.id().unwrap_or_default();
    let (rss, peak) = (status_mib(pid, "VmRSS"), status_mib(pid, "VmHWM"));
    drop(node);

    println!("\nsummary ({txs} transactions at {rate} tx/s; RSS after each window, latency within it):");
    println!("| node | txs | RSS MiB | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, rows) in &results {
        for row in rows {
            println!("| {name} | {} | {:.0} | {:.2} | {:.2} |", row.txs, row.rss_mib, row.p50_ms, row.p99_ms);
        }
    }
    let ledger_mib = file_mib(ledger.path());
    println!(
        "restart on the --ledger run's ledger ({ledger_mib:.0} MiB): ready in {ready:.1} s, RSS {rss:.0} MiB, peak RSS during replay {peak:.0} MiB"
    );
    Ok(())
}

async fn soak_one(
    binary: &Path,
    port: u16,
    extra: &[String],
    ledger: Option<&Path>,
    plan: &Plan,
) -> anyhow::Result<Vec<Row>> {
    let (workload, total, rate, window) = (plan.workload, plan.txs, plan.rate, plan.window);
    let (mut node, rpc) = start_node(binary, port, extra).await?;
    let pid = node.id().unwrap_or_default();
    let rpc = Arc::new(rpc);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}", port + 1)).await?;
    let creator = Keypair::new();
    let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "logsSubscribe",
        "params": [{"mentions": [creator.pubkey().to_string()]}, {"commitment": "confirmed"}]});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(sub.to_string().into())).await?;
    ws.next().await;
    rpc.fund(std::slice::from_ref(&creator)).await?;

    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let (rpc, sent_at, errors) = (rpc.clone(), sent_at.clone(), errors.clone());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut blockhash = rpc.blockhash().await?;
            for id in 0..total as u64 {
                // A blockhash is valid for 150 slots (60 s); take a fresh one every ~8 s.
                if id > 0 && id % (rate * 8) == 0 {
                    blockhash = rpc.blockhash().await?;
                }
                let tx = transaction(workload, &creator, id, blockhash);
                interval.tick().await;
                sent_at.lock().await.insert(tx.signatures[0].to_string(), Instant::now());
                let (rpc, errors) = (rpc.clone(), errors.clone());
                tokio::spawn(async move {
                    if rpc.send(&tx).await.is_err() {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
            anyhow::Ok(())
        })
    };

    let started = Instant::now();
    let mut rows = Vec::new();
    let mut latencies = Vec::with_capacity(window);
    let mut notified = 0usize;
    while notified < total {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await else {
            println!("  no notification for 10 s: stopping at {notified} of {total}");
            break;
        };
        let received = Instant::now();
        let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else { continue };
        let Some(sig) = v["params"]["result"]["value"]["signature"].as_str() else { continue };
        let Some(sent) = sent_at.lock().await.remove(sig) else { continue };
        latencies.push(received - sent);
        notified += 1;
        if latencies.len() == window || notified == total {
            latencies.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let row = Row {
                txs: notified,
                seconds: started.elapsed().as_secs_f64(),
                rss_mib: status_mib(pid, "VmRSS"),
                p50_ms: ms(percentile(&latencies, 0.50)),
                p99_ms: ms(percentile(&latencies, 0.99)),
                max_ms: ms(latencies.last().copied().unwrap_or_default()),
                ledger_mib: ledger.map_or(0.0, file_mib),
            };
            println!(
                "{:>8} {:>8.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>10.0}",
                row.txs, row.seconds, row.rss_mib, row.p50_ms, row.p99_ms, row.max_ms, row.ledger_mib
            );
            rows.push(row);
            latencies.clear();
        }
    }
    sender.await??;
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    if errors > 0 {
        println!("  {errors} sends failed");
    }
    node.kill().await?;
    Ok(rows)
}

/// A `/proc/<pid>/status` figure in MiB (VmRSS: resident now; VmHWM: its peak).
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn file_mib(dir: &Path) -> f64 {
    std::fs::metadata(dir.join("ledger.log")).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}
