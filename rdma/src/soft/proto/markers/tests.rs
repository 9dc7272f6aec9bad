//! Marker insertion and stripping against hand-built streams (RFC 5044 §4.3).

use super::*;
use crate::soft::wire::hex;
use crate::soft::wire::mpa::FpduFrame;
use proptest::prelude::*;

/// siw's zero-length Write RTR FPDU (siw-vm README, SIWVARIANT=p2p), CRC off.
static WRITE_RTR_FPDU: &str = "000e c140 00000001 0000000000000000 00000000";
/// The same as the first FPDU of a marked stream: a leading marker with FPDUPTR 0.
static WRITE_RTR_MARKED: &str = "0000 0000 000e c140 00000001 0000000000000000 00000000";

/// An unmarked FPDU carrying `ulpdu`, with CRC over the unmarked bytes or 0.
fn fpdu(ulpdu: &[u8], crc_on: bool) -> Vec<u8> {
    let mut b = vec![0u8; fpdu_len(ulpdu.len())];
    let mut f = FpduFrame::new_unchecked(&mut b[..]);
    f.set_ulpdu_len(ulpdu.len() as u16).unwrap();
    f.ulpdu_mut().copy_from_slice(ulpdu);
    f.fill_trailer(crc_on);
    b
}

fn insert(ins: &mut MarkerInserter, f: &[u8], crc_on: bool) -> Vec<u8> {
    let mut out = vec![0u8; ins.marked_len(f.len())];
    let n = ins.insert(f, crc_on, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

fn strip_all(st: &mut MarkerStripper, wire: &[u8]) -> Result<Vec<u8>, MarkerError> {
    let mut out = vec![0u8; wire.len()];
    let (c, p) = st.handle_bytes(wire, &mut out)?;
    assert_eq!(c, wire.len());
    out.truncate(p);
    Ok(out)
}

#[test]
fn first_fpdu_starts_with_a_zero_marker() {
    let mut ins = MarkerInserter::new();
    let wire = insert(&mut ins, &hex(WRITE_RTR_FPDU), false);
    assert_eq!(wire, hex(WRITE_RTR_MARKED));
    assert_eq!(ins.stream_offset(), 24);
    let mut st = MarkerStripper::new(false);
    assert_eq!(strip_all(&mut st, &wire), Ok(hex(WRITE_RTR_FPDU)));
}

#[test]
fn marker_inside_an_fpdu_points_back_to_its_start() {
    let mut ins = MarkerInserter::new();
    let first = insert(&mut ins, &hex(WRITE_RTR_FPDU), false);
    // 490-byte ULPDU: a 496-byte FPDU from offset 24 to 520 crosses offset 512.
    let ulpdu: Vec<u8> = (0..490u32).map(|i| (i % 251) as u8).collect();
    let unmarked = fpdu(&ulpdu, false);
    assert_eq!(unmarked.len(), 496);
    let wire = insert(&mut ins, &unmarked, false);
    // Hand-built: 488 bytes, marker (reserved 0, FPDUPTR 512 - 24 = 488), 8 bytes.
    let mut expected = unmarked[..488].to_vec();
    expected.extend_from_slice(&hex("0000 01e8"));
    expected.extend_from_slice(&unmarked[488..]);
    assert_eq!(wire, expected);
    assert_eq!(ins.stream_offset(), 24 + 500);

    let mut st = MarkerStripper::new(false);
    let mut stream = first;
    stream.extend_from_slice(&wire);
    let mut want = hex(WRITE_RTR_FPDU);
    want.extend_from_slice(&unmarked);
    assert_eq!(strip_all(&mut st, &stream), Ok(want));
}

#[test]
fn marker_between_pad_and_crc_is_covered_by_crc() {
    // From offset 24, an FPDU whose CRC field starts at offset 512: 488 + 4 bytes.
    let mut ins = MarkerInserter::new();
    let mut stream = insert(&mut ins, &hex(WRITE_RTR_FPDU), true);
    let ulpdu = [0x5au8; 485]; // 2 + 485 + 1 pad = 488
    let unmarked = fpdu(&ulpdu, true);
    assert_eq!(unmarked.len(), 492);
    let wire = insert(&mut ins, &unmarked, true);
    assert_eq!(&wire[488..492], &hex("0000 01e8")[..]);
    let crc_marked = crc::crc32c(&wire[..492]);
    assert_eq!(&wire[492..], &crc_marked.to_le_bytes()[..]);
    stream.extend_from_slice(&wire);
    let mut st = MarkerStripper::new(true);
    let mut want = fpdu(&hex("c140 00000001 0000000000000000"), true);
    want.extend_from_slice(&unmarked);
    assert_eq!(strip_all(&mut st, &stream), Ok(want));
}

#[test]
fn bad_fpduptr_is_a_marker_error() {
    let mut wire = hex(WRITE_RTR_MARKED);
    wire[3] = 4;
    let mut st = MarkerStripper::new(false);
    assert_eq!(
        strip_all(&mut st, &wire),
        Err(MarkerError::BadFpduPtr {
            offset: 0,
            expected: 0,
            found: 4
        })
    );
}

#[test]
fn crc_covers_markers_and_data() {
    let mut ins = MarkerInserter::new();
    let wire = insert(&mut ins, &fpdu(b"hello", true), true);
    // Bytes 4..6 are ULPDU_Length: a corrupt length is caught later, by the next
    // marker or the CRC of what it then covers.
    for at in (0..wire.len() - 4).filter(|at| !(4..6).contains(at)) {
        let mut bad = wire.clone();
        bad[at] ^= 0x10;
        let r = strip_all(&mut MarkerStripper::new(true), &bad);
        assert!(
            matches!(
                r,
                Err(MarkerError::BadCrc { .. } | MarkerError::BadFpduPtr { .. })
            ),
            "flip at {at}: {r:?}"
        );
    }
}

#[test]
fn insert_rejects_bad_input() {
    let mut ins = MarkerInserter::new();
    let mut out = [0u8; 64];
    assert_eq!(
        ins.insert(&[0], false, &mut out),
        Err(MarkerError::NotAnFpdu)
    );
    assert_eq!(
        ins.insert(&hex("0010 0000"), false, &mut out),
        Err(MarkerError::NotAnFpdu)
    );
    assert_eq!(
        ins.insert(&hex(WRITE_RTR_FPDU), false, &mut out[..23]),
        Err(MarkerError::OutputTooSmall { need: 24, have: 23 })
    );
    assert_eq!(ins.stream_offset(), 0);
}

#[test]
fn small_output_buffer_holds_back_the_crc() {
    let mut ins = MarkerInserter::new();
    let wire = insert(&mut ins, &fpdu(b"abcdef", true), true);
    let mut st = MarkerStripper::new(true);
    let mut got = Vec::new();
    let mut inp = 0;
    for _ in 0..100 {
        if inp == wire.len() {
            break;
        }
        let mut out = [0u8; 3];
        let (c, p) = st.handle_bytes(&wire[inp..], &mut out).unwrap();
        inp += c;
        got.extend_from_slice(&out[..p]);
        if c == 0 && p == 0 {
            let mut big = [0u8; 8];
            let (c, p) = st.handle_bytes(&wire[inp..], &mut big).unwrap();
            inp += c;
            got.extend_from_slice(&big[..p]);
        }
    }
    assert_eq!(got, fpdu(b"abcdef", true));
}

fn arb_stream() -> impl Strategy<Value = (Vec<Vec<u8>>, bool)> {
    (
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..6),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_any_split((ulpdus, crc_on) in arb_stream(), cuts in proptest::collection::vec(1usize..300, 1..20)) {
        let mut ins = MarkerInserter::new();
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for u in &ulpdus {
            let f = fpdu(u, crc_on);
            wire.extend_from_slice(&insert(&mut ins, &f, crc_on));
            want.extend_from_slice(&f);
        }
        // Every marker sits at a multiple of 512 and points into its FPDU.
        for m in (0..wire.len()).step_by(MARKER_INTERVAL) {
            prop_assert_eq!(&wire[m..m + 2], &[0u8, 0][..]);
        }
        let mut st = MarkerStripper::new(crc_on);
        let mut got = Vec::new();
        let mut inp = 0;
        let mut i = 0;
        while inp < wire.len() {
            let end = (inp + cuts[i % cuts.len()]).min(wire.len());
            let mut out = vec![0u8; 1024];
            let (c, p) = st.handle_bytes(&wire[inp..end], &mut out).unwrap();
            prop_assert_eq!(c, end - inp);
            got.extend_from_slice(&out[..p]);
            inp = end;
            i += 1;
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(st.stream_offset(), ins.stream_offset());
    }

    #[test]
    fn stripper_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1200), crc_on in any::<bool>(), chunk in 1usize..200) {
        let mut st = MarkerStripper::new(crc_on);
        let mut out = [0u8; 256];
        for piece in data.chunks(chunk) {
            match st.handle_bytes(piece, &mut out) {
                Ok((c, p)) => prop_assert!(c <= piece.len() && p <= out.len()),
                Err(_) => break,
            }
        }
    }
}
