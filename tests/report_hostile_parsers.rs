#![cfg(feature = "real-peers")]
//! The hostile report page (see report_hostile.rs) read by an independent HTML parser:
//! Python's `html.parser`, which tokenizes like a browser (character references, raw-text
//! elements, attribute quoting). The page with hostile values in every text field must give
//! the same start tags with the same attribute names as the page with harmless values, its
//! text must show every value in visible form, and no hidden character may be in its text.
//! Fails when python3 is missing.

mod report_hostile_support;

use std::process::Command;

use report_hostile_support::*;

/// Prints one JSON object: the start tags (name and attribute names, in order) and the text.
const PARSER: &str = r#"
import html.parser, json, sys
class Scan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.protocols = [], [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append([tag] + [name for name, _ in attrs])
        self.protocols += [v for n, v in attrs if n == "data-protocol"]
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
    def handle_data(self, data):
        self.text.append(data)
    def handle_comment(self, data):
        self.tags.append(["<!--"])
    def unknown_decl(self, data):
        self.tags.append(["<![" + data[:8]])
scan = Scan()
scan.feed(open(sys.argv[1], encoding="utf-8").read())
scan.close()
print(json.dumps({"tags": scan.tags, "text": "".join(scan.text), "protocols": scan.protocols}))
"#;

fn parse(page: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.html");
    std::fs::write(&path, page).unwrap();
    let out = Command::new("python3")
        .args(["-c", PARSER])
        .arg(&path)
        .output()
        .expect("python3 is missing: apt-get install python3");
    assert!(
        out.status.success(),
        "html.parser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_html_parser_finds_no_injected_element_or_attribute() {
    let values = hostile_values();
    let hostile = parse(&sealgate::report::html(&report_with(&values, "2025-10")));
    let harmless = parse(&sealgate::report::html(&report_with(
        &harmless_values(values.len()),
        "2025-10",
    )));
    let tags = hostile["tags"].as_array().unwrap();
    assert!(tags.len() > 1000, "only {} start tags", tags.len());
    assert_eq!(hostile["tags"], harmless["tags"], "the markup differs");
    for tag in tags {
        let name = tag[0].as_str().unwrap();
        assert!(PAGE_TAGS.contains(&name), "unexpected element <{name}>");
    }
    let text = hostile["text"].as_str().unwrap();
    assert_no_hidden_characters(text, "the parsed text");
    for value in &values {
        let shown = sealgate::markup::visible(value);
        assert!(text.contains(shown.as_ref()), "{value:?} does not show");
    }
    // The protocol attribute keeps the id. A control character is written as a reference,
    // which HTML cannot always carry back (NUL reads as U+FFFD, C1 as Windows-1252) and
    // html.parser drops: those may differ, nothing else.
    let protocols = hostile["protocols"].as_array().unwrap();
    assert_eq!(protocols.len(), values.len());
    let inexact: Vec<(&String, &serde_json::Value)> = values
        .iter()
        .zip(protocols)
        .filter(|(v, p)| p.as_str() != Some(v.as_str()))
        .collect();
    for (value, read) in &inexact {
        assert!(
            value.chars().any(char::is_control),
            "data-protocol {value:?} read as {read}"
        );
    }
    let exact = values.len() - inexact.len();
    eprintln!(
        "html.parser: {} start tags equal to the harmless page's, {exact}/{} protocol ids exact",
        tags.len(),
        values.len()
    );
}
