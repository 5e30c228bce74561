//! A small glob matcher for `include`/`exclude`: `*` (any run of characters within one path segment),
//! `**` (any number of whole segments), `?` (one character, not `/`), `[abc]`, `[a-z]`, `[!a]`.
//! A pattern without `/` matches a file's name at any depth (`*.log`); one with `/` matches the path
//! relative to the folder (`assets/**/*.png`), always with `/` separators.

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The pattern has no `/`: it is matched against the file name only.
    name_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    Any,
    Star,
    /// `**/` (or a trailing `/**`, or `**` alone): any number of segments.
    Segments,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, Error> {
        let bad = |why: &str| Error::invalid(format!("invalid glob {pattern:?}: {why}"));
        if pattern.is_empty() {
            return Err(bad("it is empty"));
        }
        let trimmed = pattern.trim_start_matches("./");
        let chars: Vec<char> = trimmed.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    let at_start = i == 0 || chars[i - 1] == '/';
                    let next = chars.get(i + 2);
                    if at_start && (next == Some(&'/') || next.is_none()) {
                        tokens.push(Token::Segments);
                        i += if next.is_some() { 3 } else { 2 };
                    } else {
                        tokens.push(Token::Star);
                        i += 2;
                    }
                }
                '*' => {
                    tokens.push(Token::Star);
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => {
                    let mut j = i + 1;
                    let negated = matches!(chars.get(j), Some('!') | Some('^'));
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = chars.get(j) else {
                            return Err(bad("a `[` has no closing `]`"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.get(j + 1) == Some(&'-')
                            && chars.get(j + 2).is_some_and(|&e| e != ']')
                        {
                            ranges.push((c, chars[j + 2]));
                            j += 3;
                        } else {
                            ranges.push((c, c));
                            j += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                    i = j + 1;
                }
                '\\' if i + 1 < chars.len() => {
                    tokens.push(Token::Char(chars[i + 1]));
                    i += 2;
                }
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Ok(Glob {
            name_only: !trimmed.contains('/'),
            tokens,
        })
    }

    /// Whether `rel` (a relative path with `/` separators) matches.
    pub fn matches(&self, rel: &str) -> bool {
        let subject = if self.name_only {
            rel.rsplit('/').next().unwrap_or(rel)
        } else {
            rel
        };
        let chars: Vec<char> = subject.chars().collect();
        matches_at(&self.tokens, &chars)
    }
}

fn matches_at(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Char(c) => s.first() == Some(c) && matches_at(rest, &s[1..]),
        Token::Any => s.first().is_some_and(|&c| c != '/') && matches_at(rest, &s[1..]),
        Token::Class { negated, ranges } => match s.first() {
            Some(&c) if c != '/' => {
                let inside = ranges.iter().any(|&(a, b)| a <= c && c <= b);
                inside != *negated && matches_at(rest, &s[1..])
            }
            _ => false,
        },
        Token::Star => {
            // Any run of non-`/` characters.
            let mut k = 0;
            loop {
                if matches_at(rest, &s[k..]) {
                    return true;
                }
                if k >= s.len() || s[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Token::Segments => {
            // Zero or more whole segments: try here, then after each `/`.
            if matches_at(rest, s) {
                return true;
            }
            for (k, &c) in s.iter().enumerate() {
                if c == '/' && matches_at(rest, &s[k + 1..]) {
                    return true;
                }
            }
            // A trailing `**` matches everything below.
            rest.is_empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).expect("valid").matches(s)
    }

    #[test]
    fn names_and_paths() {
        assert!(m("*.log", "a/b/c.log"));
        assert!(!m("*.log", "a/b/c.log.gz"));
        assert!(m("a/*.txt", "a/x.txt"));
        assert!(!m("a/*.txt", "a/b/x.txt"));
        assert!(m("a/**/*.txt", "a/x.txt"));
        assert!(m("a/**/*.txt", "a/b/c/x.txt"));
        assert!(m("**/node_modules/**", "x/node_modules/y/z.js"));
        assert!(m("node_modules/**", "node_modules/y/z.js"));
        assert!(!m("node_modules/**", "src/node_modules.js"));
        assert!(m("file?.[ch]", "dir/file1.c"));
        assert!(!m("file?.[!ch]", "file1.c"));
        assert!(m("[a-c]*", "beta"));
        assert!(m("日本*", "x/日本語.txt"));
        assert!(m("with space.txt", "d/with space.txt"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Glob::new("").is_err());
        assert!(Glob::new("[abc").is_err());
    }
}
