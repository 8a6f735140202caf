//! A Vault request line recognised by its shape instead of parsed. Vault writes a
//! request's `auth` and `request` members again, byte for byte, in the response line
//! that answers it; so a request line that is
//!
//! - `{"time":"<time>","type":"request",` + members + `}` (Vault's own order), or
//! - `{"time":"<time>",` + members + `,"type":"request"}` (keys sorted),
//!
//! with a valid time, is valid JSON, and is the request that response answers, exactly
//! when its members are the bytes the skimming reader found in the response to be an
//! `auth` member followed by a `request` member ([`super::vault::RawEntry::shared`]):
//! those were checked there, and a line made of checked members and a checked time
//! reads as the response's own `auth` and `request`, with the response's request id.
//! Nothing read here is trusted before that comparison: the request id taken here only
//! says which response to compare with, and a line no response matches is parsed in
//! full like any other.

use super::event::parse_time_ms;
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// A request line's parts, by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestShape<'a> {
    /// Everything between the `time` and `type` members: the `auth` and `request`
    /// members, if the line is what it looks like.
    pub members: &'a [u8],
    /// The string after the first `"id":"` that follows the first `"request":{`: the
    /// request id, if the line is what it looks like.
    pub id_hint: &'a [u8],
}

const TIME_MEMBER: &[u8] = br#"{"time":""#;
const TYPE_FIRST: &[u8] = br#""type":"request","#;
const TYPE_LAST: &[u8] = br#","type":"request"}"#;
const AUTH_KEY: &[u8] = br#""auth":"#;

static REQUEST_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""request":{"#));
static ID_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""id":""#));

/// `line`'s parts when it has the shape of a request line with an id (see the
/// module); `None` for any other line.
pub fn request_shape(line: &[u8]) -> Option<RequestShape<'_>> {
    let rest = line.strip_prefix(TIME_MEMBER)?;
    let time_end = memchr::memchr(b'"', rest)?;
    let time = &rest[..time_end];
    // A JSON string holds no raw control character, and an escape would read as
    // another time than these bytes do.
    if time.iter().any(|&byte| byte < 0x20 || byte == b'\\') {
        return None;
    }
    parse_time_ms(std::str::from_utf8(time).ok()?)?;
    let rest = rest[time_end + 1..].strip_prefix(b",")?;
    let members = match rest.strip_prefix(TYPE_FIRST) {
        Some(members) => members.strip_suffix(b"}")?,
        None => rest.strip_suffix(TYPE_LAST)?,
    };
    if !members.starts_with(AUTH_KEY) {
        return None;
    }
    let request = REQUEST_KEY.find(members)? + REQUEST_KEY.needle().len();
    let id_start = request + ID_KEY.find(&members[request..])? + ID_KEY.needle().len();
    let id_len = memchr::memchr(b'"', &members[id_start..])?;
    // A request without an id is counted alone by the pairing, answered or not: it
    // is read in full, never looked for by its response.
    if id_len == 0 {
        return None;
    }
    Some(RequestShape {
        members,
        id_hint: &members[id_start..id_start + id_len],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::vault::{parse_line, parse_raw, EntryKind};

    const AUTH: &str = r#""auth":{"client_token":"hmac-sha256:aa","display_name":"oidc-alice@example.com","entity_id":"e-1","metadata":{"username":"alice@example.com"}}"#;
    const REQUEST: &str = r#""request":{"client_token":"hmac-sha256:bb","id":"r-1","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"operation":"read","path":"secret/data/a","remote_address":"10.0.0.1"}"#;

    fn vault_order(kind: &str, tail: &str) -> String {
        format!(
            r#"{{"time":"2026-11-18T09:14:03.552817Z","type":"{kind}",{AUTH},{REQUEST}{tail}}}"#
        )
    }

    fn sorted_order(kind: &str, tail: &str) -> String {
        format!(
            r#"{{"time":"2026-11-18T09:14:03.552817Z",{AUTH},{REQUEST}{tail},"type":"{kind}"}}"#
        )
    }

    #[test]
    fn request_lines_in_either_order_are_their_responses_members() {
        let response_tail = r#","response":{"data":{"password":"hmac-sha256:cc"}}"#;
        for line in [vault_order, sorted_order] {
            let request = line("request", "");
            let response = line("response", response_tail);
            let shape = request_shape(request.as_bytes()).expect("a request line");
            assert_eq!(shape.id_hint, b"r-1");
            assert_eq!(shape.members, format!("{AUTH},{REQUEST}").as_bytes());
            let answer = parse_raw(response.as_bytes()).expect("a response");
            assert_eq!(answer.kind, EntryKind::Response);
            assert_eq!(answer.shared(), Some(shape.members));
            // What the comparison stands for: the request line reads as the
            // response's auth and request.
            let parsed = parse_line(request.as_bytes()).expect("valid");
            assert_eq!(parsed.kind, EntryKind::Request);
            assert_eq!(parsed.request_id, "r-1");
            assert_eq!(
                parsed.access.map(|a| a.secret),
                parse_line(response.as_bytes())
                    .unwrap()
                    .access
                    .map(|a| a.secret)
            );
        }
    }

    #[test]
    fn other_lines_have_no_request_shape() {
        let request = vault_order("request", "");
        let not = |line: &str| assert_eq!(request_shape(line.as_bytes()), None, "{line}");
        not(&vault_order("response", ""));
        not(&sorted_order("response", ""));
        not(&request.replace("2026-11-18", "2026-13-18"));
        not(&request.replace("2026-11-18", r"2026\u002d11-18"));
        not(&request.replace("2026-11-18", "2026-11-18\t"));
        not(&request.replace(r#""time":"#, r#""time" :"#));
        not(&format!("{request} "));
        not(&request.replace(r#""auth":"#, r#""error":null,"auth":"#));
        not(&request.replace(r#""request":{"#, r#""request": {"#));
        not(r#"{"time":"2026-11-18T09:14:03Z","type":"request",}"#);
        not(r#"{"time":"2026-11-18T09:14:03Z"#);
        not("");
    }

    #[test]
    fn a_shape_is_no_proof_the_id_hint_can_be_wrong() {
        // An `auth` holding `"request":{"id":"..."}` (Vault's never does) gives a
        // wrong hint: the shape is only where to look, the comparison decides.
        let line = vault_order("request", "").replace(
            r#""metadata":{"username":"alice@example.com"}"#,
            r#""metadata":{"request":{"id":"other"}}"#,
        );
        let shape = request_shape(line.as_bytes()).expect("the shape");
        assert_eq!(shape.id_hint, b"other");
        assert_eq!(parse_line(line.as_bytes()).unwrap().request_id, "r-1");
    }
}
