//! The simulated ServiceNow Table API over real HTTP, driven with a plain reqwest client.

use leaver_sim::servicenow::{ServiceNowSim, ServiceNowSimConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const USER: &str = "leaver.integration";
const PASSWORD: &str = "sn-password-canary-77ab";
const TABLE: &str = "sn_hr_core_case";

async fn sim() -> ServiceNowSim {
    ServiceNowSim::start(ServiceNowSimConfig {
        username: USER.into(),
        password: PASSWORD.into(),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

async fn call(
    sim: &ServiceNowSim,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
    credentials: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .query(query)
        .header("accept", "application/json");
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, value)
}

async fn op(
    sim: &ServiceNowSim,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    call(sim, method, path, query, body, Some((USER, PASSWORD))).await
}

#[tokio::test]
async fn basic_auth_is_required() {
    let sim = sim().await;
    sim.add_record(TABLE, "HRC0001001", "Offboard alice");
    for credentials in [None, Some((USER, "wrong")), Some(("admin", PASSWORD))] {
        let (status, headers, body) = call(
            &sim,
            Method::GET,
            &format!("/api/now/table/{TABLE}"),
            &[],
            None,
            credentials,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})
        );
        assert_eq!(headers["www-authenticate"], "BASIC realm=\"Service-now\"");
    }
    let sys_id = sim.sys_id_of(TABLE, "HRC0001001").unwrap();
    let (status, _, _) = call(
        &sim,
        Method::PATCH,
        &format!("/api/now/table/{TABLE}/{sys_id}"),
        &[],
        Some(json!({"work_notes": "sneaky"})),
        Some((USER, "wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(sim.work_notes(TABLE, "HRC0001001").is_empty());
    assert!(sim
        .requests()
        .iter()
        .all(|r| !format!("{r:?}").contains(PASSWORD)));
}

#[tokio::test]
async fn find_by_number_then_append_and_read_back_work_notes() {
    let sim = sim().await;
    let sys_id = sim.add_record(TABLE, "HRC0001234", "Offboard alice");
    sim.add_record(TABLE, "HRC0009999", "Someone else");
    let (status, _, body) = op(
        &sim,
        Method::GET,
        &format!("/api/now/table/{TABLE}"),
        &[
            ("sysparm_query", "number=HRC0001234"),
            ("sysparm_fields", "sys_id,number"),
            ("sysparm_limit", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"result": [{"sys_id": sys_id, "number": "HRC0001234"}]})
    );
    let (_, _, none) = op(
        &sim,
        Method::GET,
        &format!("/api/now/table/{TABLE}"),
        &[("sysparm_query", "number=HRC0000000")],
        None,
    )
    .await;
    assert_eq!(none, json!({"result": []}));

    let path = format!("/api/now/table/{TABLE}/{sys_id}");
    for note in [
        "first note [leaver run r1 step a]",
        "second note [leaver run r1 step b]",
    ] {
        let (status, _, body) = op(
            &sim,
            Method::PATCH,
            &path,
            &[],
            Some(json!({"work_notes": note})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["sys_id"], sys_id);
        assert_eq!(
            body["result"]["work_notes"], "",
            "journal fields read back empty"
        );
    }
    let (_, _, empty) = op(
        &sim,
        Method::PATCH,
        &path,
        &[],
        Some(json!({"work_notes": "  "})),
    )
    .await;
    assert_eq!(empty["result"]["sys_mod_count"], "3");
    assert_eq!(
        sim.work_notes(TABLE, "HRC0001234").len(),
        2,
        "an empty note appends nothing"
    );
    assert_eq!(sim.journal_writes(), 2);

    let journal_query = format!("element_id={sys_id}^element=work_notes^ORDERBYDESCsys_created_on");
    let (status, headers, notes) = op(
        &sim,
        Method::GET,
        "/api/now/table/sys_journal_field",
        &[
            ("sysparm_query", journal_query.as_str()),
            (
                "sysparm_fields",
                "sys_id,value,sys_created_on,sys_created_by",
            ),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total-count"], "2");
    let values: Vec<&str> = notes["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![
            "second note [leaver run r1 step b]",
            "first note [leaver run r1 step a]"
        ]
    );
    assert_eq!(notes["result"][0]["sys_created_by"], USER);

    let like = format!("element_id={sys_id}^element=work_notes^valueLIKE[leaver run r1 step a]");
    let (_, headers, found) = op(
        &sim,
        Method::GET,
        "/api/now/table/sys_journal_field",
        &[("sysparm_query", like.as_str())],
        None,
    )
    .await;
    assert_eq!(headers["x-total-count"], "1");
    assert_eq!(
        found["result"][0]["value"],
        "first note [leaver run r1 step a]"
    );
    assert_eq!(found["result"][0]["element"], "work_notes");
    assert_eq!(found["result"][0]["name"], TABLE);
}

#[tokio::test]
async fn pagination_has_total_count_and_link_header() {
    let sim = sim().await;
    for i in 0..5 {
        sim.add_record(TABLE, &format!("HRC000{i}"), "x");
    }
    let (status, headers, body) = op(
        &sim,
        Method::GET,
        &format!("/api/now/table/{TABLE}"),
        &[
            ("sysparm_query", "numberSTARTSWITHHRC^ORDERBYnumber"),
            ("sysparm_fields", "number"),
            ("sysparm_limit", "2"),
            ("sysparm_offset", "2"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"result": [{"number": "HRC0002"}, {"number": "HRC0003"}]})
    );
    assert_eq!(headers["x-total-count"], "5");
    let link = headers["link"].to_str().unwrap();
    for rel in ["first", "prev", "next", "last"] {
        assert!(link.contains(&format!("rel=\"{rel}\"")), "{link}");
    }
    assert!(link.contains("sysparm_offset=4>;rel=\"next\""), "{link}");
    assert!(link.starts_with(&format!("<{}/api/now/table/{TABLE}?", sim.base_url())));
    // Follow `next` as a client would.
    let next = link
        .split(',')
        .find(|l| l.contains("rel=\"next\""))
        .and_then(|l| l.split('>').next())
        .map(|l| l.trim_start_matches('<').to_string())
        .unwrap();
    let response = Client::new()
        .get(next)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"result": [{"number": "HRC0004"}]}));
}

#[tokio::test]
async fn bad_input_gets_servicenow_errors_and_changes_nothing() {
    let sim = sim().await;
    let sys_id = sim.add_record(TABLE, "HRC0000042", "x");
    let (status, _, body) = op(&sim, Method::GET, "/api/now/table/no_such_table", &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid table no_such_table");
    assert_eq!(body["status"], "failure");
    let (status, _, body) = op(
        &sim,
        Method::PATCH,
        &format!("/api/now/table/{TABLE}/0123456789abcdef0123456789abcdef"),
        &[],
        Some(json!({"work_notes": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "No Record found");
    let response = Client::new()
        .patch(format!("{}/api/now/table/{TABLE}/{sys_id}", sim.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .header("content-type", "application/json")
        .body("work_notes=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Exception while reading request");
    assert!(sim.work_notes(TABLE, "HRC0000042").is_empty());
    // Unsupported or invalid queries match nothing (never everything).
    for query in ["number=HRC0000042^ORnumber=x", "nosuchfield=1", "number>1"] {
        let (status, headers, body) = op(
            &sim,
            Method::GET,
            &format!("/api/now/table/{TABLE}"),
            &[("sysparm_query", query)],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(body, json!({"result": []}), "{query}");
        assert_eq!(headers["x-total-count"], "0");
    }
    let (status, _, _) = op(&sim, Method::GET, "/api/now/v1/whatever", &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = op(
        &sim,
        Method::DELETE,
        &format!("/api/now/table/{TABLE}/{sys_id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, created) = op(
        &sim,
        Method::POST,
        &format!("/api/now/table/{TABLE}"),
        &[],
        Some(json!({"short_description": "new case", "work_notes": "opened"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let number = created["result"]["number"].as_str().unwrap();
    assert_eq!(sim.work_notes(TABLE, number).len(), 1);
}

#[tokio::test]
async fn faults_are_rendered_as_servicenow_would_answer() {
    let sim = sim().await;
    let sys_id = sim.add_record(TABLE, "HRC0000007", "x");
    let path = format!("/api/now/table/{TABLE}/{sys_id}");
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(3));
    let (status, headers, body) = op(&sim, Method::GET, &path, &[], None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert_eq!(body["error"]["message"], "Rate limit exceeded");
    sim.faults().fail_next(1, 403);
    let (status, _, body) = op(
        &sim,
        Method::PATCH,
        &path,
        &[],
        Some(json!({"work_notes": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["message"], "Operation Failed");
    assert!(sim.work_notes(TABLE, "HRC0000007").is_empty());
    sim.faults().fail_next(1, 503);
    let (status, _, body) = op(&sim, Method::GET, &path, &[], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.as_str().unwrap().contains("Instance Unavailable"));
    let (status, _, body) = op(&sim, Method::GET, &path, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["number"], "HRC0000007");
    sim.shutdown().await;
}
