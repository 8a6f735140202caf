//! The parameters of one Query API request (form body and query string together) and
//! `Marker`/`MaxItems` pagination.

use super::error::IamError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::collections::BTreeMap;

/// AWS's default page size.
pub(crate) const DEFAULT_MAX_ITEMS: usize = 100;

/// The decoded parameters of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// Parse the query string and a form body. A body that is not UTF-8 is refused
    /// with 400 `MalformedQueryString`.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, IamError> {
        let body = std::str::from_utf8(body)
            .map_err(|_| IamError::malformed_query("The request body is not valid UTF-8."))?;
        let mut map = BTreeMap::new();
        for source in [query.unwrap_or(""), body] {
            for (k, v) in form_urlencoded::parse(source.as_bytes()) {
                if k.is_empty() {
                    continue;
                }
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        Ok(Self(map))
    }

    /// The parameter, when present (an empty value counts as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter; `member` is its camel-case name in the error message.
    pub fn required(&self, name: &str) -> Result<&str, IamError> {
        let member = camel(name);
        self.get(name).ok_or_else(|| IamError::missing(&member))
    }

    /// Names of the parameters (for the request log).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `MaxItems` (1–1000, default 100) and the offset encoded in `Marker`.
    pub fn page(&self) -> Result<(usize, usize), IamError> {
        let size = match self.get("MaxItems") {
            None => DEFAULT_MAX_ITEMS,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n @ 1..=1000) => n as usize,
                Ok(n) if n < 1 => {
                    return Err(IamError::validation(format!(
                        "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"
                    )))
                }
                Ok(n) => {
                    return Err(IamError::validation(format!(
                        "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"
                    )))
                }
                Err(_) => {
                    return Err(IamError::malformed_query(format!(
                        "Invalid value '{raw}' for MaxItems: not an integer"
                    )))
                }
            },
        };
        let offset = match self.get("Marker") {
            None => 0,
            Some(marker) => {
                decode_marker(marker).ok_or_else(|| IamError::validation("Invalid Marker."))?
            }
        };
        Ok((size, offset))
    }
}

/// `UserName` → `userName`.
fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn encode_marker(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("leaver-sim:{offset}"))
}

fn decode_marker(marker: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(marker).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.strip_prefix("leaver-sim:")?.parse().ok()
}

/// One page of `items` for the request's `Marker`/`MaxItems`, and the next marker when
/// the listing is truncated.
pub(crate) fn paginate<T: Clone>(
    items: &[T],
    params: &Params,
) -> Result<(Vec<T>, Option<String>), IamError> {
    let (size, offset) = params.page()?;
    let start = offset.min(items.len());
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| encode_marker(end));
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_body_and_query() {
        let p =
            Params::parse(Some("Action=GetUser"), b"UserName=a%2Bb&Version=2010-05-08").unwrap();
        assert_eq!(p.get("Action"), Some("GetUser"));
        assert_eq!(p.get("UserName"), Some("a+b"));
        assert_eq!(p.required("Nope").unwrap_err().code, "ValidationError");
        assert!(p.required("Nope").unwrap_err().message.contains("'nope'"));
        assert_eq!(
            Params::parse(None, &[0xff, 0xfe]).unwrap_err().code,
            "MalformedQueryString"
        );
    }

    #[test]
    fn pages_with_markers() {
        let items: Vec<u32> = (0..5).collect();
        let p = Params::parse(None, b"MaxItems=2").unwrap();
        let (page, next) = paginate(&items, &p).unwrap();
        assert_eq!(page, vec![0, 1]);
        let marker = next.unwrap();
        let p = Params::parse(None, format!("MaxItems=2&Marker={marker}").as_bytes()).unwrap();
        let (page, _) = paginate(&items, &p).unwrap();
        assert_eq!(page, vec![2, 3]);
        for bad in ["MaxItems=0", "MaxItems=1001", "Marker=zzz", "MaxItems=x"] {
            let p = Params::parse(None, bad.as_bytes()).unwrap();
            assert!(paginate(&items, &p).is_err(), "{bad}");
        }
    }
}
