//! Tests of `mapping::file`: the built-in mapping parses, and errors name
//! file, line and column.

use super::*;

fn err(text: &str) -> String {
    parse(Path::new("m.toml"), text).unwrap_err().to_string()
}

#[test]
fn builtin_parses() {
    let layers = Layers::load(&[]).unwrap();
    assert!(layers.files[0].1.types.contains_key("DATETIME"));
}

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let msg = err("[settings]\ntimezone = \"UTC\"\ntimezon = 1\n");
    assert!(msg.contains("m.toml"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("timezon"), "{msg}");
}

#[test]
fn semantic_errors_name_line_and_column() {
    let cases = [
        ("[types]\nFOO = { type = \"geometry\" }\n", "line 2, column 16", "geometry"),
        ("[types]\nX = { type = \"timestamp\", input = \"epoch-hours\" }\n", "line 2, column 35", "epoch-hours"),
        ("[tables.t.columns.c]\nexclude = true\nrename = \"d\"\n", "line 2, column 11", "both excluded and renamed"),
        (
            "[settings]\nboolean_true = [\"t\", \"ja\"]\nboolean_false = [\"f\", \"JA\"]\n",
            "line 3, column 17",
            "both true and false",
        ),
        ("[settings]\ntimezone = \"Mars/Olympus\"\n", "line 2, column 12", "Mars/Olympus"),
        ("[settings]\ndatetime_formats = [\"%Y-%Q\"]\n", "line 2, column 20", "strftime"),
        ("[affinity]\nSTRING = \"text\"\n", "line 2, column 1", "unknown affinity"),
        ("[types]\nVARCHAR = {}\n\"varchar\" = {}\n", "line 3, column 1", "same declared type"),
        ("[types]\nTEXT = { rename = \"x\" }\n", "line 2, column 19", "rename"),
        ("[tables.t]\nexclude = true\nrename = \"u\"\n", "line 2, column 11", "excluded"),
        ("[tables.t.columns.c]\ntype = \"text\"\ninput = \"epoch-seconds\"\n", "line 3, column 9", "not text"),
        ("[tables.t.columns.c]\ntype = \"date\"\ninput = \"json-array\"\n", "line 3, column 9", "text[] columns"),
        ("[types]\nX = { type = \"timestamp(3)\" }\n", "line 2, column 14", "fractional-seconds precision"),
    ];
    for (text, pos, what) in cases {
        let msg = err(text);
        assert!(msg.contains("m.toml") && msg.contains(pos) && msg.contains(what), "{text}\n→ {msg}");
    }
}

#[test]
fn table_defaults_and_param_keys() {
    let f = parse(
        Path::new("m.toml"),
        "[types]\n\"numeric(10, 2)\" = { type = \"numeric(12,2)\" }\n\
             [tables.t]\non_bad_value = \"reject\"\ntimezone = \"Europe/Paris\"\n\
             [tables.t.types]\nDATETIME = { input = \"epoch-milliseconds\" }\n",
    )
    .unwrap();
    assert!(f.types.contains_key("NUMERIC(10,2)"));
    let t = &f.tables["t"];
    assert_eq!(t.options.on_bad_value, Some(BadValuePolicy::Reject));
    assert!(matches!(t.options.timezone.as_ref().unwrap().value, Zone::Named(_)));
    assert!(t.types.contains_key("DATETIME"));
}
