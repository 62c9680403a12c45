//! Fees as a cluster charges them: 5,000 lamports a signature, plus the
//! priority fee a transaction bids with Compute Budget instructions (its unit
//! price, in micro-lamports, times its unit limit). LiteSVM charges only the
//! signature fee; the bank charges the priority fee on top.

use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;

use super::LAMPORTS_PER_SIGNATURE;

const COMPUTE_BUDGET: Pubkey = solana_pubkey::pubkey!("ComputeBudget111111111111111111111111111111");
const MICRO_LAMPORTS_PER_LAMPORT: u128 = 1_000_000;
/// Agave's per-instruction defaults and cap for the compute unit limit.
const DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT: u64 = 200_000;
const MAX_BUILTIN_ALLOCATION_COMPUTE_UNIT_LIMIT: u64 = 3_000;
const MAX_COMPUTE_UNIT_LIMIT: u64 = 1_400_000;
/// Programs that are builtins on a cluster (they get the builtin allocation).
const BUILTINS: [Pubkey; 10] = [
    solana_pubkey::pubkey!("11111111111111111111111111111111"),
    solana_pubkey::pubkey!("Vote111111111111111111111111111111111111111"),
    solana_pubkey::pubkey!("Stake11111111111111111111111111111111111111"),
    solana_pubkey::pubkey!("Config1111111111111111111111111111111111111"),
    solana_pubkey::pubkey!("BPFLoader1111111111111111111111111111111111"),
    solana_pubkey::pubkey!("BPFLoader2111111111111111111111111111111111"),
    solana_pubkey::pubkey!("BPFLoaderUpgradeab1e11111111111111111111111"),
    solana_pubkey::pubkey!("LoaderV411111111111111111111111111111111111"),
    COMPUTE_BUDGET,
    solana_pubkey::pubkey!("AddressLookupTab1e1111111111111111111111111"),
];

/// What a message asks of the compute budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeBudgetRequest {
    /// The compute unit limit the transaction runs (and pays) with.
    pub unit_limit: u64,
    /// Micro-lamports per compute unit.
    pub unit_price: u64,
}

/// Reads the Compute Budget instructions of `message`. Malformed or duplicate
/// ones count as absent here: the runtime refuses such a transaction anyway.
pub fn compute_budget_request(message: &VersionedMessage) -> ComputeBudgetRequest {
    let keys = message.static_account_keys();
    let mut requested_limit = None;
    let mut unit_price = None;
    let mut default_limit = 0u64;
    for ix in message.instructions() {
        let Some(program) = keys.get(usize::from(ix.program_id_index)) else { continue };
        if *program != COMPUTE_BUDGET {
            default_limit += if BUILTINS.contains(program) {
                MAX_BUILTIN_ALLOCATION_COMPUTE_UNIT_LIMIT
            } else {
                DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT
            };
            continue;
        }
        match ix.data.split_first() {
            Some((2, rest)) if rest.len() == 4 => {
                requested_limit.get_or_insert(u64::from(u32::from_le_bytes(rest.try_into().expect("4 bytes"))));
            }
            Some((3, rest)) if rest.len() == 8 => {
                unit_price.get_or_insert(u64::from_le_bytes(rest.try_into().expect("8 bytes")));
            }
            _ => {}
        }
    }
    ComputeBudgetRequest {
        unit_limit: requested_limit.unwrap_or(default_limit).min(MAX_COMPUTE_UNIT_LIMIT),
        unit_price: unit_price.unwrap_or(0),
    }
}

/// The priority fee in lamports: unit price times unit limit, rounded up.
pub fn priority_fee(request: ComputeBudgetRequest) -> u64 {
    let micro = u128::from(request.unit_price) * u128::from(request.unit_limit);
    micro.div_ceil(MICRO_LAMPORTS_PER_LAMPORT).try_into().unwrap_or(u64::MAX)
}

/// Everything `message` is charged: its signatures and its priority fee.
pub fn total_fee(message: &VersionedMessage) -> u64 {
    let signatures = LAMPORTS_PER_SIGNATURE * u64::from(message.header().num_required_signatures);
    signatures.saturating_add(priority_fee(compute_budget_request(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_hash::Hash;
    use solana_instruction::{AccountMeta, Instruction};
    use solana_message::Message;

    fn message(ixs: &[Instruction]) -> VersionedMessage {
        VersionedMessage::Legacy(Message::new_with_blockhash(ixs, Some(&Pubkey::new_unique()), &Hash::default()))
    }

    fn budget(tag: u8, value: &[u8]) -> Instruction {
        Instruction { program_id: COMPUTE_BUDGET, accounts: vec![], data: [&[tag][..], value].concat() }
    }

    #[test]
    fn price_times_limit_rounded_up_plus_signatures() {
        let program = Instruction {
            program_id: Pubkey::new_unique(),
            accounts: vec![AccountMeta::new(Pubkey::new_unique(), false)],
            data: vec![],
        };
        let plain = message(std::slice::from_ref(&program));
        assert_eq!(compute_budget_request(&plain), ComputeBudgetRequest { unit_limit: 200_000, unit_price: 0 });
        assert_eq!(total_fee(&plain), 5_000);
        let priced = message(&[budget(2, &300_000u32.to_le_bytes()), budget(3, &7u64.to_le_bytes()), program.clone()]);
        // 7 micro-lamports x 300,000 units = 2.1 lamports, rounded up to 3.
        assert_eq!(total_fee(&priced), 5_003);
        let default_limit = message(&[budget(3, &1_000_000u64.to_le_bytes()), program.clone(), program]);
        assert_eq!(compute_budget_request(&default_limit).unit_limit, 400_000);
        assert_eq!(total_fee(&default_limit), 5_000 + 400_000);
        let capped = message(&[budget(2, &5_000_000u32.to_le_bytes()), budget(3, &1_000_000u64.to_le_bytes())]);
        assert_eq!(total_fee(&capped), 5_000 + 1_400_000);
    }
}
