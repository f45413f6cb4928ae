//! The units a scenario writes values in, parsed once into numbers that cannot overflow: durations
//! like Flink's ("500ms", "10s", "5min", "1h"), signed offsets ("+30s", "-2min") and sizes like
//! Paimon's ("128 mb").

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A duration written like Flink's: "500ms", "10s", "10 s", "5min", "1h". Never negative and
/// at most [`Millis::MAX`], so sums of a scenario's durations cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Millis(pub i64);

impl Millis {
    /// The longest duration a scenario may write: a year, far beyond any run, and small enough
    /// that adding thousands of them stays far inside an `i64` of milliseconds.
    pub const MAX: Millis = Millis(366 * 24 * 3_600_000);

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().ok()?;
        let scale = match unit.trim() {
            "ms" => 1.0,
            "s" => 1_000.0,
            "min" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        let ms = (number * scale).round();
        (ms.is_finite() && ms <= Self::MAX.0 as f64).then_some(Self(ms as i64))
    }

    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Millis::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration of at most 366 days; write it like \"500ms\", \"10s\", \"5min\" or \"1h\""
            ))
        })
    }
}

impl serde::Serialize for Millis {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// A default duration written in a scenario's units (the text is the crate's own, so valid).
pub(crate) fn ms(text: &str) -> Millis {
    Millis::parse(text).expect("a valid default duration")
}

/// A signed duration for clock skew: "+30s", "-2min", "500ms".
pub fn parse_skew(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    Millis::parse(rest).map(|m| sign * m.0)
}

/// A signed offset of a clock, in milliseconds, written "+30s" or "-2min".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SkewMillis(pub i64);

impl fmt::Display for SkewMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "+" };
        write!(f, "{sign}{}", Millis(self.0.abs()))
    }
}

impl<'de> Deserialize<'de> for SkewMillis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_skew(&text).map(SkewMillis).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`skew = \"{text}\"` is not a signed duration; write \"+30s\" or \"-2min\""
            ))
        })
    }
}

impl serde::Serialize for SkewMillis {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// A memory size like Paimon's: "128 mb", "64kb", "512 b" or a bare byte count.
pub fn parse_size_bytes(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// A size written as a byte count or as text like "128 mb".
pub fn deserialize_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Bytes(bytes) => Ok(bytes),
        Size::Text(text) => parse_size_bytes(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a size; write it like \"128 mb\", \"256 kb\" or a byte count"
            ))
        }),
    }
}

/// The text of a value read through `parse`, refused with a message naming what it may be.
pub fn deserialize_named<'de, D, T>(
    deserializer: D,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("\"{text}\" is not supported; use {expected}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_flink_and_stay_bounded() {
        assert_eq!(Millis::parse("10s"), Some(Millis(10_000)));
        assert_eq!(Millis::parse("10 s"), Some(Millis(10_000)));
        assert_eq!(Millis::parse("250ms"), Some(Millis(250)));
        assert_eq!(Millis::parse("2min"), Some(Millis(120_000)));
        assert_eq!(Millis::parse("ten s"), None);
        assert_eq!(Millis::parse("10 fortnights"), None);
        assert_eq!(Millis::parse("-5s"), None);
        assert_eq!(Millis::parse("9999999999999999999h"), None);
        assert_eq!(Millis::parse("8784h"), Some(Millis::MAX));
        assert_eq!(Millis::parse("8785h"), None);
    }

    #[test]
    fn skews_and_sizes_parse() {
        assert_eq!(parse_skew("-2min"), Some(-120_000));
        assert_eq!(parse_skew("+30s"), Some(30_000));
        assert_eq!(SkewMillis(-120_000).to_string(), "-120s");
        assert_eq!(parse_size_bytes("128 mb"), Some(128 << 20));
        assert_eq!(parse_size_bytes("64kb"), Some(64 << 10));
        assert_eq!(parse_size_bytes("4096"), Some(4096));
        assert_eq!(parse_size_bytes("12 parsecs"), None);
        assert_eq!(parse_size_bytes("99999999999999999999 gb"), None);
    }
}
