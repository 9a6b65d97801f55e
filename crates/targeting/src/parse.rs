//! The parser: a lazy lexer with one token of lookahead and a recursive-descent parser
//! whose recursion is bounded by [`Limits::max_depth`].

use crate::{
    ast::{Expr, Op, Predicate, Value},
    error::{Error, Kind, Position},
    schema::Schema,
};

/// Hard ceiling on [`Limits::max_depth`]: each level of nesting costs three stack frames,
/// and this keeps the parser far from the smallest thread stacks.
const DEPTH_CEILING: usize = 256;

/// Explicit limits the parser enforces, each with its own [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted text in bytes (default 1 MiB).
    pub max_text_bytes: usize,
    /// Deepest nesting of parentheses and `not` (default 64, never more than 256).
    pub max_depth: usize,
    /// Most values in one list (default 65,536).
    pub max_list_len: usize,
    /// Most predicates in one expression (default 4,096).
    pub max_predicates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 1 << 20,
            max_depth: 64,
            max_list_len: 65_536,
            max_predicates: 4_096,
        }
    }
}

/// Parses an expression with the default [`Limits`] and no schema.
///
/// ```
/// use adloop_targeting::{parse, Expr};
/// let e = parse(r#"segment in (12, 40) and geo.country != "FR""#)?;
/// assert_eq!(parse(&e.to_string())?, e);
/// # Ok::<(), adloop_targeting::Error>(())
/// ```
pub fn parse(text: &str) -> Result<Expr, Error> {
    parse_with(text, &Limits::default(), None)
}

/// Parses an expression with explicit limits, validating attributes and value kinds
/// against `schema` when one is given.
pub fn parse_with(text: &str, limits: &Limits, schema: Option<&Schema>) -> Result<Expr, Error> {
    if text.len() > limits.max_text_bytes {
        return Err(Error::TextTooLong {
            length: text.len(),
            limit: limits.max_text_bytes,
        });
    }
    let mut parser = Parser {
        lexer: Lexer {
            text,
            pos: 0,
            line: 1,
            column: 1,
        },
        peeked: None,
        limits,
        max_depth: limits.max_depth.min(DEPTH_CEILING),
        schema,
        predicates: 0,
    };
    let expr = parser.parse_or(0)?;
    let next = parser.next()?;
    match next.tok {
        Tok::Eof => Ok(expr),
        _ => Err(syntax(&next, "`and`, `or` or end of input")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Or,
    And,
    Not,
    In,
    All,
    Between,
    True,
    False,
    Int(i64),
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Invalid(char),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    at: Position,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("attribute {s:?}"),
        Tok::Or => "`or`".into(),
        Tok::And => "`and`".into(),
        Tok::Not => "`not`".into(),
        Tok::In => "`in`".into(),
        Tok::All => "`all`".into(),
        Tok::Between => "`between`".into(),
        Tok::True => "`true`".into(),
        Tok::False => "`false`".into(),
        Tok::Int(v) => format!("integer {v}"),
        Tok::Str(s) => {
            let cut: String = s.chars().take(32).collect();
            format!("string {cut:?}")
        }
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`=`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Invalid(c) => format!("character {c:?}"),
        Tok::Eof => "end of input".into(),
    }
}

fn syntax(token: &Token, expected: &'static str) -> Error {
    Error::Syntax {
        at: token.at,
        expected,
        found: describe(&token.tok),
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    column: u32,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl Lexer<'_> {
    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    fn here(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn next_token(&mut self) -> Result<Token, Error> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let at = self.here();
        let Some(c) = self.bump() else {
            return Ok(Token { tok: Tok::Eof, at });
        };
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            '!' if self.peek_char() == Some('=') => {
                self.bump();
                Tok::Ne
            }
            '<' | '>' => {
                let eq = self.peek_char() == Some('=');
                if eq {
                    self.bump();
                }
                match (c, eq) {
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Le,
                    ('>', false) => Tok::Gt,
                    _ => Tok::Ge,
                }
            }
            '"' => self.string(at)?,
            '-' if self.peek_char().is_some_and(|d| d.is_ascii_digit()) => {
                self.integer(at, true)?
            }
            '0'..='9' => {
                self.pos -= 1;
                self.column -= 1;
                self.integer(at, false)?
            }
            c if is_ident_start(c) => {
                let start = self.pos - 1;
                while self.peek_char().is_some_and(is_ident_continue) {
                    self.bump();
                }
                let word = &self.text[start..self.pos];
                keyword(word).unwrap_or_else(|| Tok::Ident(word.to_owned()))
            }
            c => Tok::Invalid(c),
        };
        Ok(Token { tok, at })
    }

    fn integer(&mut self, at: Position, negative: bool) -> Result<Tok, Error> {
        let start = self.pos;
        while self.peek_char().is_some_and(|d| d.is_ascii_digit()) {
            self.bump();
        }
        let digits = &self.text[start..self.pos];
        // Accumulate negatively so that i64::MIN is representable.
        let mut acc: i64 = 0;
        for d in digits.bytes() {
            let next = acc
                .checked_mul(10)
                .and_then(|a| a.checked_sub(i64::from(d - b'0')));
            match next {
                Some(n) => acc = n,
                None => return Err(out_of_range(at, negative, digits)),
            }
        }
        if negative {
            Ok(Tok::Int(acc))
        } else {
            acc.checked_neg()
                .map(Tok::Int)
                .ok_or_else(|| out_of_range(at, negative, digits))
        }
    }

    fn string(&mut self, at: Position) -> Result<Tok, Error> {
        let mut out = String::new();
        loop {
            let here = self.here();
            match self.bump() {
                None => {
                    return Err(Error::BadString {
                        at,
                        reason: "string is not closed",
                    });
                }
                Some('"') => return Ok(Tok::Str(out)),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => out.push(c),
                    _ => {
                        return Err(Error::BadString {
                            at: here,
                            reason: "only \\\" and \\\\ are allowed as escapes",
                        });
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }
}

fn out_of_range(at: Position, negative: bool, digits: &str) -> Error {
    let mut literal: String = if negative { "-".into() } else { String::new() };
    literal.extend(digits.chars().take(32));
    Error::IntegerOutOfRange { at, literal }
}

fn keyword(word: &str) -> Option<Tok> {
    const KEYWORDS: [(&str, Tok); 8] = [
        ("or", Tok::Or),
        ("and", Tok::And),
        ("not", Tok::Not),
        ("in", Tok::In),
        ("all", Tok::All),
        ("between", Tok::Between),
        ("true", Tok::True),
        ("false", Tok::False),
    ];
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, t)| t.clone())
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    limits: &'a Limits,
    max_depth: usize,
    schema: Option<&'a Schema>,
    predicates: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, Error> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("peeked was just filled"))
    }

    fn next(&mut self) -> Result<Token, Error> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn parse_or(&mut self, depth: usize) -> Result<Expr, Error> {
        let first = self.parse_and(depth)?;
        if self.peek()?.tok != Tok::Or {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.tok == Tok::Or {
            self.next()?;
            items.push(self.parse_and(depth)?);
        }
        Ok(Expr::Or(items))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, Error> {
        let first = self.parse_unary(depth)?;
        if self.peek()?.tok != Tok::And {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.tok == Tok::And {
            self.next()?;
            items.push(self.parse_unary(depth)?);
        }
        Ok(Expr::And(items))
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Expr, Error> {
        let token = self.next()?;
        match token.tok {
            Tok::Not | Tok::LParen if depth >= self.max_depth => Err(Error::TooDeep {
                at: token.at,
                limit: self.max_depth,
            }),
            Tok::Not => Ok(Expr::Not(Box::new(self.parse_unary(depth + 1)?))),
            Tok::LParen => {
                let inner = self.parse_or(depth + 1)?;
                let close = self.next()?;
                match close.tok {
                    Tok::RParen => Ok(inner),
                    _ => Err(syntax(&close, "`and`, `or` or `)`")),
                }
            }
            Tok::True => Ok(Expr::True),
            Tok::False => Ok(Expr::False),
            Tok::Ident(name) => self.predicate(name, token.at),
            _ => Err(syntax(
                &token,
                "an attribute, `not`, `(`, `true` or `false`",
            )),
        }
    }

    fn predicate(&mut self, attribute: String, at: Position) -> Result<Expr, Error> {
        self.predicates += 1;
        if self.predicates > self.limits.max_predicates {
            return Err(Error::TooManyPredicates {
                at,
                limit: self.limits.max_predicates,
            });
        }
        let kind = match self.schema {
            Some(schema) => match schema.kind(&attribute) {
                Some(kind) => Some(kind),
                None => return Err(Error::UnknownAttribute { at, attribute }),
            },
            None => None,
        };
        let token = self.next()?;
        let op = match token.tok {
            Tok::In => Op::In(self.list(&attribute, kind)?),
            Tok::Not => {
                let t = self.next()?;
                if t.tok != Tok::In {
                    return Err(syntax(&t, "`in` after `not`"));
                }
                Op::NotIn(self.list(&attribute, kind)?)
            }
            Tok::All => Op::All(self.list(&attribute, kind)?),
            Tok::Eq => Op::Eq(self.value(&attribute, kind)?),
            Tok::Ne => Op::Ne(self.value(&attribute, kind)?),
            Tok::Lt => Op::Lt(self.integer(&attribute, kind)?),
            Tok::Le => Op::Le(self.integer(&attribute, kind)?),
            Tok::Gt => Op::Gt(self.integer(&attribute, kind)?),
            Tok::Ge => Op::Ge(self.integer(&attribute, kind)?),
            Tok::Between => {
                let lo = self.integer(&attribute, kind)?;
                let t = self.next()?;
                if t.tok != Tok::And {
                    return Err(syntax(&t, "`and` between the bounds of `between`"));
                }
                let hi = self.integer(&attribute, kind)?;
                Op::Between(lo, hi)
            }
            _ => {
                return Err(syntax(
                    &token,
                    "an operator (`in`, `not in`, `all`, `=`, `!=`, `<`, `<=`, `>`, `>=` or `between`)",
                ));
            }
        };
        Ok(Expr::Pred(Predicate { attribute, op }))
    }

    fn list(&mut self, attribute: &str, kind: Option<Kind>) -> Result<Vec<Value>, Error> {
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(syntax(&open, "`(` to open a list of values"));
        }
        let mut values = Vec::new();
        loop {
            if values.len() == self.limits.max_list_len {
                let at = self.peek()?.at;
                return Err(Error::ListTooLong {
                    at,
                    limit: self.limits.max_list_len,
                });
            }
            values.push(self.value(attribute, kind)?);
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(values),
                _ => return Err(syntax(&t, "`,` or `)`")),
            }
        }
    }

    fn value(&mut self, attribute: &str, kind: Option<Kind>) -> Result<Value, Error> {
        let t = self.next()?;
        let (value, found) = match t.tok {
            Tok::Int(v) => (Value::Int(v), Kind::Int),
            Tok::Str(s) => (Value::Str(s), Kind::Str),
            _ => return Err(syntax(&t, "a value (an integer or a quoted string)")),
        };
        check_kind(attribute, kind, found, t.at)?;
        Ok(value)
    }

    fn integer(&mut self, attribute: &str, kind: Option<Kind>) -> Result<i64, Error> {
        let t = self.next()?;
        match t.tok {
            Tok::Int(v) => {
                check_kind(attribute, kind, Kind::Int, t.at)?;
                Ok(v)
            }
            _ => Err(syntax(&t, "an integer")),
        }
    }
}

fn check_kind(
    attribute: &str,
    declared: Option<Kind>,
    found: Kind,
    at: Position,
) -> Result<(), Error> {
    match declared {
        Some(expected @ (Kind::Int | Kind::Str)) if expected != found => Err(Error::KindMismatch {
            at,
            attribute: attribute.to_owned(),
            expected,
            found,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Expr {
        match parse(text) {
            Ok(e) => e,
            Err(e) => panic!("{text:?} failed: {e}"),
        }
    }

    fn pred(attr: &str, op: Op) -> Expr {
        Expr::pred(attr, op)
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    #[test]
    fn every_predicate_form() {
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(
            p("a in (1, \"x\", -3)"),
            pred("a", Op::In(vec![Value::Int(1), s("x"), Value::Int(-3)]))
        );
        assert_eq!(p("a not in (1)"), pred("a", Op::NotIn(vec![Value::Int(1)])));
        assert_eq!(
            p("a all (\"p\", \"q\")"),
            pred("a", Op::All(vec![s("p"), s("q")]))
        );
        assert_eq!(p("a = 5"), pred("a", Op::Eq(Value::Int(5))));
        assert_eq!(p("a != \"5\""), pred("a", Op::Ne(s("5"))));
        assert_eq!(p("a < 1"), pred("a", Op::Lt(1)));
        assert_eq!(p("a <= -1"), pred("a", Op::Le(-1)));
        assert_eq!(p("a > 0"), pred("a", Op::Gt(0)));
        assert_eq!(p("a >= 9"), pred("a", Op::Ge(9)));
        assert_eq!(p("a between 1 and 5"), pred("a", Op::Between(1, 5)));
        assert_eq!(
            p("geo.country_2 = 1"),
            pred("geo.country_2", Op::Eq(Value::Int(1)))
        );
        assert_eq!(p("_x = 1"), pred("_x", Op::Eq(Value::Int(1))));
    }

    #[test]
    fn literals_and_keywords() {
        assert_eq!(p("true"), Expr::True);
        assert_eq!(p("FALSE"), Expr::False);
        assert_eq!(p("a NoT In (1)"), pred("a", Op::NotIn(vec![Value::Int(1)])));
        assert_eq!(
            p("a = -9223372036854775808"),
            pred("a", Op::Eq(Value::Int(i64::MIN)))
        );
        assert_eq!(
            p("a = 9223372036854775807"),
            pred("a", Op::Eq(Value::Int(i64::MAX)))
        );
        assert_eq!(
            p(r#"a = "q\"b\\""#),
            pred("a", Op::Eq(Value::Str("q\"b\\".into())))
        );
        assert_eq!(p("a = \"é\""), pred("a", Op::Eq(Value::Str("é".into()))));
    }

    #[test]
    fn precedence_not_and_or() {
        let a = pred("a", Op::Eq(Value::Int(1)));
        let b = pred("b", Op::Eq(Value::Int(1)));
        let c = pred("c", Op::Eq(Value::Int(1)));
        assert_eq!(
            p("a = 1 or b = 1 and c = 1"),
            Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            p("not a = 1 and b = 1"),
            Expr::And(vec![Expr::Not(Box::new(a.clone())), b.clone()])
        );
        assert_eq!(
            p("(a = 1 or b = 1) and c = 1"),
            Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            p("a = 1 and b = 1 and c = 1"),
            Expr::And(vec![a.clone(), b.clone(), c.clone()])
        );
        assert_eq!(
            p("not not (a = 1)"),
            Expr::Not(Box::new(Expr::Not(Box::new(a.clone()))))
        );
        assert_eq!(
            p("a between 1 and 2 and b = 1"),
            Expr::And(vec![pred("a", Op::Between(1, 2)), b])
        );
        assert_eq!(p("\n  ( a = 1 )\t"), a);
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        assert_eq!(
            err(""),
            "line 1, column 1: expected an attribute, `not`, `(`, `true` or `false`, found end of input"
        );
        assert_eq!(
            err("a in (1, 2"),
            "line 1, column 11: expected `,` or `)`, found end of input"
        );
        assert_eq!(
            err("a in ()"),
            "line 1, column 7: expected a value (an integer or a quoted string), found `)`"
        );
        assert_eq!(
            err("a in 1"),
            "line 1, column 6: expected `(` to open a list of values, found integer 1"
        );
        assert_eq!(
            err("a not (1)"),
            "line 1, column 7: expected `in` after `not`, found `(`"
        );
        assert_eq!(
            err("a == 1"),
            "line 1, column 4: expected a value (an integer or a quoted string), found `=`"
        );
        assert!(err("a 1").starts_with("line 1, column 3: expected an operator"));
        assert_eq!(
            err("a < \"x\""),
            "line 1, column 5: expected an integer, found string \"x\""
        );
        assert_eq!(
            err("a between 1 or 2"),
            "line 1, column 13: expected `and` between the bounds of `between`, found `or`"
        );
        assert_eq!(
            err("a = 1 b = 2"),
            "line 1, column 7: expected `and`, `or` or end of input, found attribute \"b\""
        );
        assert_eq!(
            err("(a = 1"),
            "line 1, column 7: expected `and`, `or` or `)`, found end of input"
        );
        assert_eq!(
            err("a = 1\n  and # = 2"),
            "line 2, column 7: expected an attribute, `not`, `(`, `true` or `false`, found character '#'"
        );
        assert_eq!(
            err("in = 1"),
            "line 1, column 1: expected an attribute, `not`, `(`, `true` or `false`, found `in`"
        );
        assert_eq!(
            err("a = - 1"),
            "line 1, column 5: expected a value (an integer or a quoted string), found character '-'"
        );
        assert_eq!(
            err("a = 1 and"),
            "line 1, column 10: expected an attribute, `not`, `(`, `true` or `false`, found end of input"
        );
    }

    #[test]
    fn literal_errors() {
        assert_eq!(
            err("a = 9223372036854775808"),
            "line 1, column 5: integer 9223372036854775808 is out of the 64-bit range"
        );
        assert_eq!(
            err("a = -9223372036854775809"),
            "line 1, column 5: integer -9223372036854775809 is out of the 64-bit range"
        );
        assert_eq!(err("a = \"abc"), "line 1, column 5: string is not closed");
        assert_eq!(
            err("a = \"a\\nb\""),
            "line 1, column 7: only \\\" and \\\\ are allowed as escapes"
        );
    }

    #[test]
    fn limits_have_their_own_errors() {
        let limits = Limits {
            max_text_bytes: 10,
            max_depth: 3,
            max_list_len: 2,
            max_predicates: 2,
        };
        let e = parse_with("a = 1 and b = 2", &limits, None).unwrap_err();
        assert_eq!(
            e,
            Error::TextTooLong {
                length: 15,
                limit: 10
            }
        );
        let limits = Limits {
            max_text_bytes: 1000,
            ..limits
        };
        let e = parse_with("((((a = 1))))", &limits, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 4: expression nests deeper than the limit of 3"
        );
        assert!(parse_with("(((a = 1)))", &limits, None).is_ok());
        let e = parse_with("not not not not a = 1", &limits, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 13: expression nests deeper than the limit of 3"
        );
        let e = parse_with("a in (1, 2, 3)", &limits, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 13: list has more than 2 values"
        );
        let e = parse_with("a = 1 or b = 1 or c = 1", &limits, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 19: expression has more than 2 predicates"
        );
    }

    #[test]
    fn hostile_nesting_does_not_overflow() {
        let deep = "(".repeat(100_000) + "a = 1" + &")".repeat(100_000);
        assert!(matches!(
            parse(&deep),
            Err(Error::TooDeep { limit: 64, .. })
        ));
        let nots = "not ".repeat(100_000) + "a = 1";
        assert!(matches!(parse(&nots), Err(Error::TooDeep { .. })));
        let huge = Limits {
            max_depth: usize::MAX,
            max_text_bytes: usize::MAX,
            ..Limits::default()
        };
        assert!(matches!(
            parse_with(&deep, &huge, None),
            Err(Error::TooDeep { limit: 256, .. })
        ));
    }

    #[test]
    fn schema_validation() {
        let schema = Schema::new()
            .with("segment", Kind::Int)
            .with("country", Kind::Str)
            .with("any", Kind::Any);
        let v = |t: &str| parse_with(t, &Limits::default(), Some(&schema));
        assert!(v("segment in (1, 2) and country = \"US\" and any in (1, \"x\")").is_ok());
        assert_eq!(
            v("segment = 1 and genre = \"x\"").unwrap_err().to_string(),
            "line 1, column 17: unknown attribute \"genre\""
        );
        assert_eq!(
            v("segment in (1, \"2\")").unwrap_err().to_string(),
            "line 1, column 16: attribute \"segment\" holds integer values, found string"
        );
        assert_eq!(
            v("country > 3").unwrap_err().to_string(),
            "line 1, column 11: attribute \"country\" holds string values, found integer"
        );
    }

    #[test]
    fn printing_round_trips() {
        for text in [
            "a = 1 or b = 2 and c = 3",
            "(a = 1 or b = 2) and c = 3",
            "not (a = 1 and b = 2)",
            "(a = 1 or b = 2) or c = 3",
            "(a = 1 and b = 2) and c = 3",
            "a between -5 and 5 and b all (\"x\\\"y\", \"\\\\\")",
            "not not true or false",
        ] {
            let e = p(text);
            let printed = e.to_string();
            assert_eq!(p(&printed), e, "{text} printed as {printed}");
        }
        assert_eq!(
            p("A   In (1,2)  AND NOT b=\"x\"").to_string(),
            "A in (1, 2) and not b = \"x\""
        );
    }
}
