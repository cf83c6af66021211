//! The runs page: server-rendered HTML (no scripts, no front-end build). The list page
//! refreshes itself every few seconds.

use std::fmt::Write;

use serde_json::Value;

use crate::model::{AppInfo, RunFilter, RunView};

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{padding:.35rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f5f5f5}code,pre{font:12px ui-monospace,monospace}pre{white-space:pre-wrap;margin:0;max-width:60rem}
.status{font-weight:600;padding:.1rem .4rem;border-radius:4px}
.Completed{background:#d9f5dd}.Failed{background:#fbdada}.Cancelled{background:#eee}.Running,.Queued{background:#fff3c4}
.bar{position:relative;height:14px;background:#f0f0f0;min-width:12rem}.bar span{position:absolute;top:0;height:14px;background:#6b8cff}
nav a{margin-right:1rem}";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

fn duration(start: i64, end: Option<i64>) -> String {
    end.map(|end| format!("{} ms", end - start))
        .unwrap_or_else(|| "…".into())
}

fn json(value: &Value) -> String {
    escape(&serde_json::to_string_pretty(value).unwrap_or_default())
}

fn layout(title: &str, refresh: bool, body: &str) -> String {
    let refresh = if refresh {
        r#"<meta http-equiv="refresh" content="3">"#
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// The runs list with recent events.
pub fn runs(
    prefix: &str,
    apps: &[AppInfo],
    filter: &RunFilter,
    runs: &[RunView],
    events: &[Value],
    next: Option<&str>,
) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Inngest runs</h1><p>Embedded executor · {} app(s) · JSON at <a href=\"{p}/api/runs\"><code>{p}/api/runs</code></a></p>",
        apps.len(),
        p = escape(prefix)
    );
    body.push_str("<nav>");
    let _ = write!(body, "<a href=\"{}/runs\">all</a>", escape(prefix));
    for status in ["Running", "Completed", "Failed", "Cancelled"] {
        let _ = write!(
            body,
            "<a href=\"{}/runs?status={status}\">{status}</a>",
            escape(prefix)
        );
    }
    body.push_str("</nav>");
    if let Some(function) = &filter.function {
        let _ = write!(body, "<p>Function: <code>{}</code></p>", escape(function));
    }
    body.push_str("<table id=\"runs\"><thead><tr><th>Run</th><th>Function</th><th>Status</th><th>Started</th><th>Duration</th><th>Trigger</th></tr></thead><tbody>");
    if runs.is_empty() {
        body.push_str("<tr><td colspan=\"6\">No runs yet. Send an event to start one.</td></tr>");
    }
    for run in runs {
        let trigger = run.events.first().map_or("", |e| e.name.as_str());
        let _ = write!(
            body,
            "<tr class=\"run\" data-run-id=\"{id}\"><td><a href=\"{p}/runs/{id}\"><code>{id}</code></a></td><td><a href=\"{p}/runs?function={f}\">{f}</a></td><td><span class=\"status {s}\">{s}</span></td><td>{t}</td><td>{d}</td><td><code>{trigger}</code></td></tr>",
            id = escape(&run.run_id),
            p = escape(prefix),
            f = escape(&run.function_id),
            s = run.status.as_str(),
            t = time(run.created_at),
            d = duration(run.started_at.unwrap_or(run.created_at), run.ended_at),
            trigger = escape(trigger),
        );
    }
    body.push_str("</tbody></table>");
    if let Some(next) = next {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(function) = &filter.function {
            query.append_pair("function", function);
        }
        if let Some(status) = filter.status {
            query.append_pair("status", status.as_str());
        }
        if let Some(event) = &filter.event {
            query.append_pair("event", event);
        }
        query.append_pair("before", next);
        let _ = write!(
            body,
            "<p><a id=\"older\" href=\"{}/runs?{}\">Older runs →</a></p>",
            escape(prefix),
            escape(&query.finish())
        );
    }
    body.push_str("<h2>Recent events</h2><table id=\"events\"><thead><tr><th>Id</th><th>Name</th><th>Received</th><th>Data</th></tr></thead><tbody>");
    for event in events {
        let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            body,
            "<tr><td><a href=\"{p}/runs?event={id}\"><code>{id}</code></a></td><td><code>{name}</code></td><td>{t}</td><td><pre>{data}</pre></td></tr>",
            p = escape(prefix),
            id = escape(field("id")),
            name = escape(field("name")),
            t = time(
                event
                    .get("received_at")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            ),
            data = json(event.get("data").unwrap_or(&Value::Null)),
        );
    }
    body.push_str("</tbody></table>");
    layout("Inngest runs", true, &body)
}

/// One run with its step timeline.
pub fn run(prefix: &str, run: &RunView) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"{p}/runs\">← all runs</a></p><h1>Run <code>{id}</code></h1><p>Function <code id=\"function\">{f}</code> · <span id=\"status\" class=\"status {s}\">{s}</span> · started {t} · {d}</p>",
        p = escape(prefix),
        id = escape(&run.run_id),
        f = escape(&run.function_id),
        s = run.status.as_str(),
        t = time(run.created_at),
        d = duration(run.started_at.unwrap_or(run.created_at), run.ended_at),
    );
    let steps = run.steps.as_deref().unwrap_or_default();
    let start = run.started_at.unwrap_or(run.created_at);
    let end = run
        .ended_at
        .or_else(|| steps.iter().filter_map(|s| s.ended_at).max())
        .unwrap_or(start)
        .max(start + 1);
    let span = (end - start) as f64;
    body.push_str("<h2>Steps</h2><table id=\"steps\"><thead><tr><th>#</th><th>Step</th><th>Op</th><th>Status</th><th>Attempts</th><th>Timeline</th><th>Input</th><th>Output or error</th></tr></thead><tbody>");
    if steps.is_empty() {
        body.push_str("<tr><td colspan=\"8\">No steps.</td></tr>");
    }
    for step in steps {
        // A step that starts when the run ends (same millisecond) still gets a visible bar;
        // `left` stays ≤ 99.5 so the clamp below always has min ≤ max.
        let left = ((step.started_at - start).max(0) as f64 / span * 100.0).min(99.5);
        let width = ((step.ended_at.unwrap_or(end) - step.started_at).max(0) as f64 / span * 100.0)
            .clamp(0.5, 100.0 - left);
        let output = step
            .memo
            .as_ref()
            .map(json)
            .unwrap_or_else(|| "…".to_string());
        let input = step.input.as_ref().map(json).unwrap_or_default();
        let _ = write!(
            body,
            "<tr class=\"step\" data-step=\"{name}\"><td>{seq}</td><td><code>{name}</code></td><td>{op}</td><td><span class=\"status {status}\">{status}</span></td><td>{attempts}</td><td><div class=\"bar\" title=\"{d}\"><span style=\"left:{left:.1}%;width:{width:.1}%\"></span></div>{d}</td><td><pre>{input}</pre></td><td><pre>{output}</pre></td></tr>",
            seq = step.seq + 1,
            name = escape(&step.name),
            op = escape(step.op.as_str()),
            status = step.status.as_str(),
            attempts = step.attempts,
            d = duration(step.started_at, step.ended_at),
        );
    }
    body.push_str("</tbody></table>");
    if let Some(output) = &run.output {
        let _ = write!(
            body,
            "<h2>Output</h2><pre id=\"output\">{}</pre>",
            json(output)
        );
    }
    if let Some(error) = &run.error {
        let _ = write!(
            body,
            "<h2>Error</h2><pre id=\"error\">{}</pre>",
            json(error)
        );
    }
    let _ = write!(
        body,
        "<h2>Events</h2><pre id=\"events\">{}</pre>",
        json(&serde_json::to_value(&run.events).unwrap_or_default())
    );
    layout(
        &format!("Run {}", run.run_id),
        run.ended_at.is_none(),
        &body,
    )
}

/// The page for an unknown run id.
pub fn not_found(prefix: &str, id: &str) -> String {
    layout(
        "Run not found",
        false,
        &format!(
            "<h1>No run <code>{}</code></h1><p><a href=\"{}/runs\">All runs</a></p>",
            escape(id),
            escape(prefix)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_starting_when_the_run_ends_renders() {
        let step = |name: &str, at: i64| crate::model::StepRecord {
            hash: name.into(),
            seq: 0,
            name: name.into(),
            op: inngest_protocol::Opcode::StepRun,
            status: crate::model::StepStatus::Completed,
            memo: None,
            input: None,
            attempts: 1,
            started_at: at,
            ended_at: Some(at),
        };
        let run = RunView {
            run_id: "01RUN".into(),
            function_id: "app-fn".into(),
            status: crate::model::RunStatus::Completed,
            created_at: 100,
            started_at: Some(100),
            ended_at: Some(110),
            event_ids: Vec::new(),
            events: Vec::new(),
            output: None,
            error: None,
            attempt: 0,
            steps: Some(vec![
                step("first", 100),
                step("last", 110),
                step("late", 120),
            ]),
        };
        let html = super::run("/_inngest", &run);
        assert!(html.contains("left:99.5%;width:0.5%"), "{html}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
