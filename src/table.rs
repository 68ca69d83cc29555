//! The contract's tables (statuses, reasons, actions, entry kinds, strategies, layers, seal
//! results, postures, option flags, operations, shields flags and verbs), each defined once with [`contract_table!`]: from that one
//! definition come the Rust enum, `all()`, the numbers, the names (`name()`, and `c_name()`
//! for the C ABI's `nc_*_name` calls), and the C header's text of the table ([`CTable`],
//! which `tests/header.rs` writes into `include/nc_harden.h`; cbindgen does not expand
//! macros). Adding a status, a reason or a flag is one line in its table.

#![forbid(unsafe_code)]

/// How a table appears in the C header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CForm {
    /// `enum nc_x : uint32_t { ... }` and `typedef ... nc_x`, as cbindgen writes a
    /// `repr(u32)` enum: a type of its own (statuses, actions, reasons, ...).
    Enum(&'static str),
    /// One `#define` per entry: bits or values carried in a `uint32_t` (layers, flags).
    Defines,
}

/// One entry of a table as the C header spells it.
#[derive(Clone, Copy, Debug)]
pub struct CEntry {
    pub c_name: &'static str,
    pub code: u32,
    /// The entry's doc comment, one line per source line ("" for none).
    pub doc: &'static str,
}

/// A table as the C header spells it.
#[derive(Clone, Copy, Debug)]
pub struct CTable {
    pub form: CForm,
    /// The table's doc comment (the type's, for `CForm::Enum`).
    pub doc: &'static str,
    pub entries: &'static [CEntry],
}

/// Every table of the contract, in the header's order.
pub fn c_tables() -> [CTable; 12] {
    use crate::capi::shields::ShieldsFlag;
    use crate::capi::Flag;
    use crate::capi::Posture;
    use crate::inode::FileKind;
    use crate::report::{Action, Layer, Operation, SealResult};
    use crate::rules::Reason;
    use crate::shields::Verb;
    use crate::status::Status;
    use crate::Strategy;
    [
        Layer::C_TABLE,
        Flag::C_TABLE,
        Posture::C_TABLE,
        ShieldsFlag::C_TABLE,
        Status::C_TABLE,
        Action::C_TABLE,
        FileKind::C_TABLE,
        Reason::C_TABLE,
        Strategy::C_TABLE,
        SealResult::C_TABLE,
        Operation::C_TABLE,
        Verb::C_TABLE,
    ]
}

/// The C header's text of `table`, in the layout cbindgen gives a `repr(u32)` enum (or a
/// constant) with `documentation_style = "c"`.
pub fn render_c(table: &CTable) -> String {
    fn comment(out: &mut String, doc: &str, indent: &str) {
        if doc.is_empty() {
            return;
        }
        out.push_str(indent);
        out.push_str("/*\n");
        for line in doc.lines() {
            out.push_str(indent);
            out.push(' ');
            out.push_str(line.strip_prefix(' ').unwrap_or(line));
            out.push('\n');
        }
        out.push_str(indent);
        out.push_str(" */\n");
    }
    let mut out = String::new();
    match table.form {
        CForm::Defines => {
            for entry in table.entries {
                comment(&mut out, entry.doc, "");
                out.push_str(&format!("#define {} {}\n\n", entry.c_name, entry.code));
            }
        }
        CForm::Enum(c_type) => {
            comment(&mut out, table.doc, "");
            out.push_str(&format!("enum {c_type}\n"));
            out.push_str("#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L\n");
            out.push_str("  : uint32_t\n");
            out.push_str("#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L\n");
            out.push_str(" {\n");
            for entry in table.entries {
                comment(&mut out, entry.doc, "  ");
                out.push_str(&format!("  {} = {},\n", entry.c_name, entry.code));
            }
            out.push_str("};\n");
            out.push_str("#ifndef __cplusplus\n");
            out.push_str("#if __STDC_VERSION__ >= 202311L\n");
            out.push_str(&format!("typedef enum {c_type} {c_type};\n"));
            out.push_str("#else\n");
            out.push_str(&format!("typedef uint32_t {c_type};\n"));
            out.push_str("#endif // __STDC_VERSION__ >= 202311L\n");
            out.push_str("#endif // __cplusplus\n\n");
        }
    }
    out
}

/// The name of an entry: its own when the table gives one, else its C name.
#[doc(hidden)]
#[macro_export]
macro_rules! __table_name {
    ($c:ident) => {
        stringify!($c)
    };
    ($c:ident $name:literal) => {
        $name
    };
}

/// One table of the contract, defined once:
///
/// ```text
/// contract_table! {
///     /// Doc of the type.
///     pub enum Status in C enum nc_status, derive(Hash) {
///         /// Doc of the entry.
///         Ok = 0 => NC_OK,
///         Frozen = 1 => NC_ACTION_FROZEN "frozen",
///     }
/// }
/// ```
///
/// gives the `repr(u32)` enum (Clone, Copy, Debug, PartialEq, Eq and the derives listed), and
/// `all()`, `code()`, `from_code()`, `name()` (the string after the C name, or the C name),
/// `c_ident()`, `c_name()` (NUL-terminated) and `C_TABLE`. `in C defines` instead of
/// `in C enum nc_x` writes the entries as `#define`s.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_table {
    (
        $(#[doc = $tdoc:literal])*
        $vis:vis enum $T:ident in C $form:ident $($c_type:ident)? $(, derive($($d:path),*))? {
            $(
                $(#[doc = $doc:literal])*
                $v:ident = $code:literal => $c:ident $($name:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $tdoc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq $($(, $d)*)?)]
        #[repr(u32)]
        $vis enum $T {
            $(
                $(#[doc = $doc])*
                $v = $code,
            )*
        }

        #[allow(dead_code)]
        impl $T {
            /// Every entry, in the contract's order.
            pub const fn all() -> [$T; { [$(stringify!($v)),*].len() }] {
                [$($T::$v),*]
            }

            /// The entry's number in the C ABI.
            pub const fn code(self) -> u32 {
                self as u32
            }

            pub fn from_code(code: u32) -> Option<$T> {
                $T::all().into_iter().find(|e| e.code() == code)
            }

            /// The contract's name of the entry.
            pub const fn name(self) -> &'static str {
                match self {
                    $($T::$v => $crate::__table_name!($c $($name)?),)*
                }
            }

            /// The C header's name of the entry, e.g. `"NC_OK"`.
            pub const fn c_ident(self) -> &'static str {
                match self {
                    $($T::$v => stringify!($c),)*
                }
            }

            /// The C header's name, NUL-terminated for the C ABI.
            pub const fn c_name(self) -> &'static ::std::ffi::CStr {
                match self {
                    $($T::$v => {
                        const C: &::std::ffi::CStr = match ::std::ffi::CStr::from_bytes_with_nul(
                            concat!(stringify!($c), "\0").as_bytes(),
                        ) {
                            Ok(c) => c,
                            Err(_) => panic!("a C name has no NUL"),
                        };
                        C
                    })*
                }
            }

            $(
                /// The entry under its C header name (`nc_status::NC_OK` in Rust callers).
                pub const $c: $T = $T::$v;
            )*

            /// The table as the C header spells it.
            pub const C_TABLE: $crate::table::CTable = $crate::table::CTable {
                form: $crate::__table_form!($form $($c_type)?),
                doc: concat!($($tdoc, "\n",)*),
                entries: &[$(
                    $crate::table::CEntry {
                        c_name: stringify!($c),
                        code: $code,
                        doc: concat!($($doc, "\n",)*),
                    },
                )*],
            };
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __table_form {
    (enum $c_type:ident) => {
        $crate::table::CForm::Enum(stringify!($c_type))
    };
    (defines) => {
        $crate::table::CForm::Defines
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_c_names_are_unique_in_each_table() {
        for table in c_tables() {
            for (i, a) in table.entries.iter().enumerate() {
                for b in &table.entries[i + 1..] {
                    assert_ne!(a.code, b.code, "{} and {}", a.c_name, b.c_name);
                    assert_ne!(a.c_name, b.c_name);
                }
            }
        }
    }
}
