//! Canonical JSON: the one byte sequence that every hash and signature in the ledger is
//! computed over.
//!
//! The form follows RFC 8785 (JSON Canonicalization Scheme, "JCS"):
//!
//! - no whitespace anywhere;
//! - object members sorted by their keys compared as sequences of UTF-16 code units
//!   (so `"\u{e9}"` sorts before `"\u{1F600}"` even though its UTF-8 form is larger
//!   in the other direction for some pairs); keys are unique (a JSON object in
//!   `serde_json::Value` cannot hold duplicates);
//! - arrays keep their order;
//! - strings are written in UTF-8 with exactly these escapes: `\"`, `\\`, `\b`, `\f`,
//!   `\n`, `\r`, `\t`, and `\u00xx` (lowercase hex) for the other control characters
//!   below U+0020; everything else, `/` and non-ASCII included, is written as is;
//! - `true`, `false`, `null` as literals.
//!
//! Numbers, and the one documented deviation from RFC 8785:
//!
//! - an integer held as an integer (`i64`/`u64`, which is what `serde_json` parses any
//!   JSON number without fraction or exponent into) is written exactly, in decimal,
//!   with a leading `-` when negative. RFC 8785 would round integers beyond 2^53 to
//!   the nearest double; the ledger keeps them exact, since ids and counters must not
//!   be silently altered. Below 2^53 both forms are identical.
//! - any other number (a finite `f64`) is written as ECMAScript's `Number.prototype.
//!   toString` writes it, exactly as RFC 8785 section 3.2.2.3 requires: the shortest
//!   digits that round-trip, plain notation for magnitudes in `[1e-6, 1e21)`,
//!   otherwise `d.ddde+N` / `d.ddde-N`; `-0` is written `0`; so `1.0` → `1`,
//!   `0.000001` → `0.000001`, `1e-7` → `1e-7`, `1e21` → `1e+21`.
//!
//! Non-integers are accepted rather than refused because ledger payloads carry
//! upstream data (IdP events, audit records) that Leaver does not control; refusing
//! them would mean failing to record evidence. The float form is a pure function of
//! the `f64` value, so it is as stable as the integer form, and re-parsing canonical
//! output and canonicalizing again yields the same bytes.
//!
//! Non-finite numbers cannot occur in a `serde_json::Value`; nesting deeper than
//! [`MAX_DEPTH`] is refused rather than risking the stack.

use serde_json::Value;
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Deepest nesting of arrays and objects accepted (serde_json's own parser stops
/// at 128).
pub const MAX_DEPTH: usize = 512;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("number {0} is not finite and has no JSON form")]
    NonFiniteNumber(String),
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The canonical JSON text of `value` (see the module documentation).
pub fn canonical_json(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value, 0)?;
    Ok(out)
}

/// Appends the canonical JSON text of `value` to `out`.
pub fn write_canonical(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    write_value(out, value, 0)
}

/// Compares two object keys the way RFC 8785 orders them: by UTF-16 code units.
pub fn compare_keys(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_value(out: &mut String, value: &Value, depth: usize) -> Result<(), CanonicalError> {
    if depth > MAX_DEPTH {
        return Err(CanonicalError::TooDeep);
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| compare_keys(a, b));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Writes `s` as a canonical JSON string literal (quotes included).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, number: &serde_json::Number) -> Result<(), CanonicalError> {
    if let Some(i) = number.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = number.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = number.as_f64() {
        write_f64(out, f)?;
    } else {
        return Err(CanonicalError::NonFiniteNumber(number.to_string()));
    }
    Ok(())
}

/// ECMAScript `Number::toString(x)` for a finite double (ECMA-262, 6.1.6.1.20), which
/// RFC 8785 adopts for numbers.
fn write_f64(out: &mut String, f: f64) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFiniteNumber(f.to_string()));
    }
    if f == 0.0 {
        // Both 0 and -0.
        out.push('0');
        return Ok(());
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` without a precision prints the shortest digit string that
    // round-trips (the same digits ECMAScript chooses), as `d.ddddeN` or `deN`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci
        .split_once('e')
        .ok_or_else(|| CanonicalError::NonFiniteNumber(sci.clone()))?;
    let exponent: i32 = exponent
        .parse()
        .map_err(|_| CanonicalError::NonFiniteNumber(sci.clone()))?;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // ECMAScript's k (digit count) and n (decimal point position): value = 0.digits × 10^n.
    let k = digits.len() as i32;
    let n = exponent + 1;
    if k <= n && n <= 21 {
        out.push_str(digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        canonical_json(v).expect("canonical")
    }

    #[test]
    fn no_whitespace_and_sorted_keys() {
        let v = json!({"b": 1, "a": [1, 2, {"z": null, "y": true}], "c": "x"});
        assert_eq!(
            canon(&v),
            r#"{"a":[1,2,{"y":true,"z":null}],"b":1,"c":"x"}"#
        );
    }

    #[test]
    fn nested_objects_are_sorted_at_every_level() {
        let v = json!({"outer": {"k2": {"b": 2, "a": 1}, "k1": []}, "alpha": {}});
        assert_eq!(
            canon(&v),
            r#"{"alpha":{},"outer":{"k1":[],"k2":{"a":1,"b":2}}}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB01 (one UTF-16 unit 0xFB01) vs U+1F600 (surrogates 0xD83D 0xDE00):
        // UTF-16 order puts the emoji first, although its UTF-8 and scalar value
        // order is the other way round.
        let v = json!({"\u{fb01}": 1, "\u{1f600}": 2, "a": 3, "\u{e9}": 4, "A": 5});
        assert_eq!(
            canon(&v),
            "{\"A\":5,\"a\":3,\"\u{e9}\":4,\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
        assert_eq!(compare_keys("\u{1f600}", "\u{fb01}"), Ordering::Less);
        assert_eq!(compare_keys("ab", "a"), Ordering::Greater);
    }

    #[test]
    fn rfc8785_sorting_example() {
        // The property-sorting example of RFC 8785 section 3.2.3.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
                "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .expect("json");
        assert_eq!(
            canon(&v),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn string_escaping() {
        let v = json!("q\" b\\ \u{8}\u{c}\n\r\t \u{1} \u{1f} \u{7f} / é 😀");
        assert_eq!(
            canon(&v),
            "\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001 \\u001f \u{7f} / é 😀\""
        );
        // Identical to serde_json's own escaping.
        assert_eq!(canon(&v), serde_json::to_string(&v).expect("json"));
    }

    #[test]
    fn integers_stay_exact() {
        let v = json!([
            0,
            -1,
            42,
            i64::MIN,
            i64::MAX,
            u64::MAX,
            9007199254740993_u64
        ]);
        assert_eq!(
            canon(&v),
            "[0,-1,42,-9223372036854775808,9223372036854775807,18446744073709551615,9007199254740993]"
        );
    }

    #[test]
    #[allow(clippy::excessive_precision)] // RFC 8785's example literal, on purpose
    fn floats_follow_ecmascript() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (-1.25, "-1.25"),
            (123.456, "123.456"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (1e-7, "1e-7"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e25, "1.2345e+25"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (333333333.33333329, "333333333.3333333"),
            (4.5, "4.5"),
            (2e-3, "0.002"),
            (1e23, "1e+23"),
        ];
        for (f, expected) in cases {
            let v = Value::from(*f);
            assert_eq!(&canon(&v), expected, "{f:e}");
        }
    }

    #[test]
    fn rfc8785_number_examples() {
        // From RFC 8785 appendix B (those representable in a serde_json Value).
        let text = r#"[0, -0, 1e-7, 1e+21, 333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]"#;
        let v: Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            canon(&v),
            "[0,0,1e-7,1e+21,333333333.3333333,1e+30,4.5,0.002,1e-27]"
        );
    }

    #[test]
    fn canonical_output_is_stable() {
        let v = json!({
            "z": [1.5, {"b": "x", "a": [true, false, null]}],
            "é": {"nested": {"deeper": [1e300, -2, "\u{2028}"]}},
            "a": 7
        });
        let first = canon(&v);
        // Same value built in another key order.
        let w = json!({
            "a": 7,
            "é": {"nested": {"deeper": [1e300, -2, "\u{2028}"]}},
            "z": [1.5, {"a": [true, false, null], "b": "x"}]
        });
        assert_eq!(first, canon(&w));
        // Parse → canonicalize again: byte-identical.
        let reparsed: Value = serde_json::from_str(&first).expect("json");
        assert_eq!(first, canon(&reparsed));
        // Through serde_json's ordinary text form (how the store keeps payloads).
        let stored: Value = serde_json::from_str(&v.to_string()).expect("json");
        assert_eq!(first, canon(&stored));
        // Repeated calls agree.
        for _ in 0..10 {
            assert_eq!(first, canon(&v));
        }
    }

    #[test]
    fn floats_survive_the_stores_text_round_trip() {
        // Payloads are stored and exported as serde_json text and parsed back; the
        // digest must not change. This needs serde_json's `float_roundtrip` feature
        // (enabled in Cargo.toml): its default parser may be off by one ulp.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut checked = 0;
        while checked < 20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let f = f64::from_bits(state);
            if !f.is_finite() {
                continue;
            }
            checked += 1;
            let v = json!({ "x": f });
            let back: Value = serde_json::from_str(&v.to_string()).expect("json");
            let g = back["x"].as_f64().expect("f64");
            assert_eq!(f.to_bits(), g.to_bits(), "{f:e} came back as {g:e}");
            assert_eq!(canon(&v), canon(&back));
            // The canonical text itself parses back to the same value.
            let again: Value = serde_json::from_str(&canon(&v)).expect("json");
            assert_eq!(canon(&again), canon(&v), "{f:e}");
        }
    }

    #[test]
    fn too_deep_is_refused() {
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH + 2) {
            v = json!([v]);
        }
        assert_eq!(canonical_json(&v), Err(CanonicalError::TooDeep));
    }
}
