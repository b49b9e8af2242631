//! The elements of a list answer, one at a time, as the answer arrives in chunks.
//!
//! LunaTask's list endpoints answer `{"tasks": [ ... ]}` with every entity the account has
//! ever had: no paging. Parsing the whole answer first would hold all of it (45 MB for
//! 100,000 tasks) and every entity in memory; this splitter holds one chunk and the element
//! being read, and hands each element's text on. Each element is then parsed (and filtered)
//! by serde on its own, so the memory a list call needs grows with what it returns, not with
//! the account.
//!
//! Written here because serde_json has no push parser for chunks: its `from_reader` pulls
//! byte by byte, and `StreamDeserializer` reads a sequence of top-level values, not the
//! elements of an array inside an object. The splitter only finds boundaries (strings,
//! escapes, nesting); serde checks each element, and the splitter checks the structure
//! around them, so a malformed answer is refused, never cut short.

/// Why an answer is not `{"<key>": [ ... ], ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("is not a JSON object ({0})")]
    NotAnObject(&'static str),
    #[error("has no `{0}` field")]
    Missing(String),
    #[error("has a `{0}` that is not a list")]
    NotAList(String),
    #[error("has `{0}` twice")]
    Twice(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// After `{` or a member's `,`: a key, or `}` right after `{`.
    Member { first: bool },
    /// Inside a key's string.
    Key,
    /// After a key: `:`.
    Colon,
    /// After `:`: the value.
    Value,
    /// Inside another member's value, skipped.
    Skip,
    /// After a member's value: `,` or `}`.
    AfterValue,
    /// After the list's `[` or an element's `,`: an element, or `]` right after `[`.
    Element { first: bool },
    /// Inside an element.
    InElement,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After the closing `}`: whitespace only.
    End,
}

/// Splits the array under `key` of a top-level object into its elements' JSON text.
pub struct Elements {
    key: String,
    state: State,
    /// The text of the key being read, or of the element being read.
    text: Vec<u8>,
    /// Brackets open inside the value being skipped or read.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// A scalar value (number, true, false, null) being skipped or read: it ends at the
    /// first delimiter, which then belongs to the next state.
    scalar: bool,
    found: bool,
}

impl Elements {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_string(),
            state: State::Start,
            text: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            found: false,
        }
    }

    /// Reads the next chunk, calling `each` with every element it completes.
    pub fn feed<E: From<ShapeError>>(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while i < chunk.len() {
            let byte = chunk[i];
            match self.state {
                State::InElement => {
                    // Copy the run up to the next byte that can matter, at once.
                    let run = self.value_run(&chunk[i..]);
                    self.text.extend_from_slice(&chunk[i..i + run]);
                    i += run;
                    if i == chunk.len() {
                        break;
                    }
                    let byte = chunk[i];
                    match self.value_byte(byte) {
                        Step::Inside => {
                            self.text.push(byte);
                            i += 1;
                        }
                        Step::Last => {
                            self.text.push(byte);
                            i += 1;
                            each(&self.text)?;
                            self.text.clear();
                            self.state = State::AfterElement;
                        }
                        Step::After => {
                            each(&self.text)?;
                            self.text.clear();
                            self.state = State::AfterElement;
                        }
                    }
                }
                State::Skip => {
                    let run = self.value_run(&chunk[i..]);
                    i += run;
                    if i == chunk.len() {
                        break;
                    }
                    match self.value_byte(chunk[i]) {
                        Step::Inside => i += 1,
                        Step::Last => {
                            i += 1;
                            self.state = State::AfterValue;
                        }
                        Step::After => self.state = State::AfterValue,
                    }
                }
                State::Key => {
                    i += 1;
                    if self.escaped {
                        self.escaped = false;
                        self.text.push(byte);
                    } else if byte == b'\\' {
                        self.escaped = true;
                        self.text.push(byte);
                    } else if byte == b'"' {
                        self.state = State::Colon;
                    } else {
                        self.text.push(byte);
                    }
                }
                _ if is_space(byte) => i += 1,
                State::Start => {
                    i += 1;
                    if byte != b'{' {
                        return Err(ShapeError::NotAnObject("it does not start with {").into());
                    }
                    self.state = State::Member { first: true };
                }
                State::Member { first } => {
                    i += 1;
                    match byte {
                        b'"' => {
                            self.text.clear();
                            self.state = State::Key;
                        }
                        b'}' if first => self.state = State::End,
                        _ => return Err(ShapeError::NotAnObject("a key was expected").into()),
                    }
                }
                State::Colon => {
                    i += 1;
                    if byte != b':' {
                        return Err(ShapeError::NotAnObject("a : was expected").into());
                    }
                    self.state = State::Value;
                }
                State::Value => {
                    if self.key_matches() {
                        if self.found {
                            return Err(ShapeError::Twice(self.key.clone()).into());
                        }
                        self.found = true;
                        if byte != b'[' {
                            return Err(ShapeError::NotAList(self.key.clone()).into());
                        }
                        i += 1;
                        self.state = State::Element { first: true };
                    } else {
                        if matches!(byte, b']' | b'}' | b',' | b':') {
                            return Err(ShapeError::NotAnObject("a value was expected").into());
                        }
                        self.start_value(byte);
                        self.state = State::Skip;
                        i += 1;
                    }
                }
                State::AfterValue => {
                    i += 1;
                    match byte {
                        b',' => self.state = State::Member { first: false },
                        b'}' => self.state = State::End,
                        _ => return Err(ShapeError::NotAnObject("a , or } was expected").into()),
                    }
                }
                State::Element { first } => {
                    if byte == b']' && first {
                        i += 1;
                        self.finish_list();
                        continue;
                    }
                    if matches!(byte, b']' | b'}' | b',' | b':') {
                        return Err(ShapeError::NotAList(self.key.clone()).into());
                    }
                    self.text.clear();
                    self.text.push(byte);
                    self.start_value(byte);
                    i += 1;
                    self.state = State::InElement;
                }
                State::AfterElement => {
                    i += 1;
                    match byte {
                        b',' => self.state = State::Element { first: false },
                        b']' => self.finish_list(),
                        _ => {
                            return Err(ShapeError::NotAList(self.key.clone()).into());
                        }
                    }
                }
                State::End => {
                    return Err(ShapeError::NotAnObject("text follows the closing }").into());
                }
            }
        }
        Ok(())
    }

    /// Checks the answer ended where a whole object ends and had the list.
    pub fn finish(&self) -> Result<(), ShapeError> {
        if self.state != State::End {
            return Err(ShapeError::NotAnObject("it ends early"));
        }
        if !self.found {
            return Err(ShapeError::Missing(self.key.clone()));
        }
        Ok(())
    }

    fn finish_list(&mut self) {
        self.state = State::AfterValue;
    }

    /// Whether the key just read is the one wanted (unescaping it only if it has escapes).
    fn key_matches(&self) -> bool {
        if !self.text.contains(&b'\\') {
            return self.text == self.key.as_bytes();
        }
        let mut quoted = Vec::with_capacity(self.text.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(&self.text);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == self.key)
    }

    /// Sets up reading a value that starts with `byte`.
    fn start_value(&mut self, byte: u8) {
        self.depth = 0;
        self.escaped = false;
        self.in_string = false;
        self.scalar = false;
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth = 1,
            _ => self.scalar = true,
        }
    }

    /// How many bytes from the start of `rest` cannot end or change the value being read:
    /// inside a string, those before a quote or backslash; elsewhere, none.
    fn value_run(&self, rest: &[u8]) -> usize {
        if self.in_string && !self.escaped {
            rest.iter()
                .position(|&b| b == b'"' || b == b'\\')
                .unwrap_or(rest.len())
        } else {
            0
        }
    }

    /// Reads one byte of a value.
    fn value_byte(&mut self, byte: u8) -> Step {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    return Step::Last;
                }
            }
            return Step::Inside;
        }
        if self.scalar {
            return if matches!(byte, b',' | b'}' | b']') || is_space(byte) {
                Step::After
            } else {
                Step::Inside
            };
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Step::Last;
                }
            }
            _ => {}
        }
        Step::Inside
    }
}

/// Where a byte stands in the value being read.
enum Step {
    /// Part of the value, which goes on.
    Inside,
    /// The value's last byte.
    Last,
    /// The first byte after a scalar value: not part of it.
    After,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// The elements `text` splits into when fed in chunks of `size`.
    fn split(text: &[u8], key: &str, size: usize) -> Result<Vec<Value>, ShapeError> {
        let mut out = Vec::new();
        let mut elements = Elements::new(key);
        for chunk in text.chunks(size.max(1)) {
            elements.feed(chunk, |e: &[u8]| {
                out.push(serde_json::from_slice(e).expect("an element is whole JSON"));
                Ok::<_, ShapeError>(())
            })?;
        }
        elements.finish()?;
        Ok(out)
    }

    #[test]
    fn elements_come_out_whole_at_every_chunk_size() {
        let answer = json!({
            "before": {"tasks": [1, 2], "s": "a]\"}b"},
            "tasks": [
                {"id": "a", "nested": {"x": [1, {"y": "}]"}]}, "e": "\\\"\u{e9}"},
                {"id": "b"}, 12, -3.5e2, "text, with ] and }", true, null, [], {}
            ],
            "after": [1, 2, 3], "n": 4
        });
        let text = serde_json::to_vec_pretty(&answer).unwrap();
        for size in [1, 2, 3, 7, 64, text.len()] {
            let got = split(&text, "tasks", size).unwrap();
            assert_eq!(Value::Array(got), answer["tasks"], "chunks of {size}");
        }
        assert_eq!(
            split(br#"{"tasks":[]}"#, "tasks", 1).unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(
            split(br#"{"ta\u0073ks":[1]}"#, "tasks", 3).unwrap(),
            vec![json!(1)]
        );
    }

    #[test]
    fn malformed_answers_are_refused_not_cut_short() {
        for (bad, why) in [
            (&br#"["tasks"]"#[..], "not a JSON object"),
            (br#"{"tasks": [1, 2]"#, "ends early"),
            (br#"{"tasks": [1, 2"#, "ends early"),
            (br#"{"other": 1}"#, "no `tasks`"),
            (br#"{"tasks": {"id": 1}}"#, "not a list"),
            (br#"{"tasks": [1] "x": 2}"#, ", or }"),
            (br#"{"tasks": [1 2]}"#, "not a list"),
            (br#"{"tasks": [1,]}"#, "not a list"),
            (br#"{"a": , "tasks": []}"#, "value was expected"),
            (br#"{"tasks": [1], "tasks": [2]}"#, "twice"),
            (br#"{"tasks": [1]} {}"#, "follows"),
            (br#""#, "ends early"),
        ] {
            let error = split(bad, "tasks", 2).unwrap_err().to_string();
            assert!(
                error.contains(why),
                "{:?}: {error}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[ -~\u{e9}\"\\\\\\]\\[{}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_list_splits_into_its_elements(
            items in prop::collection::vec(json_value(), 0..6),
            other in json_value(),
            size in 1usize..40,
            pretty: bool,
        ) {
            let answer = json!({ "a": other, "tasks": items.clone(), "z": other });
            let text = if pretty {
                serde_json::to_vec_pretty(&answer).unwrap()
            } else {
                serde_json::to_vec(&answer).unwrap()
            };
            prop_assert_eq!(split(&text, "tasks", size).unwrap(), items);
        }
    }
}
