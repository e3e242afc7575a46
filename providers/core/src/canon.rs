//! Canonical attributes that can be held *frozen*: a compact encoding of the
//! map instead of the map.
//!
//! Why this exists: a scan holds the canonical desired form of every managed
//! resource from the moment its state is parsed until its live read is
//! compared. As a map (`BTreeMap<String, Value>`, a node of 11 slots per map
//! and per nested block, a heap string per key) an `aws_instance` costs about
//! 3.5 KB; frozen it costs about 0.4 KB, which is what lets 100,000 instances
//! be compared in a few hundred MB. Most of those forms are never looked at
//! again: an instance settled in sync by its listing page
//! ([`crate::Live::settle`]) is compared on a *thawed copy* ([`Canon::peek`])
//! and the engine skips the comparison of a settled live resource.
//!
//! Attribute names are interned per process ([`Keys`]): a frozen form names
//! `vpc_security_group_ids` in one or two bytes, not 22 in each of 100,000
//! instances.
//!
//! The encoding is exact (numbers keep their kind and bits, keys their order),
//! so a thawed form equals the form that was frozen: freezing never changes a
//! comparison, only what it costs. Reading through `Deref` thaws once and
//! keeps the map (for the few resources a report, a reconcile or a pull
//! request looks at); `DerefMut` thaws and forgets the frozen bytes, and
//! [`Canon::freeze`] encodes again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};

use crate::{Attrs, Value};
use serde_json::Number;

/// Canonical attributes: open (a map), frozen (compact bytes), or both (a
/// frozen form thawed for reading).
#[derive(Default)]
pub struct Canon {
    frozen: Option<Box<[u8]>>,
    open: OnceLock<Attrs>,
}

impl Canon {
    /// Open attributes.
    pub fn new(attrs: Attrs) -> Self {
        Self {
            frozen: None,
            open: OnceLock::from(attrs),
        }
    }

    /// Frozen attributes (encoded now).
    pub fn frozen(attrs: &Attrs) -> Self {
        Self {
            frozen: Some(encode(attrs)),
            open: OnceLock::new(),
        }
    }

    /// Hold the attributes frozen only: encode them if they changed since they
    /// were last frozen, and drop the open map.
    pub fn freeze(&mut self) {
        match (self.frozen.is_some(), self.open.take()) {
            (true, _) => {}
            (false, Some(open)) => self.frozen = Some(encode(&open)),
            (false, None) => self.frozen = Some(encode(&Attrs::new())),
        }
    }

    /// The attributes are held frozen and not thawed.
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some() && self.open.get().is_none()
    }

    /// Read the attributes without keeping a thawed copy: borrowed when open,
    /// decoded (and dropped by the caller) when frozen.
    pub fn peek(&self) -> Cow<'_, Attrs> {
        match (self.open.get(), &self.frozen) {
            (Some(open), _) => Cow::Borrowed(open),
            (None, Some(bytes)) => Cow::Owned(decode(bytes)),
            (None, None) => Cow::Owned(Attrs::new()),
        }
    }

    /// Whether a top-level attribute is present, without thawing.
    pub fn has(&self, key: &str) -> bool {
        match (self.open.get(), &self.frozen) {
            (Some(open), _) => open.contains_key(key),
            (None, Some(bytes)) => {
                let mut r = Reader(bytes);
                (0..r.len()).any(|_| {
                    let found = r.key() == key;
                    r.skip();
                    found
                })
            }
            (None, None) => false,
        }
    }

    /// The map, taken out.
    pub fn into_attrs(mut self) -> Attrs {
        match (self.open.take(), &self.frozen) {
            (Some(open), _) => open,
            (None, Some(bytes)) => decode(bytes),
            (None, None) => Attrs::new(),
        }
    }

    /// Bytes held by the frozen form (0 when open only).
    pub fn frozen_len(&self) -> usize {
        self.frozen.as_ref().map_or(0, |b| b.len())
    }
}

impl std::ops::Deref for Canon {
    type Target = Attrs;
    /// Thaws a frozen form once and keeps the map (see [`Canon::peek`] for a
    /// read that keeps nothing).
    fn deref(&self) -> &Attrs {
        self.open.get_or_init(|| match &self.frozen {
            Some(bytes) => decode(bytes),
            None => Attrs::new(),
        })
    }
}

impl std::ops::DerefMut for Canon {
    /// Thaws, and forgets the frozen bytes: they would be stale.
    fn deref_mut(&mut self) -> &mut Attrs {
        if self.open.get().is_none() {
            let open = match &self.frozen {
                Some(bytes) => decode(bytes),
                None => Attrs::new(),
            };
            let _ = self.open.set(open);
        }
        self.frozen = None;
        self.open.get_mut().expect("set above")
    }
}

impl Clone for Canon {
    fn clone(&self) -> Self {
        Self {
            frozen: self.frozen.clone(),
            open: match self.open.get() {
                Some(open) => OnceLock::from(open.clone()),
                None => OnceLock::new(),
            },
        }
    }
}

impl PartialEq for Canon {
    /// By value (two frozen forms are thawed: `-0.0` equals `0.0`, so the
    /// bytes alone cannot tell).
    fn eq(&self, other: &Self) -> bool {
        *self.peek() == *other.peek()
    }
}

impl PartialEq<Attrs> for Canon {
    fn eq(&self, other: &Attrs) -> bool {
        *self.peek() == *other
    }
}

impl PartialEq<Canon> for Attrs {
    fn eq(&self, other: &Canon) -> bool {
        *self == *other.peek()
    }
}

impl std::fmt::Debug for Canon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.peek().fmt(f)
    }
}

impl From<Attrs> for Canon {
    fn from(attrs: Attrs) -> Self {
        Self::new(attrs)
    }
}

impl<'a> IntoIterator for &'a Canon {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        std::ops::Deref::deref(self).iter()
    }
}

/// The attribute names frozen forms refer to by number. Only names that look
/// like Terraform attribute names (`[a-z0-9_]`, at most 64 bytes) are
/// interned, and at most [`Keys::MAX`] of them: tag keys and keyed-set
/// members (user data, unbounded in a long-running daemon) stay inline, and
/// so does everything once the table is full. Entries are never removed, so
/// a number means the same name for the life of the process (frozen forms
/// are never written out).
struct Keys {
    ids: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

impl Keys {
    const MAX: usize = 4096;

    fn eligible(k: &str) -> bool {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    /// The number of `k`, added if there is room.
    fn add(&mut self, k: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(k) {
            return Some(*id);
        }
        if self.names.len() >= Self::MAX {
            return None;
        }
        // Bounded (MAX names of at most 64 bytes): leaked on purpose, so that
        // a name is a `&'static str` shared by every frozen form.
        let name: &'static str = Box::leak(k.to_owned().into_boxed_str());
        let id = self.names.len() as u32;
        self.names.push(name);
        self.ids.insert(name, id);
        Some(id)
    }
}

static KEYS: LazyLock<RwLock<Keys>> = LazyLock::new(|| {
    RwLock::new(Keys {
        ids: HashMap::new(),
        names: Vec::new(),
    })
});

/// The number of an interned name (interning it if it may be).
fn intern(k: &str) -> Option<u32> {
    if !Keys::eligible(k) {
        return None;
    }
    if let Some(id) = KEYS.read().unwrap_or_else(|e| e.into_inner()).ids.get(k) {
        return Some(*id);
    }
    KEYS.write().unwrap_or_else(|e| e.into_inner()).add(k)
}

fn interned(id: u64) -> &'static str {
    KEYS.read().unwrap_or_else(|e| e.into_inner()).names[id as usize]
}

// The encoding: a tag byte per value, LEB128 lengths, numbers by kind; a key
// is `(number << 1) | 1` when interned, else `(length << 1)` and its bytes.
const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const INT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

fn encode(attrs: &Attrs) -> Box<[u8]> {
    // Encoded into a per-thread scratch buffer, then copied once at its exact
    // size: a buffer grown and shrunk in place would leave a hole beside each
    // of 100,000 long-lived forms.
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| {
        let mut out = s.borrow_mut();
        out.clear();
        map(attrs, &mut out);
        let frozen: Box<[u8]> = Box::from(&out[..]);
        // A rare large form does not keep its buffer.
        if out.capacity() > 64 * 1024 {
            *out = Vec::new();
        }
        frozen
    })
}

fn len(n: usize, out: &mut Vec<u8>) {
    varint(n as u64, out);
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn text(s: &str, out: &mut Vec<u8>) {
    len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn key(k: &str, out: &mut Vec<u8>) {
    match intern(k) {
        Some(id) => varint((u64::from(id) << 1) | 1, out),
        None => {
            varint((k.len() as u64) << 1, out);
            out.extend_from_slice(k.as_bytes());
        }
    }
}

fn map(m: &Attrs, out: &mut Vec<u8>) {
    len(m.len(), out);
    for (k, v) in m {
        key(k, out);
        value(v, out);
    }
}

fn value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UINT);
                varint(u, out);
            } else if let Some(i) = n.as_i64() {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            text(s, out);
        }
        Value::Array(a) => {
            out.push(ARRAY);
            len(a.len(), out);
            for v in a {
                value(v, out);
            }
        }
        Value::Object(m) => {
            out.push(OBJECT);
            map(m, out);
        }
    }
}

/// A cursor over bytes this module encoded (so a malformed input is a bug,
/// and panics).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().expect("canon: truncated");
        self.0 = rest;
        *b
    }

    fn len(&mut self) -> u64 {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return n;
            }
            shift += 7;
        }
    }

    fn bytes8(&mut self) -> [u8; 8] {
        let (b, rest) = self.0.split_at(8);
        self.0 = rest;
        b.try_into().expect("8 bytes")
    }

    fn str(&mut self) -> &'a str {
        let n = self.len() as usize;
        self.bytes(n)
    }

    fn bytes(&mut self, n: usize) -> &'a str {
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        std::str::from_utf8(b).expect("canon: utf-8")
    }

    fn key(&mut self) -> &'a str {
        let n = self.len();
        if n & 1 == 1 {
            interned(n >> 1)
        } else {
            self.bytes((n >> 1) as usize)
        }
    }

    fn text(&mut self) -> String {
        self.str().to_owned()
    }

    /// Step over one value.
    fn skip(&mut self) {
        match self.byte() {
            NULL | FALSE | TRUE => {}
            UINT => {
                self.len();
            }
            INT | FLOAT => {
                self.bytes8();
            }
            STRING => {
                self.str();
            }
            ARRAY => (0..self.len()).for_each(|_| self.skip()),
            OBJECT => (0..self.len()).for_each(|_| {
                self.key();
                self.skip();
            }),
            t => panic!("canon: unknown tag {t}"),
        }
    }

    fn map(&mut self) -> Attrs {
        let n = self.len();
        let mut m = Attrs::new();
        for _ in 0..n {
            let k = self.key().to_owned();
            let v = self.value();
            m.insert(k, v);
        }
        m
    }

    fn value(&mut self) -> Value {
        match self.byte() {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UINT => Value::Number(Number::from(self.len())),
            INT => Value::Number(Number::from(i64::from_le_bytes(self.bytes8()))),
            FLOAT => {
                let f = f64::from_bits(u64::from_le_bytes(self.bytes8()));
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            STRING => Value::String(self.text()),
            ARRAY => {
                let n = self.len();
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            OBJECT => Value::Object(self.map()),
            t => panic!("canon: unknown tag {t}"),
        }
    }
}

fn decode(bytes: &[u8]) -> Attrs {
    Reader(bytes).map()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_frozen_form_thaws_to_exactly_what_was_frozen() {
        let a = attrs(json!({
            "instance_type": "t3.micro", "monitoring": false, "ok": true, "none": null,
            "port": 443, "big": u64::MAX, "neg": -7, "min": i64::MIN, "ratio": 0.1,
            "tiny": 5e-324, "tags": {"Name": "web", "": "", "é": "ü"},
            "sets": [[], {}, [1, "a", null]], "long": "x".repeat(300),
        }));
        let c = Canon::frozen(&a);
        assert!(c.is_frozen());
        assert_eq!(*c.peek(), a);
        assert!(c.is_frozen(), "peek keeps nothing");
        assert_eq!(*c, a);
        assert!(!c.is_frozen(), "deref thaws once and keeps the map");
        // Numbers keep their kind, not only their value.
        assert!(c["port"].is_u64() && c["neg"].is_i64() && c["ratio"].is_f64());
        assert_eq!(c["ratio"].as_f64(), Some(0.1));
        assert_eq!(Canon::frozen(&Attrs::new()).peek().len(), 0);
        // Looking a key up walks the bytes, and keeps nothing.
        let c = Canon::frozen(&a);
        assert!(a.keys().all(|k| c.has(k)) && !c.has("absent") && !c.has("Name"));
        assert!(c.is_frozen());
    }

    #[test]
    fn writing_forgets_the_frozen_bytes_and_freeze_encodes_again() {
        let mut c = Canon::frozen(&attrs(json!({"a": 1})));
        c.insert("b".into(), json!(2));
        assert!(!c.is_frozen());
        c.freeze();
        assert!(c.is_frozen());
        assert_eq!(*c.peek(), attrs(json!({"a": 1, "b": 2})));
        let mut open = Canon::new(attrs(json!({"x": "y"})));
        assert_eq!(open.frozen_len(), 0);
        open.freeze();
        assert_eq!(open, Canon::new(attrs(json!({"x": "y"}))));
        assert_eq!(open.clone().into_attrs(), attrs(json!({"x": "y"})));
    }

    #[test]
    fn frozen_is_much_smaller_than_the_map() {
        let a = attrs(json!({
            "instance_type": "t3.micro", "ami": "ami-0123456789abcdef0",
            "tags": {"Name": "web-00001", "bench": "driftd"},
            "vpc_security_group_ids": ["sg-0123456789abcdef0"],
            "subnet_id": "subnet-0123456789abcdef0", "monitoring": false,
            "source_dest_check": true, "ebs_optimized": false, "iam_instance_profile": "",
            "key_name": "", "metadata_options": {"http_endpoint": "enabled",
            "http_tokens": "required", "http_put_response_hop_limit": 2,
            "instance_metadata_tags": "disabled"},
        }));
        let c = Canon::frozen(&a);
        // Names interned: about the size of the values alone.
        assert!(c.frozen_len() < 200, "{}", c.frozen_len());
        assert_eq!(*c.peek(), a);
    }

    #[test]
    fn only_attribute_like_names_are_interned_and_the_table_is_bounded() {
        assert!(Keys::eligible("vpc_security_group_ids") && Keys::eligible("ipv6"));
        for k in [
            "Name",
            "tcp:443-443:cidr:10.0.0.0/8",
            "",
            "a-b",
            &"x".repeat(65),
        ] {
            assert!(!Keys::eligible(k), "{k:?}");
            assert_eq!(intern(k), None);
        }
        // Many distinct names (a daemon meeting user tag keys for months):
        // the table stops at its bound (a local one: the process's own is
        // shared by the other tests).
        let mut keys = Keys {
            ids: HashMap::new(),
            names: Vec::new(),
        };
        for i in 0..(Keys::MAX + 10) {
            let got = keys.add(&format!("user_tag_{i}"));
            assert_eq!(got, (i < Keys::MAX).then_some(i as u32));
        }
        assert_eq!(keys.add("user_tag_7"), Some(7));
        assert_eq!(keys.names.len(), Keys::MAX);
        // Inline and interned names mix in one form, and round-trip.
        let m =
            attrs(json!({"Name": "web", "instance_type": "t3", "tcp:22-22:cidr:0.0.0.0/0": ""}));
        let c = Canon::frozen(&m);
        assert_eq!(*c.peek(), m);
        assert!(c.has("Name") && c.has("instance_type") && c.has("tcp:22-22:cidr:0.0.0.0/0"));
    }
}
