//! Requests: the values each attribute has for one decision.

use std::fmt;

use crate::ast::Value;

/// A value held by a [`Request`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueRef<'a> {
    /// An integer value.
    Int(i64),
    /// A string value.
    Str(&'a str),
}

impl ValueRef<'_> {
    /// Whether this request value equals the expression value `v` (same kind, same
    /// content).
    pub fn equals(self, v: &Value) -> bool {
        match (self, v) {
            (ValueRef::Int(a), Value::Int(b)) => a == *b,
            (ValueRef::Str(a), Value::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Int(v) => write!(f, "{v}"),
            ValueRef::Str(s) => write!(f, "{}", Value::Str((*s).to_owned())),
        }
    }
}

/// A pre-resolved attribute of one [`Request`], from [`Request::slot`]: pushing through
/// it skips the name lookup.
///
/// A slot is valid for the request that made it and for its clones. Slots are handed
/// out in order (0, 1, 2, …), so requests that resolve the same names in the same order
/// get equal slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrSlot(u32);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Stored {
    Int(i64),
    Str { start: u32, len: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub(crate) name: Box<str>,
    pub(crate) values: Vec<Stored>,
}

/// The attributes of one decision, each mapped to a set of values (integers or strings).
/// An attribute without values is absent.
///
/// A request is meant to be reused: [`Request::clear`] drops the values but keeps the
/// attribute names, their [`AttrSlot`]s and all capacity, so filling it again with the
/// same attributes allocates nothing.
///
/// ```
/// use adloop_targeting::{parse, Request};
/// let mut req = Request::new();
/// let segment = req.slot("segment");
/// req.push_int_at(segment, 12);
/// req.push_str("geo.country", "US");
/// assert!(parse(r#"segment in (12, 13) and geo.country = "US""#)?.matches(&req));
/// req.clear();
/// assert!(!parse("segment = 12")?.matches(&req));
/// # Ok::<(), adloop_targeting::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub(crate) attrs: Vec<Attr>,
    strings: String,
}

impl Request {
    /// An empty request.
    pub fn new() -> Self {
        Request::default()
    }

    /// Removes every value, keeping attribute names, slots and capacity.
    pub fn clear(&mut self) {
        for a in &mut self.attrs {
            a.values.clear();
        }
        self.strings.clear();
    }

    /// The slot for `name`, adding the attribute (with no values) if it is new.
    pub fn slot(&mut self, name: &str) -> AttrSlot {
        match self.attrs.iter().position(|a| &*a.name == name) {
            Some(i) => AttrSlot(i as u32),
            None => {
                self.attrs.push(Attr {
                    name: name.into(),
                    values: Vec::new(),
                });
                AttrSlot((self.attrs.len() - 1) as u32)
            }
        }
    }

    /// Adds the integer `value` to attribute `name`.
    pub fn push_int(&mut self, name: &str, value: i64) {
        let slot = self.slot(name);
        self.push_int_at(slot, value);
    }

    /// Adds the string `value` to attribute `name`.
    pub fn push_str(&mut self, name: &str, value: &str) {
        let slot = self.slot(name);
        self.push_str_at(slot, value);
    }

    /// Adds `value` to attribute `name`.
    pub fn push(&mut self, name: &str, value: &Value) {
        match value {
            Value::Int(v) => self.push_int(name, *v),
            Value::Str(s) => self.push_str(name, s),
        }
    }

    /// Adds the integer `value` to the attribute of `slot`.
    ///
    /// # Panics
    /// If `slot` came from a request with fewer attributes (a slot from another
    /// request).
    pub fn push_int_at(&mut self, slot: AttrSlot, value: i64) {
        self.attrs[slot.0 as usize].values.push(Stored::Int(value));
    }

    /// Adds the string `value` to the attribute of `slot`. Strings longer than 4 GiB
    /// in total per request are cut.
    ///
    /// # Panics
    /// If `slot` came from a request with fewer attributes (a slot from another
    /// request).
    pub fn push_str_at(&mut self, slot: AttrSlot, value: &str) {
        let start = self.strings.len();
        self.strings.push_str(value);
        let (start, len) = match (u32::try_from(start), u32::try_from(value.len())) {
            (Ok(s), Ok(l)) if s.checked_add(l).is_some() => (s, l),
            _ => {
                self.strings.truncate(start);
                (0, 0)
            }
        };
        self.attrs[slot.0 as usize]
            .values
            .push(Stored::Str { start, len });
    }

    /// The values of attribute `name` (empty when the request lacks it), in the order
    /// they were pushed.
    pub fn values(&self, name: &str) -> impl Iterator<Item = ValueRef<'_>> + '_ {
        let attr = self.attrs.iter().find(|a| &*a.name == name);
        attr.into_iter()
            .flat_map(move |a| a.values.iter().map(move |v| self.resolve(*v)))
    }

    /// Every attribute with at least one value, with its values.
    pub fn attributes(
        &self,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = ValueRef<'_>> + '_)> + '_ {
        self.attrs
            .iter()
            .filter(|a| !a.values.is_empty())
            .map(move |a| (&*a.name, a.values.iter().map(move |v| self.resolve(*v))))
    }

    pub(crate) fn resolve(&self, v: Stored) -> ValueRef<'_> {
        match v {
            Stored::Int(i) => ValueRef::Int(i),
            Stored::Str { start, len } => {
                ValueRef::Str(&self.strings[start as usize..(start + len) as usize])
            }
        }
    }
}
