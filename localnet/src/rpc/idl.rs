//! `jsonParsed` for the Mirror program itself, driven by its committed Anchor
//! IDL (idl/mirror.json): instructions become `{"type": "createMirror",
//! "info": {args and named accounts}}` and accounts `{"type": "mirror",
//! "info": {fields}}`, so an explorer reads mirrors and jobs as plainly as
//! token transfers. Names are camelCased as Agave's parsers name theirs.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};
use solana_pubkey::Pubkey;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedTransaction, EncodedTransactionWithStatusMeta, ParsedInstruction, UiInstruction, UiMessage,
    UiParsedInstruction,
};

const PROGRAM_NAME: &str = "mirror";

static IDL: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../idl/mirror.json")).expect("the committed IDL is JSON")
});

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn discriminator(item: &Value) -> Option<Vec<u8>> {
    item["discriminator"].as_array()?.iter().map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect()
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn int<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    take(data, N)?.try_into().ok()
}

fn defined_type(name: &str) -> Option<&'static Value> {
    IDL["types"].as_array()?.iter().find(|t| t["name"] == name).map(|t| &t["type"])
}

fn decode_fields(fields: &Value, data: &mut &[u8]) -> Option<Value> {
    let mut out = Map::new();
    for field in fields.as_array()? {
        out.insert(camel(field["name"].as_str()?), decode(&field["type"], data)?);
    }
    Some(Value::Object(out))
}

/// Borsh, as the IDL describes it.
fn decode(ty: &Value, data: &mut &[u8]) -> Option<Value> {
    if let Some(name) = ty.as_str() {
        return Some(match name {
            "u8" => json!(int::<1>(data)?[0]),
            "u16" => json!(u16::from_le_bytes(int(data)?)),
            "u32" => json!(u32::from_le_bytes(int(data)?)),
            // 64-bit values as decimal strings, as Agave writes token amounts: a JSON number past
            // 2^53 loses digits in JavaScript, and u64 counters and metrics may hold any value.
            "u64" => json!(u64::from_le_bytes(int(data)?).to_string()),
            "i64" => json!(i64::from_le_bytes(int(data)?).to_string()),
            // Borsh's bool is 0 or 1; any other byte is not this type (the account reads as raw).
            "bool" => match int::<1>(data)?[0] {
                0 => json!(false),
                1 => json!(true),
                _ => return None,
            },
            "pubkey" => json!(Pubkey::new_from_array(int(data)?).to_string()),
            "string" => {
                let len = u32::from_le_bytes(int(data)?) as usize;
                json!(String::from_utf8(take(data, len)?.to_vec()).ok()?)
            }
            _ => return None,
        });
    }
    if let Some(inner) = ty.get("option") {
        return match int::<1>(data)?[0] {
            0 => Some(Value::Null),
            1 => decode(inner, data),
            _ => None,
        };
    }
    if let Some(array) = ty.get("array") {
        let (inner, len) = (&array[0], array[1].as_u64()? as usize);
        if inner == "u8" {
            return Some(json!(take(data, len)?.to_vec()));
        }
        return (0..len).map(|_| decode(inner, data)).collect::<Option<Vec<_>>>().map(Value::Array);
    }
    if let Some(inner) = ty.get("vec") {
        let len = u32::from_le_bytes(int(data)?) as usize;
        return (0..len).map(|_| decode(inner, data)).collect::<Option<Vec<_>>>().map(Value::Array);
    }
    let defined = defined_type(ty.get("defined")?["name"].as_str()?)?;
    match defined["kind"].as_str()? {
        "struct" => decode_fields(&defined["fields"], data),
        "enum" => {
            let variant = defined["variants"].get(usize::from(int::<1>(data)?[0]))?;
            let name = variant["name"].as_str()?;
            match variant.get("fields") {
                None => Some(json!(name)),
                Some(fields) => Some(json!({ name: decode_fields(fields, data)? })),
            }
        }
        _ => None,
    }
}

/// A Mirror instruction, parsed; None when the data is not one of its
/// instructions exactly (then it stays partially decoded).
pub fn parse_instruction(data: &[u8], accounts: &[String]) -> Option<Value> {
    let ix =
        IDL["instructions"].as_array()?.iter().find(|ix| discriminator(ix).is_some_and(|d| data.starts_with(&d)))?;
    let mut rest = &data[8..];
    let mut info = match decode_fields(&ix["args"], &mut rest)? {
        Value::Object(map) => map,
        _ => return None,
    };
    if !rest.is_empty() {
        return None;
    }
    for (meta, key) in ix["accounts"].as_array()?.iter().zip(accounts) {
        info.insert(camel(meta["name"].as_str()?), json!(key));
    }
    Some(json!({"type": camel(ix["name"].as_str()?), "info": info}))
}

/// A Mirror account, parsed; None when its data is not one of its accounts.
pub fn parse_account(data: &[u8]) -> Option<Value> {
    let account =
        IDL["accounts"].as_array()?.iter().find(|a| discriminator(a).is_some_and(|d| data.starts_with(&d)))?;
    let name = account["name"].as_str()?;
    let mut rest = &data[8..];
    let info = decode_fields(&defined_type(name)?["fields"], &mut rest)?;
    // Accounts may be allocated larger than their fields: trailing bytes are fine.
    Some(json!({"type": camel(&name[..1].to_lowercase()) + &name[1..], "info": info}))
}

pub fn program_name() -> &'static str {
    PROGRAM_NAME
}

fn parse_in_place(ix: &mut UiInstruction) {
    let UiInstruction::Parsed(UiParsedInstruction::PartiallyDecoded(partial)) = ix else { return };
    if partial.program_id != mirror::ID.to_string() {
        return;
    }
    let Ok(data) = bs58::decode(&partial.data).into_vec() else { return };
    if let Some(parsed) = parse_instruction(&data, &partial.accounts) {
        *ix = UiInstruction::Parsed(UiParsedInstruction::Parsed(ParsedInstruction {
            program: PROGRAM_NAME.to_string(),
            program_id: partial.program_id.clone(),
            parsed,
            stack_height: partial.stack_height,
        }));
    }
}

/// Parses the Mirror instructions of a `jsonParsed` transaction, outer and inner.
pub fn parse_mirror_instructions(encoded: &mut EncodedTransactionWithStatusMeta) {
    if let EncodedTransaction::Json(tx) = &mut encoded.transaction {
        if let UiMessage::Parsed(message) = &mut tx.message {
            message.instructions.iter_mut().for_each(parse_in_place);
        }
    }
    if let Some(meta) = &mut encoded.meta {
        if let OptionSerializer::Some(inner) = &mut meta.inner_instructions {
            inner.iter_mut().flat_map(|i| i.instructions.iter_mut()).for_each(parse_in_place);
        }
    }
}
