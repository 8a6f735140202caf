//! A fast reader of the few fields of a Vault audit line that say who read what,
//! skimming over the rest (HMAC'd tokens, request and response data) without building
//! anything. It is strict where it reads and conservative everywhere: it answers only
//! for a line it has checked to be valid JSON, whose wanted fields have the plain
//! shape Vault writes (strings without escapes, objects, nulls), with no field given
//! twice; anything else — a syntax error, an escape in a wanted string, a surrogate
//! escape anywhere, a number where a wanted value is, deep nesting — gets `None`, and
//! the caller parses the line with serde_json instead, which then says exactly what is
//! wrong or what it holds. So a line reads the same whichever parser answers
//! (`skimmed_lines_read_as_serde_json_reads_them` and the fuzz target check that).

use super::vault::{Auth, Fields, Request};
use std::borrow::Cow;
use wide::u8x16;

/// Nesting deeper than this is left to serde_json (which stops at 128).
const MAX_DEPTH: usize = 64;

/// The fields of `line`, or `None` when serde_json must read it.
pub(super) fn fields(line: &[u8]) -> Option<Fields<'_>> {
    let mut reader = Reader { bytes: line, at: 0 };
    let mut fields = Fields::default();
    reader.line(&mut fields)?;
    reader.whitespace();
    (reader.at == line.len()).then_some(fields)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A member's key as its length and its first 16 bytes (zero-padded) in two words:
/// compared as three integers, not byte by byte (every wanted key is shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key(usize, u64, u64);

impl Key {
    const fn of(text: &[u8]) -> Key {
        let mut padded = [0u8; 16];
        if text.len() <= 16 {
            let mut i = 0;
            while i < text.len() {
                padded[i] = text[i];
                i += 1;
            }
        }
        let (first, second) = padded.split_at(8);
        let mut words = [0u64; 2];
        let mut i = 0;
        while i < 8 {
            words[0] |= (first[i] as u64) << (8 * i);
            words[1] |= (second[i] as u64) << (8 * i);
            i += 1;
        }
        Key(text.len(), words[0], words[1])
    }

    /// [`Key::of`] at run time (a copy, not a byte loop).
    fn read(text: &[u8]) -> Key {
        let mut padded = [0u8; 16];
        if let Some(head) = padded.get_mut(..text.len()) {
            head.copy_from_slice(text);
        }
        let (first, second) = padded.split_at(8);
        let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or_default());
        Key(text.len(), word(first), word(second))
    }

    /// [`Key::read`] of `bytes[start..end]`, from two whole words of `bytes` when
    /// there are 16 bytes from `start` (a key is followed by at least `":` and a
    /// value): masked, not copied byte by byte.
    fn read_in(bytes: &[u8], start: usize, end: usize) -> Key {
        let len = end - start;
        match bytes.get(start..start + 16) {
            Some(words) if len <= 16 => {
                let (first, second) = words.split_at(8);
                let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or_default());
                // The bytes of each word that belong to the key.
                let mask = |bytes: usize| match bytes {
                    0 => 0,
                    8.. => u64::MAX,
                    n => u64::MAX >> (64 - 8 * n),
                };
                Key(
                    len,
                    word(first) & mask(len.min(8)),
                    word(second) & mask(len.saturating_sub(8)),
                )
            }
            // Longer than any wanted key: only its length matters.
            Some(_) => Key(len, 0, 0),
            None => Key::read(&bytes[start..end]),
        }
    }
}

const TYPE: Key = Key::of(b"type");
const TIME: Key = Key::of(b"time");
const AUTH: Key = Key::of(b"auth");
const REQUEST: Key = Key::of(b"request");
const ERROR: Key = Key::of(b"error");
const ENTITY_ID: Key = Key::of(b"entity_id");
const DISPLAY_NAME: Key = Key::of(b"display_name");
const METADATA: Key = Key::of(b"metadata");
const USERNAME: Key = Key::of(b"username");
const EMAIL: Key = Key::of(b"email");
const ID: Key = Key::of(b"id");
const OPERATION: Key = Key::of(b"operation");
const PATH: Key = Key::of(b"path");
const MOUNT_POINT: Key = Key::of(b"mount_point");
const MOUNT_TYPE: Key = Key::of(b"mount_type");
const REMOTE_ADDRESS: Key = Key::of(b"remote_address");

/// The wanted fields of one object already read: a field given twice is left to
/// serde_json (its derive refuses a struct whose field repeats).
#[derive(Default)]
struct Seen(u8);

impl Seen {
    /// Mark field `bit`; `None` when it was seen before.
    fn once(&mut self, bit: u8) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn whitespace(&mut self) {
        // Vault writes compact JSON: the next byte is seldom whitespace.
        if self.peek().is_some_and(|byte| byte > b' ') {
            return;
        }
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Skip whitespace, then take `byte`.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            return Some(());
        }
        self.whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The top-level object, read into `fields` (left as it was). Where an `auth`
    /// member is followed by a `request` member, the bytes from the one's key to the
    /// other's value's end go to `fields.shared`.
    fn line(&mut self, fields: &mut Fields<'a>) -> Option<()> {
        let mut seen = Seen::default();
        // Where the member just read began, if it was `auth`.
        let mut auth_at = None;
        self.object(0, |reader, at, key, name| {
            let after_auth = auth_at.take();
            match name {
                TYPE => reader.wanted_into(&mut seen, 0, &mut fields.kind),
                TIME => reader.wanted_into(&mut seen, 1, &mut fields.time),
                AUTH => {
                    seen.once(2)?;
                    if !reader.null()? {
                        reader.auth(fields.auth.get_or_insert_with(Auth::default))?;
                    }
                    auth_at = Some(at);
                    Some(())
                }
                REQUEST => {
                    seen.once(3)?;
                    if !reader.null()? {
                        reader.request(fields.request.get_or_insert_with(Request::default))?;
                    }
                    fields.shared = after_auth.map(|from| &reader.bytes[from..reader.at]);
                    Some(())
                }
                ERROR => {
                    seen.once(4)?;
                    fields.denied = reader.error()?;
                    Some(())
                }
                _ => reader.skip_field(key, 1),
            }
        })
    }

    fn auth(&mut self, auth: &mut Auth<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(1, |reader, _, key, name| match name {
            ENTITY_ID => reader.wanted_into(&mut seen, 0, &mut auth.entity_id),
            DISPLAY_NAME => reader.wanted_into(&mut seen, 1, &mut auth.display_name),
            METADATA => {
                seen.once(2)?;
                if !reader.null()? {
                    reader.metadata(auth)?;
                }
                Some(())
            }
            _ => reader.skip_field(key, 2),
        })
    }

    /// `auth.metadata`: its `username` and `email` (serde reads them as any JSON value
    /// and only a string is a name; here only a string or null is read).
    fn metadata(&mut self, auth: &mut Auth<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(2, |reader, _, key, name| match name {
            USERNAME => reader.wanted_into(&mut seen, 0, &mut auth.username),
            EMAIL => reader.wanted_into(&mut seen, 1, &mut auth.email),
            _ => reader.skip_field(key, 3),
        })
    }

    fn request(&mut self, request: &mut Request<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(1, |reader, _, key, name| {
            let (bit, slot) = match name {
                ID => (0, &mut request.id),
                OPERATION => (1, &mut request.operation),
                PATH => (2, &mut request.path),
                MOUNT_POINT => (3, &mut request.mount_point),
                MOUNT_TYPE => (4, &mut request.mount_type),
                REMOTE_ADDRESS => (5, &mut request.remote_address),
                _ => return reader.skip_field(key, 2),
            };
            reader.wanted_into(&mut seen, bit, slot)
        })
    }

    /// A wanted string-or-null member's value into `slot`, once (field `bit`).
    fn wanted_into(
        &mut self,
        seen: &mut Seen,
        bit: u8,
        slot: &mut Option<Cow<'a, str>>,
    ) -> Option<()> {
        seen.once(bit)?;
        *slot = self.wanted_str()?.map(Cow::Borrowed);
        Some(())
    }

    /// `error`: denied unless null or an empty string.
    fn error(&mut self) -> Option<bool> {
        self.whitespace();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| false),
            b'"' => {
                let start = self.at + 1;
                self.skip_string()?;
                // serde_json reads it into a Value: it must be UTF-8 (an escape is).
                let text = std::str::from_utf8(&self.bytes[start..self.at - 1]).ok()?;
                Some(!text.is_empty())
            }
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| true),
            // A number, object or array: serde_json reads it into a Value, checking
            // more than a skimmed value (numbers in range, UTF-8 everywhere); let it.
            _ => None,
        }
    }

    /// Take a `null` if one is next: true when it was (what follows is then not read).
    fn null(&mut self) -> Option<bool> {
        self.whitespace();
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(true);
        }
        Some(false)
    }

    /// A wanted string (borrowed: no escapes, valid UTF-8) or null.
    fn wanted_str(&mut self) -> Option<Option<&'a str>> {
        self.whitespace();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            b'"' => {
                let start = self.at + 1;
                let end = plain_string_end(self.bytes, start);
                if self.bytes.get(end) != Some(&b'"') {
                    return None;
                }
                self.at = end + 1;
                std::str::from_utf8(&self.bytes[start..end]).ok().map(Some)
            }
            _ => None,
        }
    }

    /// An object: `field` reads each member's value given where the member begins
    /// (its key's opening quote) and its key (raw, unescaped keys only; a key with an
    /// escape is left to serde_json).
    fn object(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, usize, &'a [u8], Key) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            let start = self.at;
            let end = plain_string_end(self.bytes, start);
            if self.bytes.get(end) != Some(&b'"') {
                return None;
            }
            self.at = end + 1;
            self.expect(b':')?;
            let bytes = self.bytes;
            field(
                self,
                start - 1,
                &bytes[start..end],
                Key::read_in(bytes, start, end),
            )?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skip the value of a member the struct being read has no field for (serde_json
    /// reads such a key as a string, so it must be UTF-8).
    fn skip_field(&mut self, key: &[u8], depth: usize) -> Option<()> {
        if !key.is_ascii() && std::str::from_utf8(key).is_err() {
            return None;
        }
        self.skip_value(depth)
    }

    /// Skip any JSON value, checking it as serde_json checks a value it ignores.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.whitespace();
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(depth, |reader, _, _, _| reader.skip_value(depth + 1)),
            b'[' => {
                self.at += 1;
                self.whitespace();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => {
                self.at += 1;
                // serde_json refuses a leading zero followed by a digit.
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// Skip a string (at its opening quote), escapes checked; a surrogate escape
    /// (`\uD800`–`\uDFFF`, which must pair up) is left to serde_json.
    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            self.at = plain_string_end(self.bytes, self.at);
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    let escaped = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    match escaped {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit)
                                || matches!(hex[0], b'd' | b'D') && hex[1] >= b'8'
                            {
                                return None;
                            }
                            self.at += 4;
                        }
                        _ => return None,
                    }
                }
                // A control character: serde_json refuses it in a string.
                _ => return None,
            }
        }
    }
}

/// The index of the first byte at or after `from` that ends a run of plain string
/// content (`"`, `\` or a control character below 0x20), or the length: sixteen bytes
/// at a time (SSE2 on x86-64), then one at a time.
#[inline(always)]
fn plain_string_end(bytes: &[u8], from: usize) -> usize {
    let quote = u8x16::splat(b'"');
    let backslash = u8x16::splat(b'\\');
    let control = u8x16::splat(0x1f);
    let mut at = from;
    while let Some(block) = bytes.get(at..at + 16) {
        let block = u8x16::from(<[u8; 16]>::try_from(block).unwrap_or_default());
        // min(byte, 0x1f) == byte: the byte is at most 0x1f.
        let flags =
            block.simd_eq(quote) | block.simd_eq(backslash) | block.min(control).simd_eq(block);
        let mask = flags.to_bitmask();
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            return at;
        }
        at += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_at_run_time_equal_the_constants() {
        for key in [
            &b"type"[..],
            b"remote_address",
            b"id",
            b"",
            b"sixteen_bytes_ok",
        ] {
            assert_eq!(Key::read(key), Key::of(key));
        }
        assert_ne!(Key::read(b"remote_address_and_more"), REMOTE_ADDRESS);
        assert_ne!(Key::read(b"typ"), TYPE);
        // Read in place from a line, at every length and with bytes after it or not.
        let line = br#"{"remote_address_and_more":1,"type":2}"#;
        for start in 0..line.len() {
            for end in start..=line.len() {
                let key = Key::read_in(line, start, end);
                let len = end - start;
                if len <= 16 {
                    assert_eq!(key, Key::read(&line[start..end]), "{start}..{end}");
                } else {
                    assert_eq!(key.0, len);
                }
            }
        }
        assert_eq!(Key::read_in(line, 2, 16), REMOTE_ADDRESS);
        assert_eq!(Key::read_in(line, 30, 34), TYPE);
    }

    #[test]
    fn string_ends_are_found_in_words_and_in_the_tail() {
        for text in [
            &b"abcdefghijklmnop\"x"[..],
            b"abc\"",
            b"abcdefgh\\",
            b"abcdefghij\x1f",
            b"\"",
            b"",
            b"abcdefgh",
            "ünïcødé ßtring then\"".as_bytes(),
            b"\x7f\x80\xff\xfe\x20\x21\x23\x5b\x5d\"",
        ] {
            let expected = text
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(text.len());
            assert_eq!(plain_string_end(text, 0), expected, "{text:?}");
            if !text.is_empty() {
                assert_eq!(
                    plain_string_end(text, 1),
                    expected.max(1),
                    "{text:?} from 1"
                );
            }
        }
    }

    #[test]
    fn string_ends_are_found_at_every_place_of_a_block() {
        let expected = |text: &[u8], from: usize| {
            text[from..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(text.len(), |i| from + i)
        };
        for end in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..40 {
                // Plain bytes around the end, high ones included (not ends).
                let mut text: Vec<u8> = (0..48)
                    .map(|i| [b'a', 0x20, 0x7f, 0x80, 0xff][i % 5])
                    .collect();
                text[at] = end;
                for from in [0, 1, 7, 15, 16, 17] {
                    assert_eq!(
                        plain_string_end(&text, from),
                        expected(&text, from),
                        "{end} at {at} from {from}"
                    );
                }
                assert_eq!(plain_string_end(&text[..at], 0), at, "cut before {at}");
            }
        }
    }

    #[test]
    fn wanted_fields_are_read_and_the_rest_skimmed() {
        let line = br#"{"time":"2026-11-18T09:14:03Z","type":"response","auth":{"accessor":"hmac-sha256:aa","entity_id":"e-1","policies":["a","b"],"metadata":{"username":"alice","role":null},"token_ttl":3600},"request":{"id":"r-1","operation":"read","path":"secret/data/a","mount_point":"secret/","mount_type":"kv","remote_address":"10.0.0.1","data":{"x":[1,-2.5e+3,true,false,null,{}],"y":"a\"b\\c\u00e9"}},"response":{"data":{"password":"hmac-sha256:bb"}},"error":""}"#;
        let fields = fields(line).expect("skimmed");
        assert_eq!(fields.kind.as_deref(), Some("response"));
        let auth = fields.auth.expect("auth");
        assert_eq!(auth.entity_id.as_deref(), Some("e-1"));
        assert_eq!(auth.username.as_deref(), Some("alice"));
        assert_eq!(auth.email, None);
        let request = fields.request.expect("request");
        assert_eq!(request.path.as_deref(), Some("secret/data/a"));
        assert_eq!(request.remote_address.as_deref(), Some("10.0.0.1"));
        assert!(!fields.denied);
    }

    #[test]
    fn anything_unusual_is_left_to_serde_json() {
        for line in [
            &br#"{"type":"request","type":"response"}"#[..],
            br#"{"type":"req\u0065st"}"#,
            br#"{"type":"request","x":01}"#,
            br#"{"type":"request","x":1.}"#,
            br#"{"type":"request","x":"\ud800"}"#,
            br#"{"type":"request","x":"a	b"}"#,
            br#"{"type":"request",}"#,
            br#"{"type":"request"} x"#,
            br#"{"error":1}"#,
            br#"{"auth":{"metadata":{"username":7}}}"#,
            br#"{"request":["r-1"]}"#,
            br#"[1]"#,
            br#"{"type":"request""#,
            b"{\"type\":\"\xff\"}",
        ] {
            assert!(fields(line).is_none(), "{}", String::from_utf8_lossy(line));
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(fields(deep.as_bytes()).is_none());
    }
}
