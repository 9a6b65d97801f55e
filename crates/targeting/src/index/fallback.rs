//! The exact side path: expressions whose normal form is too large for the bitset rows
//! are compiled into a flat, dictionary-encoded tree and evaluated per request.

use crate::{
    ast::{Expr, Op, Value},
    index::{Dictionaries, Encoded, NO_ID},
};

#[derive(Debug, Clone, Copy)]
enum Node {
    Const(bool),
    Not(u32),
    And {
        start: u32,
        len: u32,
    },
    Or {
        start: u32,
        len: u32,
    },
    /// Some request value of `attr` is among `ids[start..start + len]` (sorted).
    In {
        attr: u32,
        start: u32,
        len: u32,
    },
    /// Every id in `ids[start..start + len]` is among the request's values. `len == 0`
    /// is true; a value absent from every dictionary was given id `NO_ID` and can never
    /// be present.
    All {
        attr: u32,
        start: u32,
        len: u32,
    },
    Range {
        attr: u32,
        lo: i64,
        hi: i64,
    },
}

/// Compiled fallback expressions, evaluated one by one.
#[derive(Debug, Default)]
pub(crate) struct Fallback {
    nodes: Vec<Node>,
    children: Vec<u32>,
    ids: Vec<u32>,
    /// (key ordinal, root node)
    pub(crate) roots: Vec<(u32, u32)>,
}

impl Fallback {
    pub(crate) fn len(&self) -> usize {
        self.roots.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.children.capacity() * 4
            + self.ids.capacity() * 4
            + self.roots.capacity() * 8
    }

    /// Compiles `expr`; the caller has checked its depth.
    pub(crate) fn add(&mut self, key_ord: u32, expr: &Expr, dicts: &mut Dictionaries) {
        let root = self.compile(expr, dicts);
        self.roots.push((key_ord, root));
    }

    fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn id_list(&mut self, attr: u32, values: &[Value], dicts: &mut Dictionaries) -> (u32, u32) {
        let start = self.ids.len();
        self.ids
            .extend(values.iter().map(|v| dicts.intern(attr, v)));
        self.ids[start..].sort_unstable();
        let mut w = start;
        for r in start..self.ids.len() {
            if w == start || self.ids[w - 1] != self.ids[r] {
                self.ids[w] = self.ids[r];
                w += 1;
            }
        }
        self.ids.truncate(w);
        (start as u32, (w - start) as u32)
    }

    fn compile(&mut self, expr: &Expr, dicts: &mut Dictionaries) -> u32 {
        match expr {
            Expr::True => self.push(Node::Const(true)),
            Expr::False => self.push(Node::Const(false)),
            Expr::Not(inner) => {
                let c = self.compile(inner, dicts);
                self.push(Node::Not(c))
            }
            Expr::And(items) | Expr::Or(items) => {
                let kids: Vec<u32> = items.iter().map(|i| self.compile(i, dicts)).collect();
                let start = self.children.len() as u32;
                self.children.extend_from_slice(&kids);
                let len = kids.len() as u32;
                self.push(if matches!(expr, Expr::And(_)) {
                    Node::And { start, len }
                } else {
                    Node::Or { start, len }
                })
            }
            Expr::Pred(p) => {
                let attr = dicts.attribute(&p.attribute);
                let mut list = |this: &mut Self, values: &[Value], negate: bool, all: bool| {
                    let (start, len) = this.id_list(attr, values, dicts);
                    let node = if all {
                        Node::All { attr, start, len }
                    } else {
                        Node::In { attr, start, len }
                    };
                    let n = this.push(node);
                    if negate { this.push(Node::Not(n)) } else { n }
                };
                let range = |this: &mut Self, lo: Option<i64>, hi: Option<i64>| match (lo, hi) {
                    (Some(lo), Some(hi)) => this.push(Node::Range { attr, lo, hi }),
                    _ => this.push(Node::Const(false)),
                };
                match &p.op {
                    Op::In(l) => list(self, l, false, false),
                    Op::NotIn(l) => list(self, l, true, false),
                    Op::All(l) => list(self, l, false, true),
                    Op::Eq(v) => list(self, std::slice::from_ref(v), false, false),
                    Op::Ne(v) => list(self, std::slice::from_ref(v), true, false),
                    Op::Lt(n) => range(self, Some(i64::MIN), n.checked_sub(1)),
                    Op::Le(n) => range(self, Some(i64::MIN), Some(*n)),
                    Op::Gt(n) => range(self, n.checked_add(1), Some(i64::MAX)),
                    Op::Ge(n) => range(self, Some(*n), Some(i64::MAX)),
                    Op::Between(lo, hi) => range(self, Some(*lo), Some(*hi)),
                }
            }
        }
    }

    pub(crate) fn eval(&self, node: u32, enc: &Encoded<'_>) -> bool {
        match self.nodes[node as usize] {
            Node::Const(b) => b,
            Node::Not(c) => !self.eval(c, enc),
            Node::And { start, len } => self.children[start as usize..(start + len) as usize]
                .iter()
                .all(|&c| self.eval(c, enc)),
            Node::Or { start, len } => self.children[start as usize..(start + len) as usize]
                .iter()
                .any(|&c| self.eval(c, enc)),
            Node::In { attr, start, len } => {
                let list = &self.ids[start as usize..(start + len) as usize];
                enc.ids(attr)
                    .iter()
                    .any(|id| list.binary_search(id).is_ok())
            }
            Node::All { attr, start, len } => {
                let list = &self.ids[start as usize..(start + len) as usize];
                let have = enc.ids(attr);
                if list.len() > have.len() {
                    return false;
                }
                list.iter().all(|id| *id != NO_ID && have.contains(id))
            }
            Node::Range { attr, lo, hi } => enc.ints(attr).iter().any(|&x| lo <= x && x <= hi),
        }
    }
}
