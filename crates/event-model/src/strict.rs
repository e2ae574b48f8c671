//! A JSON reader that notices duplicate keys.
//!
//! `serde_json` keeps the last of two equal keys; other parsers keep the first or refuse the
//! document, so a request with a repeated key can mean two different things to two readers.
//! This reader parses once, builds the same [`Value`] `serde_json` would, and records the JSON
//! pointer of every repeated key (keys compare after unescaping, as every parser compares them).
//! Nesting stays bounded by `serde_json`'s recursion limit (128), which applies to any visitor.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::problem::pointer;

/// At most this many repeated keys are recorded; the rest are only counted.
pub(crate) const MAX_RECORDED: usize = 32;
/// After the first, repeated keys are recorded only while their pointers total at most this many
/// bytes (a pointer repeats its ancestors' keys, which could otherwise multiply a long key).
const MAX_RECORDED_BYTES: usize = 64 * 1024;

/// The repeated keys found while reading.
#[derive(Debug, Default)]
pub(crate) struct Duplicates {
    /// `(pointer, key)` of each repeated key (its second and later occurrences), in document
    /// order: the first always, then at most [`MAX_RECORDED`] in all and within a byte budget.
    pub(crate) recorded: Vec<(String, String)>,
    /// The bytes of the recorded pointers and keys.
    recorded_bytes: usize,
    /// How many repeated keys there were in all.
    pub(crate) total: usize,
}

#[derive(Default)]
struct State {
    /// The unescaped path segments (keys and indexes) from the root to the value being read.
    path: Vec<String>,
    duplicates: Duplicates,
}

impl State {
    /// Records that the key on top of `path` is a repeat.
    fn record(&mut self) {
        let duplicates = &mut self.duplicates;
        duplicates.total += 1;
        if duplicates.recorded.len() >= MAX_RECORDED {
            return;
        }
        let at = self
            .path
            .iter()
            .fold(String::new(), |at, segment| pointer(&at, segment));
        let key = self.path.last().cloned().unwrap_or_default();
        let bytes = at.len() + key.len();
        if duplicates.recorded.is_empty() || duplicates.recorded_bytes + bytes <= MAX_RECORDED_BYTES
        {
            duplicates.recorded_bytes += bytes;
            duplicates.recorded.push((at, key));
        }
    }
}

/// Parses `text` as one JSON document (nothing but whitespace after it), noting repeated keys.
/// The value keeps the first occurrence of a repeated key; callers refuse such documents anyway.
pub(crate) fn parse(text: &str) -> (Result<Value, serde_json::Error>, Duplicates) {
    let mut state = State::default();
    let mut reader = serde_json::Deserializer::from_str(text);
    let result = reader
        .deserialize_any(Node { state: &mut state })
        .and_then(|value| reader.end().map(|()| value));
    (result, state.duplicates)
}

/// Reads one value at the current path.
struct Node<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.state.path.push(items.len().to_string());
            let item = seq.next_element_seed(Node {
                state: &mut *self.state,
            });
            self.state.path.pop();
            match item? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let repeated = object.contains_key(&key);
            self.state.path.push(key);
            if repeated {
                self.state.record();
            }
            let value = map.next_value_seed(Node {
                state: &mut *self.state,
            });
            let key = self.state.path.pop();
            let value = value?;
            if let Some(key) = key
                && !repeated
            {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
    }
}
