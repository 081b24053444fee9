//! Normalisation of files written by the PowerShell suite and by older tools, done while they
//! are deserialized into the `results` types, so that those types are the only schema.
//!
//! PowerShell's `ConvertTo-Json` output differs from ollabench's in ways read here as if
//! ollabench had written them:
//! - keys in another letter case (`timestamp`, `TOTALSAMPLES`): matched to the field names the
//!   type declares, an exact match first;
//! - an array of one element collapsed into the element (`"ModelResults": {...}`,
//!   `"Models": "phi3.5"`), and `null` for an empty array;
//! - numbers written as text (`"42.5"`; only `.` is a decimal separator, since `"42,5"` could
//!   be 42.5 or 425), a number where text is expected, `"True"` for a boolean;
//! - `"NaN"`, `"Infinity"` or `""` for a value that was not measured: `None`, or NaN for a
//!   number the type does not make optional;
//! - objects that `ConvertTo-Json`'s default `-Depth 2` wrote as text (`"@{PromptLength=..."`):
//!   left out, their place recorded in [`Log::depth_cut`], the rest of the file still read;
//! - Timestamps as `/Date(ms)/` or as the `{"value": ..., "DateTime": ...}` object Windows
//!   PowerShell writes for a `DateTime` (see [`parse_timestamp`]).
//!
//! Anything else that does not fit the type is a [`FieldError`] naming the field's path
//! (`ModelResults[0].PromptResults[1].Statistics.SampleSize`).

use std::cell::RefCell;
use std::fmt;

use chrono::{DateTime, NaiveDateTime};
use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

/// A field that does not fit its type: where (empty for the whole file), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    /// Places an error raised inside serde (which knows no path) at `path`.
    fn at(mut self, path: &str) -> Self {
        if self.path.is_empty() {
            self.path = path.to_string();
        }
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        FieldError {
            path: String::new(),
            message: message.to_string(),
        }
    }
}

/// What normalisation left out, for the notes a reader shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// Paths of objects PowerShell wrote as text because of `ConvertTo-Json`'s depth limit.
    pub depth_cut: Vec<String>,
}

/// Deserializes `value` into `T`, normalising as the module docs say.
pub fn from_value<T: DeserializeOwned>(value: &Value, log: &mut Log) -> Result<T, FieldError> {
    let shared = RefCell::new(std::mem::take(log));
    let result = T::deserialize(Lenient {
        value,
        path: String::new(),
        log: &shared,
    });
    *log = shared.into_inner();
    result
}

/// Says what a value is, for error messages: `the text "42,5"`, `an object`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            format!("the text \"{shown}\"")
        }
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Whether PowerShell wrote an object or array as text because of `ConvertTo-Json`'s depth
/// limit: a PSCustomObject becomes `@{Name=value; ...}`, a hashtable or list its type name.
pub fn is_depth_cut(value: &Value) -> bool {
    match value {
        Value::String(s) => {
            (s.starts_with("@{") && s.ends_with('}'))
                || s.starts_with("System.Collections.")
                || s == "System.Object[]"
        }
        _ => false,
    }
}

/// `"NaN"`, `"Infinity"` and the like: how PowerShell writes a number that was not measured.
fn is_not_a_number_word(text: &str) -> bool {
    [
        "nan",
        "infinity",
        "-infinity",
        "+infinity",
        "inf",
        "-inf",
        "+inf",
    ]
    .contains(&text.trim().to_ascii_lowercase().as_str())
}

/// A number as written: kept whole when it is whole, so that counts stay exact.
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// A place in the file being deserialized.
struct Lenient<'a> {
    value: &'a Value,
    path: String,
    log: &'a RefCell<Log>,
}

impl<'a> Lenient<'a> {
    fn key(&self, key: &str, value: &'a Value) -> Lenient<'a> {
        Lenient {
            value,
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
            log: self.log,
        }
    }

    fn index(&self, index: usize, value: &'a Value) -> Lenient<'a> {
        Lenient {
            value,
            path: format!("{}[{index}]", self.path),
            log: self.log,
        }
    }

    /// The only element of a one-element array, which stands for a single value.
    fn only_element(&self) -> Option<Lenient<'a>> {
        match self.value {
            Value::Array(items) if items.len() == 1 => Some(self.index(0, &items[0])),
            _ => None,
        }
    }

    fn error(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn expected(&self, what: &str) -> FieldError {
        self.error(format!("expected {what}, found {}", describe(self.value)))
    }

    /// True (and logged) when this value is an object PowerShell wrote as text.
    fn cut(&self) -> bool {
        let cut = is_depth_cut(self.value);
        if cut {
            self.log.borrow_mut().depth_cut.push(self.path.clone());
        }
        cut
    }

    /// The number here; `None` when it was not recorded (null, empty text).
    fn number(&self) -> Result<Option<Number>, FieldError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(Some(if let Some(u) = n.as_u64() {
                Number::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Number::Signed(i)
            } else {
                Number::Float(n.as_f64().unwrap_or(f64::NAN))
            })),
            Value::String(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(None);
                }
                if is_not_a_number_word(text) {
                    let lower = text.to_ascii_lowercase();
                    return Ok(Some(Number::Float(if lower.contains("inf") {
                        if lower.starts_with('-') {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        }
                    } else {
                        f64::NAN
                    })));
                }
                if !text
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
                {
                    return Err(self.error(format!(
                        "expected a number, found {} (write decimals with '.')",
                        describe(self.value)
                    )));
                }
                if let Ok(u) = text.parse::<u64>() {
                    Ok(Some(Number::Unsigned(u)))
                } else if let Ok(i) = text.parse::<i64>() {
                    Ok(Some(Number::Signed(i)))
                } else {
                    text.parse::<f64>()
                        .map(|f| Some(Number::Float(f)))
                        .map_err(|_| self.expected("a number"))
                }
            }
            Value::Array(_) => match self.only_element() {
                Some(only) => only.number(),
                None => Err(self.expected("a number")),
            },
            _ => Err(self.expected("a number")),
        }
    }

    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.number()? {
            // Not recorded: the type's zero, which readers take as "not recorded".
            None => visitor.visit_u64(0),
            Some(Number::Unsigned(u)) => visitor.visit_u64(u),
            Some(Number::Signed(i)) => visitor.visit_i64(i),
            Some(Number::Float(f)) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                if f >= 0.0 {
                    visitor.visit_u64(f as u64)
                } else {
                    visitor.visit_i64(f as i64)
                }
            }
            Some(Number::Float(f)) => {
                Err(self.error(format!("expected a whole number, found {f}")))
            }
        }
        .map_err(|err: FieldError| err.at(&self.path))
    }

    fn float<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.number()? {
            None => visitor.visit_f64(f64::NAN),
            Some(Number::Unsigned(u)) => visitor.visit_u64(u),
            Some(Number::Signed(i)) => visitor.visit_i64(i),
            Some(Number::Float(f)) => visitor.visit_f64(f),
        }
        .map_err(|err: FieldError| err.at(&self.path))
    }

    /// Every other shape, delegated to serde_json as written (no normalisation inside).
    fn delegate<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        de::Deserializer::deserialize_any(self.value.clone(), visitor)
            .map_err(|err| self.error(err.to_string()))
    }
}

impl<'de, 'a> de::Deserializer<'de> for Lenient<'a> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.delegate(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Null => visitor.visit_bool(false),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => visitor.visit_bool(true),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => visitor.visit_bool(false),
            _ => match self.only_element() {
                Some(only) => only.deserialize_bool(visitor),
                None => Err(self.expected("true or false")),
            },
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.integer(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.float(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.float(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_string(visitor)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.value {
            Value::String(s) => visitor.visit_str(s),
            Value::Number(n) => visitor.visit_string(n.to_string()),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            Value::Null => visitor.visit_str(""),
            _ => match self.only_element() {
                Some(only) => only.deserialize_string(visitor),
                None => Err(self.expected("text")),
            },
        }
        .map_err(|err: FieldError| err.at(&self.path))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.delegate(visitor)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.delegate(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            Value::String(s) if s.trim().is_empty() || is_not_a_number_word(s) => {
                visitor.visit_none()
            }
            _ if self.cut() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let value: &'a Value = self.value;
        let items: &'a [Value] = match value {
            Value::Array(items) => items,
            Value::Null => &[],
            _ if self.cut() => &[],
            // PowerShell collapses an array of one into its element.
            single => std::slice::from_ref(single),
        };
        let path = self.path.clone();
        visitor
            .visit_seq(Seq {
                parent: self,
                items: items.iter().enumerate(),
            })
            .map_err(|err| err.at(&path))
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let value: &'a Value = self.value;
        let entries: Vec<(&'a str, &'a Value)> = match value {
            Value::Object(object) => object.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            Value::Null => Vec::new(),
            _ if self.cut() => Vec::new(),
            _ => return Err(self.expected("an object")),
        };
        self.visit_entries(entries, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let value: &'a Value = self.value;
        let object = match value {
            Value::Object(object) => object,
            // Not recorded, or cut by PowerShell: every field takes its default (or is
            // reported missing when the type requires it).
            Value::Null => return self.visit_entries(Vec::new(), visitor),
            _ if self.cut() => return self.visit_entries(Vec::new(), visitor),
            _ => {
                return match self.only_element() {
                    Some(only) => only.deserialize_struct(name, fields, visitor),
                    None => Err(self.expected("an object")),
                }
            }
        };
        // Keys in another case take the declared name, unless the file also has the key as
        // declared: then the exact one wins and the other is ignored like any unknown key.
        let mut claimed: Vec<&'static str> = Vec::new();
        let entries = object
            .iter()
            .map(|(key, value)| {
                let name: &'a str = if fields.iter().any(|field| *field == key) {
                    key.as_str()
                } else {
                    match fields.iter().find(|field| {
                        field.eq_ignore_ascii_case(key)
                            && !object.contains_key(**field)
                            && !claimed.contains(field)
                    }) {
                        Some(&field) => {
                            claimed.push(field);
                            field
                        }
                        None => key.as_str(),
                    }
                };
                (name, value)
            })
            .collect();
        self.visit_entries(entries, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        match self.value {
            Value::String(text) => {
                let text = text.trim();
                let variant = variants
                    .iter()
                    .find(|v| **v == text)
                    .or_else(|| variants.iter().find(|v| v.eq_ignore_ascii_case(text)));
                match variant {
                    Some(variant) => {
                        let variant: StrDeserializer<'_, FieldError> = variant.into_deserializer();
                        visitor.visit_enum(variant)
                    }
                    None => Err(self.error(format!(
                        "expected one of {}, found {}",
                        variants.join(", "),
                        describe(self.value)
                    ))),
                }
            }
            Value::Object(_) => {
                de::Deserializer::deserialize_enum(self.value.clone(), name, variants, visitor)
                    .map_err(|err| self.error(err.to_string()))
            }
            _ => match self.only_element() {
                Some(only) => only.deserialize_enum(name, variants, visitor),
                None => Err(self.expected(&format!("one of {}", variants.join(", ")))),
            },
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }
}

impl<'a> Lenient<'a> {
    fn visit_entries<'de, V: Visitor<'de>>(
        self,
        entries: Vec<(&'a str, &'a Value)>,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let path = self.path.clone();
        visitor
            .visit_map(Map {
                parent: self,
                entries: entries.into_iter(),
                pending: None,
            })
            .map_err(|err| err.at(&path))
    }
}

/// The elements of an array (or of the single value standing for one).
struct Seq<'a> {
    parent: Lenient<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FieldError> {
        for (index, value) in self.items.by_ref() {
            let element = self.parent.index(index, value);
            // An element cut to text is left out; the rest of the array is still read.
            if element.cut() {
                continue;
            }
            let path = element.path.clone();
            return seed
                .deserialize(element)
                .map(Some)
                .map_err(|err| err.at(&path));
        }
        Ok(None)
    }
}

/// The members of an object, under the names the type declares.
struct Map<'a> {
    parent: Lenient<'a>,
    entries: std::vec::IntoIter<(&'a str, &'a Value)>,
    pending: Option<(&'a str, &'a Value)>,
}

impl<'de, 'a> MapAccess<'de> for Map<'a> {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        let key: StrDeserializer<'_, FieldError> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        let member = self.parent.key(key, value);
        let path = member.path.clone();
        seed.deserialize(member).map_err(|err| err.at(&path))
    }
}

/// Parses a Timestamp in any form a result file holds it: text (see [`parse_timestamp_text`]),
/// or Windows PowerShell's `{"value": "/Date(ms)/", "DateTime": "..."}`.
pub fn parse_timestamp(value: &Value) -> Option<NaiveDateTime> {
    match value {
        Value::Object(object) => object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("value"))
            .and_then(|(_, value)| parse_timestamp(value)),
        Value::String(text) => parse_timestamp_text(text),
        _ => None,
    }
}

/// Parses a Timestamp text: `yyyy-MM-dd HH:mm:ss[.fff]` (the reference's), ISO 8601 / RFC 3339
/// with or without an offset (PowerShell 7's `DateTime`; the local time as written is kept),
/// or `/Date(milliseconds)/` (Windows PowerShell's), in UTC.
pub fn parse_timestamp_text(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Some(millis) = text
        .strip_prefix("/Date(")
        .and_then(|t| t.strip_suffix(")/"))
    {
        // `/Date(1730385000000)/`, possibly with an offset suffix such as `+0100`.
        let digits_end = millis
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(millis.len(), |(i, _)| i);
        let millis: i64 = millis[..digits_end].parse().ok()?;
        return DateTime::from_timestamp_millis(millis).map(|t| t.naive_utc());
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.naive_local());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time);
        }
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z")
        .ok()
        .map(|time| time.naive_local())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Cell {
        prompt_length: String,
        sample_size: u32,
        average_tokens_per_second: Option<f64>,
        min_tokens_per_second: f64,
        succeeded: bool,
        tags: Vec<String>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct File {
        model: String,
        cells: Vec<Cell>,
        status: Option<Status>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    enum Status {
        Success,
        Failed,
    }

    fn read<T: DeserializeOwned>(value: serde_json::Value) -> Result<(T, Log), FieldError> {
        let mut log = Log::default();
        from_value(&value, &mut log).map(|t| (t, log))
    }

    #[test]
    fn keys_in_another_case_numbers_as_text_and_collapsed_arrays() {
        let (file, log) = read::<File>(json!({
            "model": 8,
            "CELLS": {"promptLength": "Short", "sampleSize": "5", "averagetokenspersecond": "42.5",
                      "MinTokensPerSecond": "4e1", "Succeeded": "True", "Tags": "one"},
            "status": "failed"
        }))
        .unwrap();
        assert_eq!(file.model, "8");
        assert_eq!(
            file.cells,
            [Cell {
                prompt_length: "Short".into(),
                sample_size: 5,
                average_tokens_per_second: Some(42.5),
                min_tokens_per_second: 40.0,
                succeeded: true,
                tags: vec!["one".into()],
            }]
        );
        assert_eq!(file.status, Some(Status::Failed));
        assert!(log.depth_cut.is_empty());
    }

    #[test]
    fn the_exact_key_wins_over_another_case() {
        let (file, _) = read::<File>(json!({"model": "b", "Model": "a"})).unwrap();
        assert_eq!(file.model, "a");
    }

    #[test]
    fn not_measured_values_are_none_or_nan() {
        let (file, _) = read::<File>(json!({"Cells": [
            {"AverageTokensPerSecond": "NaN", "MinTokensPerSecond": null, "SampleSize": null},
            {"AverageTokensPerSecond": "", "MinTokensPerSecond": "Infinity"}
        ]}))
        .unwrap();
        assert_eq!(file.cells[0].average_tokens_per_second, None);
        assert!(file.cells[0].min_tokens_per_second.is_nan());
        assert_eq!(file.cells[0].sample_size, 0);
        assert_eq!(file.cells[1].average_tokens_per_second, None);
        assert!(file.cells[1].min_tokens_per_second.is_infinite());
    }

    #[test]
    fn bad_values_are_errors_naming_the_field() {
        let err =
            read::<File>(json!({"Cells": [{}, {"AverageTokensPerSecond": "42,5"}]})).unwrap_err();
        assert_eq!(err.path, "Cells[1].AverageTokensPerSecond");
        assert!(err.message.contains("'.'"), "{err}");
        let err = read::<File>(json!({"Cells": {"SampleSize": 2.5}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cells[0].SampleSize: expected a whole number, found 2.5"
        );
        let err = read::<File>(json!({"Cells": [{"SampleSize": -1}]})).unwrap_err();
        assert_eq!(err.path, "Cells[0].SampleSize");
        let err = read::<File>(json!({"Status": "Completed"})).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("Status: expected one of Success, Failed"));
        let err = read::<File>(json!({"Cells": [{"Succeeded": 3}]})).unwrap_err();
        assert!(err
            .to_string()
            .contains("expected true or false, found the number 3"));
        let err = read::<File>(json!([1])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[0]: expected an object, found the number 1"
        );
    }

    #[test]
    fn objects_cut_by_depth_are_left_out_and_logged() {
        let (file, log) = read::<File>(json!({"Cells": [
            "@{PromptLength=Short; Statistics=}",
            {"PromptLength": "Long"}
        ]}))
        .unwrap();
        assert_eq!(file.cells.len(), 1);
        assert_eq!(file.cells[0].prompt_length, "Long");
        assert_eq!(log.depth_cut, ["Cells[0]"]);
        let (file, log) = read::<File>(json!({"Cells": "System.Collections.Hashtable"})).unwrap();
        assert!(file.cells.is_empty());
        assert_eq!(log.depth_cut, ["Cells"]);
    }

    #[test]
    fn missing_required_fields_are_named_with_their_place() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        #[expect(dead_code)]
        struct Outer {
            inner: Inner,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        #[expect(dead_code)]
        struct Inner {
            needed: u32,
        }
        let err = read::<Outer>(json!({"inner": {}})).unwrap_err();
        assert_eq!(err.to_string(), "Inner: missing field `Needed`");
    }

    #[test]
    fn timestamps_in_every_form() {
        let expected =
            NaiveDateTime::parse_from_str("2025-10-31 14:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        for text in [
            "2025-10-31 14:30:00",
            "2025-10-31T14:30:00",
            "2025-10-31T14:30:00.0000000+01:00",
            "2025-10-31T14:30:00Z",
            " 2025-10-31 14:30:00 ",
        ] {
            assert_eq!(parse_timestamp_text(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse_timestamp_text("/Date(1761921000000)/"),
            Some(expected)
        );
        let object = json!({"value": "/Date(1761921000000)/", "DateTime": "Friday"});
        assert_eq!(parse_timestamp(&object), Some(expected));
        assert_eq!(parse_timestamp_text("last tuesday"), None);
        assert_eq!(parse_timestamp_text("/Date(x)/"), None);
        assert_eq!(parse_timestamp(&json!(42)), None);
    }
}
