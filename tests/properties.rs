//! Property tests of the pure rules, through the public API, against simple models: target
//! comparison, path and name rules, escaping. Never a panic, always the model's answer.
//! (The JSON encoding of names, which has no public constructor to test through, is
//! checked the same way in `src/report/json.rs`.) A bounded campaign:
//! `scripts/fuzz [CASES]`; the ordinary test run makes proptest's default number of cases.

use nc_harden::escape_bytes;
use nc_harden::rules::seal::{self, SealLine};
use nc_harden::rules::{
    check_disjoint, check_entry_name, check_path, link_target_matches, PATH_MAX,
};
use proptest::prelude::*;

/// Bytes that look like paths more often than random bytes would.
fn pathish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(b'/'),
            2 => Just(b'.'),
            4 => b'a'..=b'c',
            1 => any::<u8>(),
        ],
        0..40,
    )
}

/// Normalized absolute paths over a small alphabet, so that prefixes often coincide.
fn normalized() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", ".a"]), 0..4).prop_map(|cs| {
        if cs.is_empty() {
            b"/".to_vec()
        } else {
            cs.iter()
                .flat_map(|c| [b"/".as_slice(), c.as_bytes()].concat())
                .collect()
        }
    })
}

/// The path rules, written out the slow obvious way.
fn path_model(p: &[u8]) -> bool {
    if p.is_empty() || p.len() >= PATH_MAX || p.contains(&0) || p[0] != b'/' {
        return false;
    }
    p == b"/"
        || p[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b".." && c.len() <= 255)
}

/// Undoes `escape_bytes`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'x' => out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 2..i + 4]).unwrap(), 16).unwrap(),
            ),
            other => out.push(other),
        }
        i += if b[i + 1] == b'x' { 4 } else { 2 };
    }
    out
}

proptest! {
    #[test]
    fn target_comparison_is_byte_equality_with_the_one_expected_path(
        data in pathish(), name in pathish(), target in pathish(), exact in any::<bool>()
    ) {
        let expected = [data.as_slice(), b"/", name.as_slice()].concat();
        let target = if exact { expected.clone() } else { target };
        prop_assert_eq!(link_target_matches(&data, &name, &target), target == expected);
    }

    #[test]
    fn path_rules_agree_with_the_model(p in pathish()) {
        prop_assert_eq!(check_path(&p).is_ok(), path_model(&p));
    }

    #[test]
    fn disjointness_is_symmetric_and_lexical(a in normalized(), b in normalized()) {
        prop_assert!(path_model(&a) && path_model(&b));
        let inside = |x: &[u8], y: &[u8]| x == y || y == b"/" || (x.starts_with(y) && x.get(y.len()) == Some(&b'/'));
        prop_assert_eq!(check_disjoint(&a, &b).is_ok(), !inside(&a, &b) && !inside(&b, &a));
        prop_assert_eq!(check_disjoint(&a, &b).is_ok(), check_disjoint(&b, &a).is_ok());
    }

    #[test]
    fn entry_names_agree_with_the_model(n in pathish()) {
        let model = !n.is_empty() && n != b"." && n != b".." && !n.contains(&b'/') && !n.contains(&0) && n.len() <= 255;
        prop_assert_eq!(check_entry_name(&n).is_ok(), model);
    }

    #[test]
    fn escaping_is_printable_one_line_and_reversible(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let escaped = escape_bytes(&bytes);
        prop_assert!(escaped.bytes().all(|b| (0x20..0x7f).contains(&b)));
        prop_assert_eq!(unescape(&escaped), bytes);
    }

    /// A seal as nc-harden writes it reads back as written: any entry names (backslashes,
    /// newlines, carriage returns, `#` or spaces first), in any order, relative or with the
    /// directory's absolute path before them; never a line more or less.
    #[test]
    fn seals_read_back_as_written(
        files in prop::collection::btree_map(
            prop::collection::vec(
                prop_oneof![
                    3 => b'a'..=b'c',
                    1 => Just(b'\\'),
                    1 => Just(b'\n'),
                    1 => Just(b'\r'),
                    1 => Just(b'#'),
                    1 => Just(b' '),
                    1 => Just(b'*'),
                    1 => any::<u8>().prop_filter("an entry name", |b| *b != b'/' && *b != 0),
                ],
                1..12,
            ).prop_filter("an entry name", |n| check_entry_name(n).is_ok() && n != b"seal"),
            any::<[u8; 32]>(),
            1..6,
        ),
        absolute in any::<bool>(),
    ) {
        let dir = b"/sandbox/.openclaw";
        let lines: Vec<SealLine> = files
            .iter()
            .map(|(name, digest)| SealLine { digest: *digest, name: name.clone() })
            .collect();
        let text: Vec<u8> = if absolute {
            lines
                .iter()
                .flat_map(|l| seal::format_line(&l.digest, &[&dir[..], b"/", &l.name].concat()))
                .collect()
        } else {
            seal::render(&lines).expect("at most five lines fit in a seal")
        };
        prop_assert_eq!(text.iter().filter(|&&b| b == b'\n').count(), lines.len());
        let read = seal::parse(&text, dir, b"seal");
        prop_assert_eq!(read, Ok(lines));
    }
}
