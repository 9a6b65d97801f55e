//! A small well-formedness check for SVG documents, for tests.

use crate::error::SimError;

/// Deepest element nesting accepted (plotters output is a handful of levels deep).
const MAX_DEPTH: usize = 256;

/// Checks that `text` is a well-formed SVG document: optional XML declaration, comments
/// and whitespace, then a root `<svg …>` element that closes with `</svg>` at the very
/// end; every element opened is closed in order (or self-closed), attribute values are
/// quoted, and every `&` starts an entity reference (`&amp;`, `&#60;`, `&#x3c;`).
///
/// It is a hand check, not an XML parser: it does not resolve entities, validate names
/// against the SVG schema, or check DTDs. It is enough to catch truncated files,
/// unescaped text and mismatched tags.
///
/// # Errors
/// [`SimError::InvalidSvg`] with the byte offset of the first problem.
pub fn check_svg(text: &str) -> Result<(), SimError> {
    let bytes = text.as_bytes();
    let fail = |offset: usize, reason: &str| {
        Err(SimError::InvalidSvg {
            offset,
            reason: reason.to_string(),
        })
    };
    let mut stack: Vec<&str> = Vec::new();
    let mut seen_root = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let rest = &text[i..];
                if rest.starts_with("<!--") {
                    match rest.find("-->") {
                        Some(end) => i += end + 3,
                        None => return fail(i, "unterminated comment"),
                    }
                    continue;
                }
                if rest.starts_with("<![CDATA[") {
                    if stack.is_empty() {
                        return fail(i, "character data outside the root element");
                    }
                    match rest.find("]]>") {
                        Some(end) => i += end + 3,
                        None => return fail(i, "unterminated cdata section"),
                    }
                    continue;
                }
                if rest.starts_with("<?") {
                    if seen_root {
                        return fail(i, "processing instruction after the root element");
                    }
                    match rest.find("?>") {
                        Some(end) => i += end + 2,
                        None => return fail(i, "unterminated processing instruction"),
                    }
                    continue;
                }
                if rest.starts_with("<!") {
                    if seen_root {
                        return fail(i, "declaration after the root element starts");
                    }
                    match rest.find('>') {
                        Some(end) => i += end + 1,
                        None => return fail(i, "unterminated declaration"),
                    }
                    continue;
                }
                let closing = rest.starts_with("</");
                let name_start = i + if closing { 2 } else { 1 };
                let name_end = scan_name(bytes, name_start);
                if name_end == name_start {
                    return fail(i, "'<' not followed by an element name");
                }
                let name = &text[name_start..name_end];
                let (tag_end, self_closing) = match scan_tag_end(bytes, name_end) {
                    Ok(end) => end,
                    Err((offset, reason)) => return fail(offset, reason),
                };
                if closing {
                    if self_closing
                        || !text[name_end..tag_end]
                            .trim_end_matches('>')
                            .trim()
                            .is_empty()
                    {
                        return fail(i, "malformed closing tag");
                    }
                    match stack.pop() {
                        Some(open) if open == name => {}
                        Some(_) => return fail(i, "closing tag does not match the open element"),
                        None => return fail(i, "closing tag without an open element"),
                    }
                    if stack.is_empty() {
                        if text[tag_end..].trim().is_empty() {
                            return Ok(());
                        }
                        return fail(tag_end, "content after the root element");
                    }
                } else {
                    if stack.is_empty() {
                        if seen_root {
                            return fail(i, "second root element");
                        }
                        if name != "svg" {
                            return fail(i, "the root element is not <svg>");
                        }
                        seen_root = true;
                        if self_closing {
                            return fail(i, "the root <svg> element is empty (self-closed)");
                        }
                    }
                    if !self_closing {
                        if stack.len() >= MAX_DEPTH {
                            return fail(i, "elements nested too deeply");
                        }
                        stack.push(name);
                    }
                }
                i = tag_end;
            }
            b'&' => {
                if let Err(reason) = check_entity(&text[i..]) {
                    return fail(i, reason);
                }
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                if stack.is_empty() {
                    return fail(i, "text outside the root element");
                }
                i += 1;
            }
        }
    }
    if seen_root {
        fail(
            bytes.len(),
            "document ends before </svg> closes every element",
        )
    } else {
        fail(bytes.len(), "no <svg> root element")
    }
}

fn scan_name(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'-' | b':' | b'.'))
    {
        end += 1;
    }
    end
}

/// Scans attributes up to the tag's closing `>`; returns the index after it and whether
/// the tag was self-closing.
fn scan_tag_end(bytes: &[u8], mut i: usize) -> Result<(usize, bool), (usize, &'static str)> {
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err((i, "unterminated tag")),
            Some(b'>') => return Ok((i + 1, false)),
            Some(b'/') => {
                return if bytes.get(i + 1) == Some(&b'>') {
                    Ok((i + 2, true))
                } else {
                    Err((i, "'/' inside a tag not followed by '>'"))
                };
            }
            Some(_) => {
                let name_end = scan_name(bytes, i);
                if name_end == i {
                    return Err((i, "unexpected character inside a tag"));
                }
                i = name_end;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'=') {
                    return Err((i, "attribute without a value"));
                }
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let quote = match bytes.get(i) {
                    Some(&q @ (b'"' | b'\'')) => q,
                    _ => return Err((i, "attribute value not quoted")),
                };
                let value_start = i + 1;
                let Some(len) = bytes[value_start..].iter().position(|&b| b == quote) else {
                    return Err((i, "unterminated attribute value"));
                };
                let value = &bytes[value_start..value_start + len];
                if let Some(p) = value.iter().position(|&b| b == b'<') {
                    return Err((value_start + p, "'<' inside an attribute value"));
                }
                for (p, _) in value.iter().enumerate().filter(|(_, b)| **b == b'&') {
                    // The slice is ASCII up to '&', and entity checks read ASCII only.
                    let tail = std::str::from_utf8(&value[p..]).unwrap_or("&");
                    if check_entity(tail).is_err() {
                        return Err((
                            value_start + p,
                            "'&' in an attribute value is not an entity",
                        ));
                    }
                }
                i = value_start + len + 1;
            }
        }
    }
}

/// `text` starts with '&': accepts `&name;`, `&#digits;`, `&#xhex;`.
fn check_entity(text: &str) -> Result<(), &'static str> {
    let body = &text[1..];
    let end = body
        .find(';')
        .filter(|&e| e <= 32)
        .ok_or("'&' is not an entity reference")?;
    let entity = &body[..end];
    let ok = if let Some(hex) = entity.strip_prefix("#x") {
        !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
    } else if let Some(dec) = entity.strip_prefix('#') {
        !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit())
    } else {
        !entity.is_empty()
            && entity
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
            && entity.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    if ok {
        Ok(())
    } else {
        Err("malformed entity reference")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_documents() {
        for doc in [
            "<svg></svg>",
            "<?xml version=\"1.0\"?>\n<!-- c --><svg a=\"1\" b='2'><g><rect/></g><text>a &amp; b &#60; &#x3c;</text></svg>\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><![CDATA[ <not> & tags ]]></svg>",
        ] {
            check_svg(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
    }

    #[test]
    fn rejects_malformed_documents() {
        for doc in [
            "",
            "<html></html>",
            "<svg>",
            "<svg><g></svg>",
            "<svg></g></svg>",
            "<svg><text>a & b</text></svg>",
            "<svg a=1></svg>",
            "<svg a=\"1></svg>",
            "<svg></svg><svg></svg>",
            "<svg></svg> trailing",
            "text<svg></svg>",
            "<svg/>",
            "<svg><g a=\"x<y\"/></svg>",
            "<svg><!-- open </svg>",
            "<svg><g></g",
        ] {
            assert!(
                matches!(check_svg(doc), Err(SimError::InvalidSvg { .. })),
                "accepted {doc:?}"
            );
        }
    }

    #[test]
    fn truncated_plot_output_is_rejected() {
        let svg = crate::LineChart::new("t")
            .series("s", vec![(0.0, 1.0), (1.0, 2.0)])
            .to_svg_string()
            .unwrap();
        check_svg(&svg).unwrap();
        for cut in [svg.len() / 2, svg.len() - 3] {
            assert!(check_svg(&svg[..cut]).is_err());
        }
    }
}
