//! How fast is the FIX codec? ns per NewOrderSingle decode, per data-dictionary validation
//! and per ExecutionReport encode, for tickwarp's own codec and for `ironfix-tagvalue` 0.5
//! doing the same work (ironfix has no validation to compare with).
//!
//! `cargo run --release -p tickwarp-gateway --example fix_codec_speed`
//!
//! Each figure is the best of 7 rounds of 200,000 iterations after a warm-up round. A
//! quick comparison for choosing the codec, not a benchmark of record (no histogram).

use std::hint::black_box;

use ironfix_tagvalue::{Decoder, Encoder, FieldIndex};
use tickwarp_gateway::fix::fields::{format_timestamp, tag};
use tickwarp_gateway::fix::messages::{ExecType, ExecutionReport, OrdStatus};
use tickwarp_gateway::fix::{
    Dictionary, Message, MessageWriter, MsgType, NewOrderSingle, ParseContext, SessionId,
    ValidationOptions, validate,
};
use tickwarp_runtime::UnixNanos;
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, InstrumentTable, OrderType, Price, Qty, Side,
    TimeInForce,
};

const ROUNDS: usize = 7;
const ITERS: u64 = 200_000;

/// Best ns per call of `f` over the rounds, after one warm-up round.
fn measure(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for round in 0..=ROUNDS {
        let start = monotonic_now();
        for _ in 0..ITERS {
            f();
        }
        let ns = monotonic_now().saturating_sub(start).get() as f64 / ITERS as f64;
        if round > 0 {
            best = best.min(ns);
        }
    }
    best
}

fn nos_frame() -> Vec<u8> {
    frame_of(
        "35=D|34=2|49=CLIENT|52=20251125-10:23:53.123|56=GW|11=ORD1|1=42|55=ACME|54=1|\
38=100|40=2|44=12.5|59=0|60=20251125-10:23:53.120|",
    )
}

/// A frame around `body` (`|` for SOH) with BodyLength and CheckSum.
fn frame_of(body: &str) -> Vec<u8> {
    let body: Vec<u8> = body
        .bytes()
        .map(|b| if b == b'|' { 1 } else { b })
        .collect();
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = tickwarp_gateway::fix::codec::checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

fn main() -> anyhow::Result<()> {
    let frame = nos_frame();
    let mut instruments = InstrumentTable::new();
    instruments.insert_str("ACME", InstrumentId(1))?;
    let ctx = ParseContext {
        session: SessionId(1),
        account: AccountId(42),
        instruments: &instruments,
    };
    let wanted = [11, 55, 54, 38, 40, 44, 60];

    let ours_decode = measure(|| {
        if let Ok(msg) = Message::decode(black_box(&frame)) {
            for t in wanted {
                black_box(msg.get(t));
            }
        }
    });
    let ours_parse = measure(|| {
        if let Ok(msg) = Message::decode(black_box(&frame)) {
            let _ = black_box(NewOrderSingle::parse(&msg, 2, &ctx));
        }
    });
    let dict = Dictionary::fix44();
    let opts = ValidationOptions::default();
    let validate_only = {
        let msg = Message::decode(&frame).map_err(|e| anyhow::anyhow!("{e}"))?;
        measure(|| {
            let _ = black_box(validate(black_box(&msg), dict, &opts));
        })
    };
    let parties = frame_of(
        "35=D|34=2|49=CLIENT|52=20251125-10:23:53.123|56=GW|11=ORD1|1=42|55=ACME|54=1|\
38=100|40=2|44=12.5|59=0|60=20251125-10:23:53.120|453=2|448=TRADER1|447=D|452=11|\
448=DESK7|447=D|452=3|",
    );
    let validate_parties = {
        let msg = Message::decode(&parties).map_err(|e| anyhow::anyhow!("{e}"))?;
        measure(|| {
            let _ = black_box(validate(black_box(&msg), dict, &opts));
        })
    };
    let mut index = FieldIndex::with_capacity(64);
    let ironfix_decode = measure(|| {
        let mut decoder = Decoder::new(black_box(&frame));
        if let Ok(msg) = decoder.decode_into(&mut index) {
            for t in wanted {
                black_box(msg.get_field(t));
            }
        }
    });

    let report = ExecutionReport {
        order_id: 9001,
        exec_id: 77,
        exec_type: ExecType::Trade,
        ord_status: OrdStatus::PartiallyFilled,
        cl_ord_id: ClientOrderId::new("ORD1")?,
        orig_cl_ord_id: None,
        instrument: InstrumentId(1),
        side: Side::Buy,
        ord_type: Some(OrderType::Limit),
        price: Some(Price::from_ticks(125_000)),
        tif: Some(TimeInForce::Day),
        order_qty: Qty(100),
        last_qty: Some(Qty(40)),
        last_px: Some(Price::from_ticks(124_000)),
        leaves_qty: Qty(60),
        cum_qty: Qty(40),
        avg_px: Price::from_ticks(124_000),
        transact_time: UnixNanos(1_764_066_233_123_000_000),
        reject_reason: None,
        text: None,
    };
    let wall = UnixNanos(1_764_066_233_123_000_000);
    let mut buf = Vec::with_capacity(1024);
    let ours_encode = measure(|| {
        buf.clear();
        let mut w = MessageWriter::begin(&mut buf, MsgType::EXECUTION_REPORT);
        w.uint(tag::MSG_SEQ_NUM, 12345)
            .str(tag::SENDER_COMP_ID, "GW")
            .timestamp(tag::SENDING_TIME, wall)
            .str(tag::TARGET_COMP_ID, "CLIENT");
        report.write_body(&mut w, AccountId(42), b"ACME");
        black_box(w.finish());
    });
    // The same 23 fields with prices and timestamps given as text, as ironfix gets them.
    let ours_encode_text = measure(|| {
        buf.clear();
        let ts = format_timestamp(wall);
        let mut w = MessageWriter::begin(&mut buf, MsgType::EXECUTION_REPORT);
        w.uint(34, 12345)
            .str(49, "GW")
            .bytes(52, &ts)
            .str(56, "CLIENT")
            .uint(37, 9001)
            .str(11, "ORD1")
            .uint(17, 77)
            .byte(150, b'F')
            .byte(39, b'1')
            .uint(1, 42)
            .str(55, "ACME")
            .byte(54, b'1')
            .uint(38, 100)
            .byte(40, b'2')
            .str(44, "12.5")
            .byte(59, b'0')
            .uint(32, 40)
            .str(31, "12.4")
            .uint(151, 60)
            .uint(14, 40)
            .str(6, "12.4")
            .bytes(60, &ts);
        black_box(w.finish());
    });
    let mut encoder = Encoder::with_capacity("FIX.4.4", 1024);
    let ironfix_encode = measure(|| {
        encoder.clear();
        let ts = format_timestamp(wall);
        encoder.put_str(35, "8");
        encoder.put_uint(34, 12345);
        encoder.put_str(49, "GW");
        encoder.put_raw(52, &ts);
        encoder.put_str(56, "CLIENT");
        encoder.put_uint(37, 9001);
        encoder.put_str(11, "ORD1");
        encoder.put_uint(17, 77);
        encoder.put_char(150, 'F');
        encoder.put_char(39, '1');
        encoder.put_uint(1, 42);
        encoder.put_str(55, "ACME");
        encoder.put_char(54, '1');
        encoder.put_uint(38, 100);
        encoder.put_char(40, '2');
        encoder.put_str(44, "12.5");
        encoder.put_char(59, '0');
        encoder.put_uint(32, 40);
        encoder.put_str(31, "12.4");
        encoder.put_uint(151, 60);
        encoder.put_uint(14, 40);
        encoder.put_str(6, "12.4");
        encoder.put_raw(60, &ts);
        let _ = black_box(encoder.finish());
    });

    println!("FIX codec, ns per message (best of {ROUNDS} x {ITERS}):");
    println!(
        "  NewOrderSingle decode + 7 field lookups   tickwarp {ours_decode:7.1}   ironfix {ironfix_decode:7.1}"
    );
    println!("  NewOrderSingle decode + typed parse       tickwarp {ours_parse:7.1}");
    println!("  NewOrderSingle dictionary validation      tickwarp {validate_only:7.1}");
    println!("  same with 2 Parties (453) entries         tickwarp {validate_parties:7.1}");
    println!("  ExecutionReport encode, typed (23 fields) tickwarp {ours_encode:7.1}");
    println!(
        "  ExecutionReport encode, values as text    tickwarp {ours_encode_text:7.1}   ironfix {ironfix_encode:7.1}"
    );
    Ok(())
}
