//! XML output helpers and the CompleteMultipartUpload body parser.

use crate::error::OssError;

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\r' && c != '\t' => {
                o.push_str(&format!("&#{};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// A tiny XML writer: `w.open("A"); w.elem("B", "v"); w.close("A")`.
pub struct XmlWriter {
    pub out: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }
    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
    pub fn elem(&mut self, name: &str, value: impl AsRef<str>) {
        self.open(name);
        self.out.push_str(&escape(value.as_ref()));
        self.close(name);
    }
    pub fn finish(self) -> String {
        self.out
    }
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// OSS error document (spec §4).
pub fn error_body(e: &OssError, request_id: &str, host_id: &str) -> String {
    let mut w = XmlWriter::new();
    w.open("Error");
    w.elem("Code", &e.code);
    w.elem("Message", &e.message);
    w.elem("RequestId", request_id);
    w.elem("HostId", host_id);
    for (k, v) in &e.extra {
        w.elem(k, v);
    }
    w.elem("EC", e.ec());
    w.close("Error");
    w.finish()
}

/// One `<Part>` of a Complete body.
#[derive(Debug, PartialEq)]
pub struct CompletePart {
    pub number: u32,
    /// ETag without quotes.
    pub etag: String,
}

/// Parses `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>…`. Entities such
/// as `&quot;`/`&#34;` are resolved by the XML parser; surrounding quotes are removed.
pub fn parse_complete(body: &[u8]) -> Result<Vec<CompletePart>, OssError> {
    let text =
        std::str::from_utf8(body).map_err(|_| OssError::malformed_xml("body is not UTF-8"))?;
    let doc =
        roxmltree::Document::parse(text).map_err(|e| OssError::malformed_xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "CompleteMultipartUpload" {
        return Err(OssError::malformed_xml(format!(
            "root element is <{}>, expected <CompleteMultipartUpload>",
            root.tag_name().name()
        )));
    }
    let mut parts = Vec::new();
    for p in root.children().filter(|n| n.is_element()) {
        if p.tag_name().name() != "Part" {
            return Err(OssError::malformed_xml(format!(
                "unexpected element <{}>",
                p.tag_name().name()
            )));
        }
        let mut number = None;
        let mut etag = None;
        for c in p.children().filter(|n| n.is_element()) {
            let text: String = c
                .children()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            match c.tag_name().name() {
                "PartNumber" => {
                    number = Some(text.trim().parse::<u32>().map_err(|_| {
                        OssError::malformed_xml(format!("PartNumber {text:?} is not a number"))
                    })?)
                }
                "ETag" => etag = Some(text.trim().trim_matches('"').to_string()),
                other => {
                    return Err(OssError::malformed_xml(format!(
                        "unexpected element <{other}> in <Part>"
                    )))
                }
            }
        }
        match (number, etag) {
            (Some(number), Some(etag)) => parts.push(CompletePart { number, etag }),
            _ => {
                return Err(OssError::malformed_xml(
                    "each <Part> needs <PartNumber> and <ETag>",
                ))
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escaped_quotes() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload>
<Part><PartNumber>1</PartNumber><ETag>&quot;AA&quot;</ETag></Part>
<Part><PartNumber>2</PartNumber><ETag>&#34;BB&#34;</ETag></Part>
<Part>
<PartNumber> 3 </PartNumber>
<ETag>"CC"</ETag>
</Part>
</CompleteMultipartUpload>"#;
        let p = parse_complete(body).expect("parse");
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            CompletePart {
                number: 1,
                etag: "AA".into()
            }
        );
        assert_eq!(p[1].etag, "BB");
        assert_eq!(p[2].number, 3);
        assert_eq!(p[2].etag, "CC");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_complete(b"<nope").unwrap_err().code, "MalformedXML");
        assert_eq!(
            parse_complete(b"<Other/>").unwrap_err().code,
            "MalformedXML"
        );
        assert_eq!(
            parse_complete(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
        assert_eq!(
            parse_complete(&[0xff, 0xfe]).unwrap_err().code,
            "MalformedXML"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a<&>\"'"), "a&lt;&amp;&gt;&quot;&apos;");
    }
}
