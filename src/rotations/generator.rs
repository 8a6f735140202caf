//! The generator policy of automatic rotations: how long a new value is and which
//! characters it uses. `[trail.auto_rotate] length`/`charset` set the default; a Vault
//! secret's `custom_metadata.leaver_generator` (`hex`, `alphanumeric:48`,
//! `urlsafe:64`) overrides it for that secret. Values come from the operating system's
//! random source, each character drawn uniformly, and are handed out only as
//! [`SecretString`]s.

use rand::Rng;
use secrecy::SecretString;
use std::fmt;

/// Shortest and longest generated value accepted.
pub const MIN_LENGTH: u32 = 16;
pub const MAX_LENGTH: u32 = 4096;

/// The metadata key that overrides the policy for one secret.
pub const METADATA_KEY: &str = "leaver_generator";

/// Which characters a generated value uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `A-Z a-z 0-9`.
    Alphanumeric,
    /// `A-Z a-z 0-9 - _` (safe in URLs, environment variables and file names).
    UrlSafe,
    /// `0-9 a-f`.
    Hex,
}

impl Charset {
    /// Parse `alphanumeric`, `urlsafe` or `hex`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "alphanumeric" => Ok(Charset::Alphanumeric),
            "urlsafe" => Ok(Charset::UrlSafe),
            "hex" => Ok(Charset::Hex),
            other => Err(format!(
                "unknown charset `{other}` (alphanumeric, urlsafe or hex)"
            )),
        }
    }

    fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Alphanumeric => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            }
            Charset::UrlSafe => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            Charset::Hex => b"0123456789abcdef",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Alphanumeric => "alphanumeric",
            Charset::UrlSafe => "urlsafe",
            Charset::Hex => "hex",
        }
    }
}

/// Length and charset of generated values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorPolicy {
    pub length: u32,
    pub charset: Charset,
}

impl Default for GeneratorPolicy {
    fn default() -> Self {
        Self {
            length: 32,
            charset: Charset::UrlSafe,
        }
    }
}

impl fmt::Display for GeneratorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.charset.as_str(), self.length)
    }
}

fn check_length(length: u32) -> Result<u32, String> {
    if (MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        Ok(length)
    } else {
        Err(format!(
            "length {length} is outside {MIN_LENGTH}-{MAX_LENGTH}"
        ))
    }
}

impl GeneratorPolicy {
    /// The configured default (`[trail.auto_rotate] length`, `charset`).
    pub fn from_config(length: u32, charset: &str) -> Result<Self, String> {
        Ok(Self {
            length: check_length(length)?,
            charset: Charset::parse(charset)?,
        })
    }

    /// A secret's `leaver_generator` value: `CHARSET` or `CHARSET:LEN`; without a
    /// length, this policy's length is kept.
    pub fn with_override(self, text: &str) -> Result<Self, String> {
        let (charset, length) = match text.trim().split_once(':') {
            Some((charset, length)) => {
                let length = length
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("`{}` is not a length", length.trim()))?;
                (charset, check_length(length)?)
            }
            None => (text, self.length),
        };
        Ok(Self {
            length,
            charset: Charset::parse(charset)?,
        })
    }

    /// A new value.
    pub fn generate(&self) -> SecretString {
        let alphabet = self.charset.alphabet();
        let mut rng = rand::rngs::OsRng;
        let value: String = (0..self.length)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
            .collect();
        SecretString::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_are_32_urlsafe_characters() {
        let policy = GeneratorPolicy::from_config(32, "urlsafe").unwrap();
        assert_eq!(policy, GeneratorPolicy::default());
        let (a, b) = (policy.generate(), policy.generate());
        assert_eq!(a.expose_secret().len(), 32);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn charsets_and_lengths() {
        let hex = GeneratorPolicy::from_config(64, "HEX").unwrap().generate();
        assert_eq!(hex.expose_secret().len(), 64);
        assert!(hex
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        let alnum = GeneratorPolicy::from_config(100, "alphanumeric")
            .unwrap()
            .generate();
        assert!(alnum
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn overrides_from_metadata() {
        let base = GeneratorPolicy::default();
        assert_eq!(
            base.with_override("hex:48").unwrap(),
            GeneratorPolicy {
                length: 48,
                charset: Charset::Hex
            }
        );
        assert_eq!(
            base.with_override(" alphanumeric ").unwrap(),
            GeneratorPolicy {
                length: 32,
                charset: Charset::Alphanumeric
            }
        );
        assert!(base.with_override("base32").unwrap_err().contains("base32"));
        assert!(base.with_override("hex:8").unwrap_err().contains("16-4096"));
        assert!(base.with_override("hex:lots").is_err());
        assert!(base.with_override("hex:").is_err());
        assert!(GeneratorPolicy::from_config(5000, "hex").is_err());
        assert!(GeneratorPolicy::from_config(32, "emoji").is_err());
        assert_eq!(base.to_string(), "urlsafe:32");
    }
}
