//! `--report-html FILE`: one self-contained page for the people who approve a
//! cutover (issue 14, point 5). It is rendered from the same JSON document as
//! `--json` (the run's `Report`, or `plan`'s report), so the page cannot say
//! something the machine-readable report does not.
//!
//! Self-contained on purpose: inline CSS and SVG, no fonts, scripts or images
//! from the network, a print stylesheet, so it can be attached to a change
//! ticket and printed. The one inline script only marks the page as rendered
//! (`data-ok`, `data-sections` on `<body>`) and records script errors
//! (`data-errors` on `<html>`): the browser test reads those from the DOM.

use std::fmt::Write;

use serde_json::Value;

/// Which document the page is drawn from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ferry plan --json`'s document.
    Plan,
    /// A `Report` of `migrate` or `verify` (`--json`'s document).
    Run,
    /// A `Report` of a run that stopped with an error (`error`, and
    /// `stopped`: the state it left in the target and what to do next).
    Failed,
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#111;padding:0 1em}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;border-bottom:1px solid #bbb;margin-top:1.6em}
.verdict{border:2px solid;padding:.8em 1em;border-radius:6px}
.verdict.ok{border-color:#2a7d2a;background:#eef8ee}.verdict.warn{border-color:#b07800;background:#fff7e0}
.verdict.bad{border-color:#b02020;background:#fdeeee}
.verdict .what{font-size:1.25em;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
.st-equal,.st-count_equal{color:#2a7d2a}.st-count_differs,.st-content_differs{color:#b02020;font-weight:600}
ul.samples{margin:.2em 0 .2em 1.2em;padding:0}.muted{color:#666}
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}tr,li,.verdict{break-inside:avoid}
 .verdict{border-width:3px}svg{max-width:100%}a{color:inherit;text-decoration:none}}
";

/// The page for `doc`; `compare` is a `ferry plan --json` document of the
/// rehearsal, drawn as estimate against this run per table.
pub fn render(kind: Kind, doc: &Value, compare: Option<&Value>) -> String {
    let command = match kind {
        Kind::Plan => "plan",
        _ => doc["command"].as_str().unwrap_or("run"),
    };
    let source = doc["source"].as_str().unwrap_or("");
    let exit = doc["exit_code"].as_u64().unwrap_or(2);
    let mut body = String::new();
    verdict(&mut body, kind, command, exit, doc);
    match kind {
        Kind::Plan => plan_tables(&mut body, doc),
        Kind::Run => run_tables(&mut body, doc),
        Kind::Failed => stopped_state(&mut body, doc),
    }
    decisions(&mut body, kind, doc);
    problems(&mut body, kind, doc);
    // verify loads nothing: its timeline would be empty.
    if kind == Kind::Run && command == "migrate" {
        timeline(&mut body, doc);
    }
    if let Some(plan) = compare {
        comparison(&mut body, doc, plan);
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>ferry {cmd}: {src}</title>\n<style>{STYLE}</style>\n\
         <script>window.onerror=function(m){{var d=document.documentElement.dataset;d.errors=(d.errors||'')+m+'\\n'}};</script>\n\
         </head><body>\n<h1>ferry {cmd} <span class=\"muted\">{src}</span></h1>\n\
         <p class=\"muted\">{version}</p>\n{body}\n\
         <script>(function(){{var s=[].map.call(document.querySelectorAll('section[data-section]'),function(e){{return e.dataset.section}});\
         document.body.dataset.sections=s.join(' ');document.body.dataset.ok='1'}})();</script>\n</body></html>\n",
        cmd = esc(command),
        src = esc(source),
        version = esc(env!("FERRY_VERSION")),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn section(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        "<section data-section=\"{id}\"><h2>{}</h2>\n",
        esc(title)
    );
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut i) = (b, 0);
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// What happened, the exit code, and what to do next: the first thing read.
fn verdict(out: &mut String, kind: Kind, command: &str, exit: u64, doc: &Value) {
    let (class, what, next) = match (kind, exit) {
        (Kind::Plan, 0) => (
            "ok",
            "The rehearsal found no problem: the real run would succeed.".to_string(),
            "Run the same command as `ferry migrate` in the window.",
        ),
        (Kind::Plan, _) => (
            "bad",
            "The rehearsal found problems: the real run would not succeed as planned.".to_string(),
            "Fix the rows listed under Problems in SQLite, or add a mapping rule / on_bad_value, then rehearse again.",
        ),
        (Kind::Failed, 130) => (
            "bad",
            "Interrupted.".to_string(),
            "Run the same `ferry migrate` again with --resume: committed tables stay, the rest is loaded, every table verified.",
        ),
        (Kind::Failed, _) => (
            "bad",
            format!("ferry {command} stopped without finishing."),
            "Read the error below, fix its cause, then run the same command again (`--resume` keeps committed tables).",
        ),
        (Kind::Run, 0) if command == "verify" => (
            "ok",
            "Source and target are equal: every table's count and content hash match.".to_string(),
            "Nothing to do.",
        ),
        (Kind::Run, 0) => (
            "ok",
            "Migrated: every table loaded and verified (row counts and content hashes equal)."
                .to_string(),
            "Point the application at PostgreSQL.",
        ),
        (Kind::Run, 1) if command == "verify" => (
            "bad",
            "Source and target differ.".to_string(),
            "See Problems for the rows that differ, by key; reload with `ferry migrate … --resume` or fix the target.",
        ),
        (Kind::Run, 1) => (
            "warn",
            "Loaded, but not everything is equal: rows were rejected or a table did not verify."
                .to_string(),
            "See Problems; rejected rows are in the reject file, ready to be fixed and loaded again.",
        ),
        (Kind::Run, _) => (
            "bad",
            format!("ferry {command} ended with exit code {exit}."),
            "See the notes and problems below.",
        ),
    };
    // A stop knows the exact command that finishes or undoes it.
    let next = match (kind, doc["stopped"]["next"].as_str()) {
        (Kind::Failed, Some(n)) => n,
        _ => next,
    };
    section(out, "verdict", "Verdict");
    let _ = write!(
        out,
        "<div class=\"verdict {class}\"><div class=\"what\">{}</div><p>Exit code <b>{exit}</b>{}</p><p><b>Next:</b> {}</p>",
        esc(&what),
        doc["seconds"]
            .as_f64()
            .map(|s| format!(", {s:.2} s in all"))
            .unwrap_or_default(),
        esc(next)
    );
    if let Some(err) = doc["error"].as_str() {
        let _ = write!(out, "<pre class=\"error\">{}</pre>", esc(err));
    }
    out.push_str("</div></section>\n");
}

fn run_tables(out: &mut String, doc: &Value) {
    section(out, "tables", "Tables");
    out.push_str(
        "<table><tr><th>table</th><th>target</th><th>rows (source / target)</th><th>bytes</th><th>time</th>\
         <th>rate</th><th>content hash</th><th>verification</th><th>bad values</th></tr>\n",
    );
    for t in doc["tables"].as_array().into_iter().flatten() {
        let status = t["status"].as_str().unwrap_or("?");
        let bad = format!(
            "{} rejected, {} nulled, {} altered, {} rounded",
            t["rejected"], t["nulled"], t["altered"], t["rounded"]
        );
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td><td class=\"n\">{:.2} s</td>\
             <td class=\"n\">{:.0} rows/s</td><td class=\"hash\">{}</td><td class=\"st-{status}\">{}</td><td>{}</td></tr>\n",
            esc(t["table"].as_str().unwrap_or("")),
            esc(t["target"].as_str().unwrap_or("")),
            t["source_rows"],
            t["target_rows"],
            bytes(num(&t["bytes"])),
            num(&t["seconds"]),
            num(&t["rows_per_second"]),
            esc(t["hash"].as_str().unwrap_or("—")),
            esc(&status.replace('_', " ")),
            esc(&bad)
        );
    }
    out.push_str("</table></section>\n");
}

/// What a stopped run left in the target (`stopped`): the tables committed
/// with their rows, the tables left empty, how the keys came back, which
/// sequences moved.
fn stopped_state(out: &mut String, doc: &Value) {
    let s = &doc["stopped"];
    if s.is_null() {
        return;
    }
    section(out, "state", "State of the target");
    if s["unchanged"].as_bool() == Some(true) {
        out.push_str("<p>Unchanged: this run wrote nothing to the target.</p></section>\n");
        return;
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(esc)
            .collect()
    };
    let none = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let committed: Vec<String> = s["committed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} ({} rows)",
                esc(c["target"].as_str().unwrap_or("")),
                c["rows"]
            )
        })
        .collect();
    let _ = write!(
        out,
        "<table><tr><th>committed, complete</th><td>{}</td></tr>\n         <tr><th>empty (rolled back or not started)</th><td>{}</td></tr>\n         <tr><th>keys</th><td>{}</td></tr>\n         <tr><th>sequences moved past the rows of</th><td>{}</td></tr></table>\n",
        none(committed),
        none(strings(&s["not_loaded"])),
        none(strings(&s["keys"])),
        match s["sequences_not_moved"].as_str() {
            Some(why) => format!("NOT moved ({}); the run that resumes moves them", esc(why)),
            None => none(strings(&s["sequences"])),
        },
    );
    out.push_str("</section>\n");
}

fn plan_tables(out: &mut String, doc: &Value) {
    section(out, "tables", "Tables and columns");
    let _ = write!(
        out,
        "<p>{} rows read and converted in {:.2} s ({:.0} rows/s); estimated load time {:.1} s. Mode: {}.</p>\n",
        doc["rows"],
        num(&doc["read_convert_seconds"]),
        num(&doc["rows_per_second"]),
        num(&doc["estimated_load_seconds"]),
        esc(doc["mode"].as_str().unwrap_or(""))
    );
    out.push_str("<table><tr><th>table</th><th>target</th><th>rows</th><th>columns: type chosen, and why</th></tr>\n");
    for t in doc["plan"]["tables"].as_array().into_iter().flatten() {
        let map = &t["map"];
        let mut cols = String::from("<ul class=\"samples\">");
        for c in map["columns"].as_array().into_iter().flatten() {
            let _ = write!(
                cols,
                "<li><code>{}</code> → <code>{}</code> <span class=\"muted\">{}</span></li>",
                esc(c["source"].as_str().unwrap_or("")),
                esc(c["pg_type"].as_str().unwrap_or("")),
                esc(c["why"].as_str().unwrap_or(""))
            );
        }
        cols.push_str("</ul>");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{cols}</td></tr>\n",
            esc(map["source"].as_str().unwrap_or("")),
            esc(map["target"].as_str().unwrap_or("")),
            t["row_count"]
        );
    }
    out.push_str("</table></section>\n");
}

/// Every decision the document records: readings guessed from the data,
/// notes (keys set aside and restored, sequences, widened columns) and
/// warnings (values rounded to float4, guessed readings).
fn decisions(out: &mut String, kind: Kind, doc: &Value) {
    section(out, "decisions", "Decisions ferry took, and why");
    let mut items = Vec::new();
    for r in doc["readings"].as_array().into_iter().flatten() {
        let detail: Vec<String> = r
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "table" && *k != "column")
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect();
        items.push(format!(
            "reading of {}.{} guessed from the data ({})",
            r["table"].as_str().unwrap_or(""),
            r["column"].as_str().unwrap_or(""),
            detail.join(", ")
        ));
    }
    for k in doc["keys_restored"].as_array().into_iter().flatten() {
        let how = match k["state"].as_str().unwrap_or("") {
            "validated" => "validated against every row",
            "not_valid" => "NOT VALID: loaded rows point at rows that are not there",
            "rebuilt" => "rebuilt",
            _ => "not restored yet (`ferry restore-keys` or the next run puts it back)",
        };
        items.push(format!(
            "{} {}.{} set aside for the load and restored: {how}",
            k["kind"].as_str().unwrap_or("key").replace('_', " "),
            k["table"].as_str().unwrap_or(""),
            k["name"].as_str().unwrap_or("")
        ));
    }
    let moved: Vec<&str> = doc["sequences_moved"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !moved.is_empty() {
        items.push(format!(
            "sequences moved past the rows of: {}",
            moved.join(", ")
        ));
    }
    for key in ["notes", "warnings"] {
        for n in doc[key].as_array().into_iter().flatten() {
            items.push(n.as_str().unwrap_or("").to_string());
        }
    }
    if kind == Kind::Plan {
        for r in doc["rounded"].as_array().into_iter().flatten() {
            items.push(format!("values rounded to real (float4): {r}"));
        }
        for d in doc["ddl"].as_array().into_iter().flatten() {
            items.push(format!("DDL: {}", d.as_str().unwrap_or("")));
        }
    }
    if items.is_empty() {
        out.push_str("<p class=\"muted\">None beyond the default mapping.</p>");
    } else {
        out.push_str("<ul>");
        for i in items {
            let _ = write!(out, "<li>{}</li>", esc(&i));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");
}

/// Every problem with its rows: plan's problems and misfits, a run's
/// differences by key.
fn problems(out: &mut String, kind: Kind, doc: &Value) {
    section(out, "problems", "Problems");
    let mut n = 0;
    let start = out.len();
    out.push_str(
        "<table><tr><th>table</th><th>column</th><th>what</th><th>count</th><th>rows</th></tr>\n",
    );
    for p in doc["problems"].as_array().into_iter().flatten() {
        n += 1;
        let rows: String = p["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("<li><code>{}</code></li>", esc(s.as_str().unwrap_or(""))))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td class=\"n\">{}</td><td><ul class=\"samples\">{rows}</ul></td></tr>\n",
            esc(p["table"].as_str().unwrap_or("")),
            esc(p["column"].as_str().unwrap_or("")),
            esc(p["kind"].as_str().unwrap_or("")),
            esc(p["reason"].as_str().unwrap_or("")),
            p["count"]
        );
    }
    for m in doc["misfits"].as_array().into_iter().flatten() {
        n += 1;
        let _ = write!(
            out,
            "<tr><td colspan=\"5\">misfit: {}</td></tr>\n",
            esc(&m.to_string())
        );
    }
    for d in doc["differences"].as_array().into_iter().flatten() {
        n += 1;
        let cols: Vec<&str> = d["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">1</td><td><code>{}</code></td></tr>\n",
            esc(d["table"].as_str().unwrap_or("")),
            esc(&cols.join(", ")),
            esc(&d["kind"].as_str().unwrap_or("").replace('_', " ")),
            esc(d["key"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</table>");
    if n == 0 {
        out.truncate(start);
        out.push_str(if kind == Kind::Failed {
            "<p>See the error in the verdict above.</p>"
        } else {
            "<p>No problem found.</p>"
        });
    }
    out.push_str("</section>\n");
}

/// One lane per connection, one bar per table (start and length in seconds).
fn timeline(out: &mut String, doc: &Value) {
    section(out, "timeline", "Timeline of tables on connections");
    let tables: Vec<&Value> = doc["tables"].as_array().into_iter().flatten().collect();
    let end = tables
        .iter()
        .map(|t| num(&t["started_at"]) + num(&t["seconds"]))
        .fold(0.0f64, f64::max)
        .max(0.001);
    let lanes = tables
        .iter()
        .map(|t| t["writer"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0)
        + 1;
    let (w, lane_h, left) = (1000.0, 28.0, 110.0);
    let scale = (w - left - 10.0) / end;
    let h = lanes as f64 * lane_h + 40.0;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n"
    );
    for l in 0..lanes {
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\">connection {l}</text>\n",
            l as f64 * lane_h + 18.0
        );
    }
    for (i, t) in tables.iter().enumerate() {
        let name = t["table"].as_str().unwrap_or("");
        let x = left + num(&t["started_at"]) * scale;
        let bw = (num(&t["seconds"]) * scale).max(1.0);
        let y = t["writer"].as_u64().unwrap_or(0) as f64 * lane_h + 4.0;
        let hue = (i * 67) % 360;
        let label: String = name.chars().take(((bw / 6.0) as usize).max(1)).collect();
        let _ = write!(
            out,
            "<g><title>{} — {} rows, {:.2} s from {:.2} s</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" \
             fill=\"hsl({hue},60%,70%)\" stroke=\"#333\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>\n",
            esc(name),
            t["rows"],
            num(&t["seconds"]),
            num(&t["started_at"]),
            lane_h - 8.0,
            x + 3.0,
            y + 14.0,
            esc(&label)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{left}\" y=\"{:.1}\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{end:.2} s</text>\n</svg>",
        lanes as f64 * lane_h + 30.0,
        w - 10.0,
        lanes as f64 * lane_h + 30.0
    );
    let phases: Vec<String> = doc["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} {:.2} s", p[0].as_str().unwrap_or("?"), num(&p[1])))
        .collect();
    let _ = write!(
        out,
        "<p>Phases: {}</p></section>\n",
        esc(&phases.join(", "))
    );
}

/// The rehearsal's estimate against this run, per table: rows, and time
/// (the plan's read + convert share of its estimated load time, by rows).
fn comparison(out: &mut String, doc: &Value, plan: &Value) {
    section(out, "compare", "Rehearsal estimate against this run");
    let planned_rows = num(&plan["rows"]).max(1.0);
    let est_total = num(&plan["estimated_load_seconds"]);
    let _ = write!(
        out,
        "<p>Estimated load time {est_total:.2} s; this run took {:.2} s in all.</p>\n\
         <table><tr><th>table</th><th>rows planned</th><th>rows loaded</th><th>time estimated</th><th>time taken</th></tr>\n",
        num(&doc["seconds"])
    );
    for t in plan["plan"]["tables"].as_array().into_iter().flatten() {
        let name = t["map"]["source"].as_str().unwrap_or("");
        let rows = num(&t["row_count"]);
        let run = doc["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["table"].as_str() == Some(name));
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{rows:.0}</td><td class=\"n\">{}</td><td class=\"n\">{:.2} s</td><td class=\"n\">{}</td></tr>\n",
            esc(name),
            run.map_or("not loaded".to_string(), |r| r["target_rows"].to_string()),
            est_total * rows / planned_rows,
            run.map_or("—".to_string(), |r| format!(
                "{:.2} s",
                num(&r["seconds"])
            ))
        );
    }
    out.push_str("</table></section>\n");
}
