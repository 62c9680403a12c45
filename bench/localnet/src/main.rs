//! bench/localnet: how fast mirror-localnet takes Mirror transactions over
//! JSON-RPC (1, 4 and 16 concurrent clients) and how soon logsSubscribe
//! notifies, printed beside the in-process rate of the same transactions
//! (the node's `Bank` without HTTP), so the ratio is the node's overhead.
//!
//! cargo run --release -p bench-localnet -- [--txs N] [--binary PATH]
//!
//! `--soak-txs N` runs the soak instead: a steady `--rate` of transactions
//! into a node (in-memory history, history in the ledger file, and the ledger
//! with `--limit-ledger-size`), printing the node's RSS and the logsSubscribe
//! send→notification p50/p99 every `--soak-window` transactions, then the
//! ledger node's restart (replay time, RSS, peak RSS).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::{InstructionData, ToAccountMetas};
use base64::prelude::{Engine, BASE64_STANDARD};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use mirror_localnet::bank::{Bank, BankConfig};
use serde_json::{json, Value};
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;

#[derive(Parser)]
struct Args {
    /// Transactions per measured run.
    #[arg(long, default_value_t = 4000)]
    txs: usize,
    /// The node binary (default: the release build next to this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Keep the node's ledger (fsync per answer) during the throughput runs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    ledger: bool,
    /// Notification latency run: rate and duration.
    #[arg(long, default_value_t = 200)]
    latency_tps: u64,
    #[arg(long, default_value_t = 5)]
    latency_seconds: u64,
    /// Run the soak with this many transactions per node (instead of the runs above).
    #[arg(long)]
    soak_txs: Option<usize>,
    /// Soak: transactions per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Soak: a row every this many transactions.
    #[arg(long, default_value_t = 10_000)]
    soak_window: usize,
    /// Soak: what to send.
    #[arg(long, value_enum, default_value = "create-mirror")]
    soak_workload: soak::Workload,
    /// Soak: the `--limit-ledger-size` of the limited run (blocks of 400 ms).
    #[arg(long, default_value_t = 100)]
    soak_limit: u64,
}

mod soak;

fn config_pda() -> Pubkey {
    Pubkey::find_program_address(&[mirror::CONFIG_SEED], &mirror::ID).0
}

fn create_mirror_tx(creator: &Keypair, mirror_id: u64, blockhash: Hash) -> VersionedTransaction {
    let mirror = Pubkey::find_program_address(
        &[mirror::MIRROR_SEED, creator.pubkey().as_ref(), &mirror_id.to_le_bytes()],
        &mirror::ID,
    )
    .0;
    let ix = Instruction {
        program_id: mirror::ID,
        accounts: mirror::accounts::CreateMirror {
            config: config_pda(),
            mirror,
            creator: creator.pubkey(),
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: mirror::instruction::CreateMirror {
            mirror_id,
            name: format!("bench-{mirror_id}"),
            metadata_uri: "ipfs://bench".into(),
            visibility: mirror::Visibility::Public,
        }
        .data(),
    };
    VersionedTransaction::from(Transaction::new(&[creator], Message::new(&[ix], Some(&creator.pubkey())), blockhash))
}

/// Pre-signed create_mirror transactions, `per_client` for each creator.
fn batches(creators: &[Keypair], first_id: u64, per_client: usize, blockhash: Hash) -> Vec<Vec<VersionedTransaction>> {
    creators
        .iter()
        .map(|c| (0..per_client as u64).map(|i| create_mirror_tx(c, first_id + i, blockhash)).collect())
        .collect()
}

fn in_process_rate(txs: usize) -> anyhow::Result<(f64, f64)> {
    let (events, _) = tokio::sync::broadcast::channel(16);
    let mut bank =
        Bank::new(BankConfig { finality_depth: 32, bpf_programs: vec![], limit_ledger_size: None }, None, events)?;
    // initialize_config takes only the program's upgrade authority: the dev admin on localnet.
    let dev_keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys/dev");
    let admin = mirror_localnet::bootstrap::read_keypair(&dev_keys.join("localnet-admin-keypair.json"))?;
    let trainer = Keypair::new();
    mirror_localnet::bootstrap::run(&mut bank, &admin, &trainer)?;
    let creator = Keypair::new();
    bank.request_airdrop(&creator.pubkey(), 1_000_000_000_000).map_err(|e| anyhow::anyhow!(e.message))?;
    let blockhash = bank.latest_blockhash().0;
    let mut rates = Vec::new();
    for (round, skip_preflight) in [(0u64, false), (1, true)] {
        let batch: Vec<_> =
            (0..txs as u64).map(|i| create_mirror_tx(&creator, round * 1_000_000 + i, blockhash)).collect();
        let start = Instant::now();
        for tx in batch {
            bank.send_transaction(tx, skip_preflight).map_err(|e| anyhow::anyhow!(e.message))?;
        }
        rates.push(txs as f64 / start.elapsed().as_secs_f64());
    }
    Ok((rates[0], rates[1]))
}

/// Starts a node on `port` (PubSub on `port + 1`) and waits until it answers.
async fn start_node(
    binary: &std::path::Path,
    port: u16,
    extra: &[String],
) -> anyhow::Result<(tokio::process::Child, Rpc)> {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let node = tokio::process::Command::new(binary)
        .args(["--rpc-port", &port.to_string(), "--bootstrap", "--finality-depth", "8"])
        .args(extra)
        .current_dir(&repo_root)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let rpc = Rpc {
        http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..1200 {
        if rpc.call("getHealth", json!([])).await.is_ok() {
            return Ok((node, rpc));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the node on port {port} did not answer within 60 s")
}

struct Rpc {
    http: reqwest::Client,
    url: String,
}

impl Rpc {
    async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = self.http.post(&self.url).json(&body).send().await?.json().await?;
        match reply.get("error") {
            Some(err) => Err(anyhow::anyhow!("{method}: {err}")),
            None => Ok(reply["result"].clone()),
        }
    }
    async fn blockhash(&self) -> anyhow::Result<Hash> {
        let v = self.call("getLatestBlockhash", json!([{"commitment": "processed"}])).await?;
        Ok(v["value"]["blockhash"].as_str().unwrap_or_default().parse()?)
    }
    async fn send(&self, tx: &VersionedTransaction) -> anyhow::Result<Value> {
        let wire = BASE64_STANDARD.encode(bincode::serialize(tx)?);
        self.call("sendTransaction", json!([wire, {"encoding": "base64"}])).await
    }
    async fn fund(&self, who: &[Keypair]) -> anyhow::Result<()> {
        for kp in who {
            self.call("requestAirdrop", json!([kp.pubkey().to_string(), 1_000_000_000_000u64])).await?;
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = args
        .binary
        .clone()
        .unwrap_or_else(|| std::env::current_exe().expect("exe path").with_file_name("mirror-localnet"));
    if let Some(txs) = args.soak_txs {
        let plan = soak::Plan {
            workload: args.soak_workload,
            txs,
            rate: args.rate,
            window: args.soak_window,
            limit: args.soak_limit,
        };
        return soak::run(&binary, plan).await;
    }
    println!("bench/localnet: {} create_mirror transactions per run, node {}", args.txs, binary.display());

    let (preflight_rate, execute_rate) = in_process_rate(args.txs)?;
    println!(
        "in-process Bank (no HTTP): {preflight_rate:>8.0} tx/s with preflight, {execute_rate:>8.0} tx/s execute only"
    );

    let ledger = tempfile::tempdir()?;
    let port = 28_000 + (std::process::id() % 2000) as u16 * 2;
    let extra = if args.ledger { vec!["--ledger".to_string(), ledger.path().display().to_string()] } else { vec![] };
    let (mut node, rpc) = start_node(&binary, port, &extra).await?;
    let rpc = Arc::new(rpc);

    println!(
        "\nsendTransaction through the node (preflight on, ledger {}):",
        if args.ledger { "fsync'd" } else { "off" }
    );
    println!("{:>8} {:>10} {:>12} {:>10}", "clients", "tx/s", "vs in-proc", "errors");
    let mut first_id = 0u64;
    for clients in [1usize, 4, 16] {
        let creators: Vec<Keypair> = (0..clients).map(|_| Keypair::new()).collect();
        rpc.fund(&creators).await?;
        let per_client = args.txs / clients;
        let work = batches(&creators, first_id, per_client, rpc.blockhash().await?);
        first_id += per_client as u64;
        let start = Instant::now();
        let tasks: Vec<_> = work
            .into_iter()
            .map(|batch| {
                let rpc = rpc.clone();
                tokio::spawn(async move {
                    let mut errors = 0usize;
                    for tx in &batch {
                        if rpc.send(tx).await.is_err() {
                            errors += 1;
                        }
                    }
                    errors
                })
            })
            .collect();
        let mut errors = 0;
        for t in tasks {
            errors += t.await?;
        }
        let tps = (per_client * clients) as f64 / start.elapsed().as_secs_f64();
        println!("{clients:>8} {tps:>10.0} {:>11.2}x {errors:>10}", tps / preflight_rate);
    }

    // logsSubscribe latency: from sending a transaction to its notification.
    let ws_url = format!("ws://127.0.0.1:{}", port + 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await?;
    let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "logsSubscribe",
        "params": [{"mentions": [mirror::ID.to_string()]}, {"commitment": "confirmed"}]});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(sub.to_string().into())).await?;
    ws.next().await;
    let total = (args.latency_tps * args.latency_seconds) as usize;
    let creator = Keypair::new();
    rpc.fund(std::slice::from_ref(&creator)).await?;
    let txs = batches(std::slice::from_ref(&creator), 10_000_000, total, rpc.blockhash().await?).remove(0);
    let sent_at: Arc<tokio::sync::Mutex<std::collections::HashMap<String, Instant>>> = Default::default();
    let sender = {
        let (rpc, sent_at) = (rpc.clone(), sent_at.clone());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / args.latency_tps));
            for tx in txs {
                interval.tick().await;
                sent_at.lock().await.insert(tx.signatures[0].to_string(), Instant::now());
                let rpc = rpc.clone();
                tokio::spawn(async move { rpc.send(&tx).await });
            }
        })
    };
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(args.latency_seconds + 10);
    while latencies.len() < total && Instant::now() < deadline {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await else { break };
        let received = Instant::now();
        let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else { continue };
        if let Some(sig) = v["params"]["result"]["value"]["signature"].as_str() {
            if let Some(sent) = sent_at.lock().await.get(sig) {
                latencies.push(received - *sent);
            }
        }
    }
    sender.await?;
    latencies.sort();
    println!(
        "\nlogsSubscribe latency at {} tx/s ({} of {} notified): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.latency_tps,
        latencies.len(),
        total,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    node.kill().await?;
    Ok(())
}
