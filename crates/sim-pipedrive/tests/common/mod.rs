//! Shared by the simulator's tests: an HTTP client that checks every answer it receives
//! against Pipedrive's OpenAPI documents (through the workspace's one harness,
//! `mlc-spec-check`), and a simulator with test options.
#![allow(dead_code)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;

// ----- a client that validates every answer -----

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    }
}

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    /// Sent as `x-api-token` when set.
    pub api_token: Option<String>,
    /// Sent as `Authorization: Bearer` when set.
    pub bearer: Option<String>,
    /// Operations checked, by "METHOD route status".
    pub checked: std::sync::Mutex<HashMap<String, u32>>,
}

impl Api {
    pub fn new(base: &str, api_token: &str) -> Self {
        // Load the documents now, so timing-sensitive tests do not pay for parsing mid-way.
        let _ = mlc_spec_check::load();
        Api {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            api_token: Some(api_token.to_string()),
            bearer: None,
            checked: Default::default(),
        }
    }

    /// Calls `route` (a template such as `/api/v2/organizations/{id}`) with `params` filled in,
    /// validates the answer against the documents when present, and returns it.
    pub async fn call(
        &self,
        method: Method,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut path = route.to_string();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let mut request = self
            .client
            .request(method.clone(), format!("{}{}", self.base, path))
            .query(query);
        if let Some(token) = &self.api_token {
            request = request.header("x-api-token", token);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request to the simulator");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let answer = Answer {
            status,
            headers,
            text,
        };
        if let Some(specs) = mlc_spec_check::load() {
            let content_type = answer.header("content-type").unwrap_or_default();
            let problems =
                specs.check_response(method.as_str(), route, status, &content_type, &answer.text);
            assert!(
                problems.is_empty(),
                "answer not valid against the documents:\n{}\nbody: {}",
                problems.join("\n"),
                answer.text
            );
            *self
                .checked
                .lock()
                .unwrap()
                .entry(format!("{} {} {}", method, route, status))
                .or_default() += 1;
        }
        answer
    }

    pub async fn get(
        &self,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Answer {
        self.call(Method::GET, route, params, query, None).await
    }

    pub async fn post(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::POST, route, params, &[], Some(body))
            .await
    }

    pub async fn patch(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::PATCH, route, params, &[], Some(body))
            .await
    }

    pub async fn put(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::PUT, route, params, &[], Some(body)).await
    }

    pub async fn delete(
        &self,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Answer {
        self.call(Method::DELETE, route, params, query, None).await
    }
}

pub async fn spawn_with(
    change: impl FnOnce(&mut mlc_sim_pipedrive::SimPipedriveOptions),
) -> mlc_sim_pipedrive::SpawnedPipedrive {
    let mut options = mlc_sim_pipedrive::SimPipedriveOptions::for_tests();
    change(&mut options);
    mlc_sim_pipedrive::spawn(options)
        .await
        .expect("simulator starts")
}
