//! Which functions are read-only built-ins: functions of the database itself that compute a
//! value from their arguments (or read the clock, the session, a sequence's next value) and
//! change no data. A call of any other function may run code the analyzer cannot see —
//! a user-defined function can write to any table — so `calls-unknown-function` warns of it.
//!
//! The lists are per dialect, matched on the function's own name case-insensitively; a name
//! qualified with a schema other than the built-ins' own (`pg_catalog`, `sys`,
//! `information_schema`) is never a built-in. The generic dialect accepts the built-ins of
//! every dialect. The lists are deliberately the common functions only: a missing built-in
//! costs a warning a reviewer can dismiss, a user function taken for a built-in would hide a
//! write.

use std::collections::HashSet;
use std::sync::OnceLock;

use sqlparser::ast::{ObjectName, ObjectNamePart};

use crate::Dialect;

/// Built-ins of every dialect: aggregates, window functions, strings, numbers, nulls, dates.
const COMMON: &[&str] = &[
    // Aggregates and window functions.
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // Strings.
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "concat",
    "concat_ws",
    "substring",
    "substr",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "position",
    "left",
    "right",
    "lpad",
    "rpad",
    "repeat",
    "reverse",
    "ascii",
    "char",
    "chr",
    "md5",
    "hex",
    "format",
    "translate",
    "regexp_replace",
    "regexp_substr",
    "regexp_like",
    "instr",
    // Numbers.
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "trunc",
    "mod",
    "power",
    "pow",
    "sqrt",
    "exp",
    "ln",
    "log",
    "log10",
    "sign",
    "greatest",
    "least",
    "random",
    "pi",
    // Nulls and conditions.
    "coalesce",
    "nullif",
    "ifnull",
    "iif",
    "if",
    // Dates and times.
    "now",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "date",
    "time",
    "extract",
    // Types and the session.
    "cast",
    "current_user",
    "session_user",
    "user",
];

/// Statistical and bitwise aggregates of PostgreSQL and MySQL alike.
const STATISTICS: &[&str] = &[
    "bit_and",
    "bit_or",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
];

const POSTGRES: &[&str] = &[
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bool_and",
    "bool_or",
    "every",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "btrim",
    "strpos",
    "split_part",
    "initcap",
    "starts_with",
    "encode",
    "decode",
    "to_char",
    "to_number",
    "to_date",
    "to_timestamp",
    "regexp_match",
    "regexp_matches",
    "regexp_split_to_array",
    "regexp_split_to_table",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "sha256",
    "sha512",
    "gen_random_uuid",
    "uuid_generate_v4",
    "div",
    "width_bucket",
    "date_trunc",
    "date_part",
    "date_bin",
    "age",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "to_json",
    "to_jsonb",
    "row_to_json",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "json_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "json_array_length",
    "jsonb_array_length",
    "json_typeof",
    "jsonb_typeof",
    "jsonb_set",
    "jsonb_insert",
    "jsonb_strip_nulls",
    "jsonb_pretty",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_each",
    "jsonb_each",
    "json_object_keys",
    "jsonb_object_keys",
    "array_length",
    "array_lower",
    "array_upper",
    "array_position",
    "array_positions",
    "array_remove",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_to_string",
    "string_to_array",
    "cardinality",
    "unnest",
    "generate_series",
    "generate_subscripts",
    "nextval",
    "currval",
    "lastval",
    "current_schema",
    "current_database",
    "current_setting",
    "version",
    "pg_typeof",
    "num_nulls",
    "num_nonnulls",
    // Information about the session, the server and the catalog.
    "pg_backend_pid",
    "txid_current",
    "pg_current_xact_id",
    "inet_server_addr",
    "inet_client_addr",
    "pg_postmaster_start_time",
    "pg_is_in_recovery",
    "pg_size_pretty",
    "pg_column_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_total_relation_size",
    "pg_database_size",
    "to_regclass",
    "format_type",
    "obj_description",
    "col_description",
    "pg_get_userbyid",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_viewdef",
    "has_table_privilege",
    "has_schema_privilege",
];

/// JSON functions of MySQL and SQLite alike.
const JSON: &[&str] = &[
    "json_extract",
    "json_object",
    "json_array",
    "json_set",
    "json_insert",
    "json_replace",
    "json_remove",
    "json_type",
    "json_valid",
];

const MYSQL: &[&str] = &[
    "group_concat",
    "json_arrayagg",
    "json_objectagg",
    "bit_xor",
    "std",
    "locate",
    "mid",
    "space",
    "field",
    "find_in_set",
    "elt",
    "lcase",
    "ucase",
    "strcmp",
    "unhex",
    "sha",
    "sha1",
    "sha2",
    "crc32",
    "to_base64",
    "from_base64",
    "uuid",
    "uuid_short",
    "uuid_to_bin",
    "bin_to_uuid",
    "rand",
    "truncate",
    "conv",
    "isnull",
    "convert",
    "curdate",
    "curtime",
    "sysdate",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "unix_timestamp",
    "from_unixtime",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "addtime",
    "subtime",
    "datediff",
    "timediff",
    "timestampdiff",
    "timestampadd",
    "date_format",
    "time_format",
    "str_to_date",
    "makedate",
    "maketime",
    "last_day",
    "year",
    "month",
    "monthname",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "hour",
    "minute",
    "second",
    "week",
    "weekday",
    "weekofyear",
    "quarter",
    "yearweek",
    "to_days",
    "from_days",
    "convert_tz",
    "timestamp",
    "json_unquote",
    "json_contains",
    "json_contains_path",
    "json_length",
    "json_keys",
    "json_value",
    "json_search",
    "values",
    "last_insert_id",
    "row_count",
    "found_rows",
    "database",
    "schema",
    "version",
    "connection_id",
    "inet_aton",
    "inet_ntoa",
];

const SQLITE: &[&str] = &[
    "group_concat",
    "string_agg",
    "total",
    "printf",
    "quote",
    "glob",
    "like",
    "likelihood",
    "likely",
    "unlikely",
    "typeof",
    "unicode",
    "zeroblob",
    "randomblob",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "json",
    "json_group_array",
    "json_group_object",
    "json_each",
    "json_tree",
    "changes",
    "total_changes",
    "last_insert_rowid",
    "sqlite_version",
];

/// Schemas that hold built-ins: a name qualified with one of them may still be one.
const BUILTIN_SCHEMAS: &[&str] = &["pg_catalog", "sys", "information_schema"];

/// Whether `name` is a read-only built-in of `dialect`.
pub(crate) fn is_read_only_builtin(name: &ObjectName, dialect: Dialect) -> bool {
    use ObjectNamePart::Identifier as Id;
    let function = match name.0.as_slice() {
        [Id(function)] => function,
        [Id(schema), Id(function)]
            if BUILTIN_SCHEMAS
                .iter()
                .any(|s| schema.value.eq_ignore_ascii_case(s)) =>
        {
            function
        }
        _ => return false,
    };
    let lower = function.value.to_ascii_lowercase();
    builtins(dialect).contains(lower.as_str())
}

/// The built-ins of `dialect`, gathered into a set on first use.
fn builtins(dialect: Dialect) -> &'static HashSet<&'static str> {
    static SETS: [OnceLock<HashSet<&'static str>>; 4] = [const { OnceLock::new() }; 4];
    let (slot, lists): (usize, &[&[&str]]) = match dialect {
        Dialect::Postgres => (0, &[COMMON, STATISTICS, POSTGRES]),
        Dialect::Mysql => (1, &[COMMON, STATISTICS, JSON, MYSQL]),
        Dialect::Sqlite => (2, &[COMMON, JSON, SQLITE]),
        Dialect::Generic => (3, &[COMMON, STATISTICS, JSON, POSTGRES, MYSQL, SQLITE]),
    };
    SETS[slot].get_or_init(|| lists.iter().flat_map(|list| list.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Ident;

    fn name(parts: &[&str]) -> ObjectName {
        ObjectName::from(parts.iter().map(|p| Ident::new(*p)).collect::<Vec<_>>())
    }

    #[test]
    fn common_builtins_are_known_everywhere() {
        for dialect in Dialect::ALL {
            for f in [
                "count", "COALESCE", "now", "Lower", "upper", "length", "concat",
            ] {
                assert!(is_read_only_builtin(&name(&[f]), dialect), "{f} {dialect}");
            }
        }
    }

    #[test]
    fn dialect_builtins_are_known_on_their_dialect_and_generic() {
        assert!(is_read_only_builtin(
            &name(&["date_trunc"]),
            Dialect::Postgres
        ));
        assert!(!is_read_only_builtin(
            &name(&["date_trunc"]),
            Dialect::Mysql
        ));
        assert!(is_read_only_builtin(
            &name(&["date_format"]),
            Dialect::Mysql
        ));
        assert!(is_read_only_builtin(
            &name(&["date_format"]),
            Dialect::Generic
        ));
        assert!(is_read_only_builtin(&name(&["strftime"]), Dialect::Sqlite));
    }

    #[test]
    fn no_dangerous_function_is_a_builtin() {
        for list in [COMMON, STATISTICS, JSON, POSTGRES, MYSQL, SQLITE] {
            for f in list {
                let dangerous = crate::rules::dangerous_function::is_dangerous(&name(&[f]));
                assert!(!dangerous, "{f}");
            }
        }
        assert!(is_read_only_builtin(
            &name(&["pg_backend_pid"]),
            Dialect::Postgres
        ));
    }

    #[test]
    fn user_functions_and_other_schemas_are_not_builtins() {
        assert!(!is_read_only_builtin(
            &name(&["archive_old"]),
            Dialect::Postgres
        ));
        assert!(is_read_only_builtin(
            &name(&["pg_catalog", "lower"]),
            Dialect::Postgres
        ));
        assert!(!is_read_only_builtin(
            &name(&["app", "lower"]),
            Dialect::Postgres
        ));
        assert!(!is_read_only_builtin(
            &name(&["a", "b", "lower"]),
            Dialect::Postgres
        ));
    }
}
