//! `mirror-localnet`: see the crate docs and `--help`.

use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use clap::Parser;
use mirror_localnet::bank::{Bank, BankConfig};
use mirror_localnet::ledger::Ledger;
use mirror_localnet::rpc::Node;
use mirror_localnet::{bootstrap, pubsub, rpc};
use solana_pubkey::Pubkey;

#[derive(Debug, Parser)]
#[command(name = "mirror-localnet", about = "Local Solana node hosting the Mirror program natively")]
struct Args {
    /// JSON-RPC port; PubSub listens on the next port.
    #[arg(long, default_value_t = 8899, env = "MIRROR_LOCALNET_RPC_PORT")]
    rpc_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Keep state in DIR across restarts (absent: in memory only).
    #[arg(long, value_name = "DIR")]
    ledger: Option<PathBuf>,
    /// If the ledger is damaged anywhere but a torn tail: save a copy beside it
    /// (ledger.log.bak-<unix time>), keep every valid record, drop the damaged
    /// bytes and start. Without it the node refuses a damaged ledger.
    #[arg(long, requires = "ledger")]
    repair_ledger: bool,
    /// Also load an SBF build: --bpf-program <ID> <PATH.so> (repeatable).
    #[arg(long, num_args = 2, value_names = ["ID", "PATH"], action = clap::ArgAction::Append)]
    bpf_program: Vec<String>,
    /// Finalized lags confirmed by this many slots.
    #[arg(long, default_value_t = 4)]
    finality_depth: u64,
    /// Slot duration in milliseconds.
    #[arg(long, default_value_t = 400)]
    slot_ms: u64,
    /// Initialise Config with the dev admin and register the dev trainer
    /// (a dev node: also allows the test cheatcodes).
    #[arg(long)]
    bootstrap: bool,
    /// Allow the test cheatcodes that write state (mirror_setAccount).
    #[arg(long)]
    cheatcodes: bool,
    /// Serve only the newest N blocks and their transactions (older ones answer
    /// "cleaned up", as on a validator with a limited ledger) and forget the
    /// rest's indexes; the ledger file keeps everything (replay needs it).
    /// Absent: keep all (with --ledger, transaction bodies are read back from
    /// the file; without it they stay in memory).
    #[arg(long, value_name = "N")]
    limit_ledger_size: Option<u64>,
    #[arg(long, default_value = "keys/dev/localnet-admin-keypair.json")]
    admin_keypair: PathBuf,
    #[arg(long, default_value = "keys/dev/localnet-trainer-keypair.json")]
    trainer_keypair: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let mut bpf_programs = Vec::new();
    for pair in args.bpf_program.chunks(2) {
        let id: Pubkey = pair[0].parse().map_err(|e| anyhow::anyhow!("--bpf-program id {}: {e:?}", pair[0]))?;
        bpf_programs.push((id, PathBuf::from(&pair[1])));
    }
    let (events, _) = tokio::sync::broadcast::channel(16_384);
    let ledger = match &args.ledger {
        Some(dir) => {
            let ledger = Ledger::open(dir, args.repair_ledger).inspect_err(|err| {
                tracing::error!(dir = %dir.display(), error = %err, "cannot open the ledger");
            })?;
            tracing::info!(dir = %dir.display(), "replaying ledger");
            Some(Arc::new(ledger))
        }
        None => None,
    };
    let config =
        BankConfig { finality_depth: args.finality_depth, bpf_programs, limit_ledger_size: args.limit_ledger_size };
    let mut bank = Bank::new(config, ledger, events.clone())?;
    if args.bootstrap {
        let admin = bootstrap::read_keypair(&args.admin_keypair)?;
        let trainer = bootstrap::read_keypair(&args.trainer_keypair)?;
        bootstrap::run(&mut bank, &admin, &trainer)?;
        if let Some(ledger) = bank.ledger() {
            ledger.make_all_durable()?;
        }
        bank.release_durable_events();
    }
    let ledger = bank.ledger();
    let rpc_addr = SocketAddr::new(args.bind, args.rpc_port);
    let ws_addr =
        SocketAddr::new(args.bind, args.rpc_port.checked_add(1).ok_or_else(|| anyhow::anyhow!("rpc port too high"))?);
    let node = Arc::new(Node {
        bank: parking_lot::Mutex::new(bank),
        events,
        rpc_addr: Some(rpc_addr),
        pubsub_addr: Some(ws_addr),
        cheatcodes: args.cheatcodes || args.bootstrap,
    });
    // Small JSON replies and notifications must not wait for Nagle's algorithm.
    let no_delay = |tcp: &mut tokio::net::TcpStream| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "TCP_NODELAY");
        }
    };
    let rpc_listener = tokio::net::TcpListener::bind(rpc_addr).await?.tap_io(no_delay);
    let ws_listener = tokio::net::TcpListener::bind(ws_addr).await?.tap_io(no_delay);

    let ticker = {
        let node = node.clone();
        let period = Duration::from_millis(args.slot_ms.max(1));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                node.bank.lock().tick();
            }
        })
    };
    let rpc_server = tokio::spawn(axum::serve(rpc_listener, rpc::router(node.clone())).into_future());
    let ws_server = tokio::spawn(axum::serve(ws_listener, pubsub::router(node.clone())).into_future());
    {
        let bank = node.bank.lock();
        tracing::info!(rpc = %rpc_addr, pubsub = %ws_addr, program = %mirror::ID, slot = bank.slot(),
            genesis = %bank.genesis_hash(), "mirror-localnet ready");
    }

    let ledger_failed = async {
        match &ledger {
            Some(ledger) => ledger.failed().await,
            None => std::future::pending().await,
        }
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let failure = tokio::select! {
        _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); None }
        _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); None }
        r = rpc_server => { tracing::error!(?r, "rpc server stopped"); None }
        r = ws_server => { tracing::error!(?r, "pubsub server stopped"); None }
        failure = ledger_failed => Some(failure),
    };
    ticker.abort();
    if let Some(failure) = failure {
        // Requests in flight are being answered with errors (nothing new is
        // accepted); let those replies go out, then stop: the ledger on disk,
        // replayed at the next start, holds everything that was acknowledged.
        tokio::time::sleep(Duration::from_millis(500)).await;
        anyhow::bail!("stopping: the ledger write failed ({failure}); restart the node to replay the ledger on disk");
    }
    // Every answered request is already durable; nothing else to flush.
    Ok(())
}
