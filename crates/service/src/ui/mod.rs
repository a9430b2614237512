//! The web UI (`/`, `/runs`, `/audit`, `/review`, `/login`): pages rendered on the server from
//! the templates in `crates/service/templates`, HTML-escaped by askama. Behind the same admin
//! token as the API: `/login` trades it for a session cookie; every other page redirects to
//! `/login` without a session, and every POST is refused without the session's CSRF token.

mod chart;
mod pages;
mod session;

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::Utc;
use serde::Deserialize;

use crate::ServiceState;
use session::{
    clear_cookie, cookie, random_token, secrets_match, set_cookie, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE, SESSION_LIFETIME,
};
pub use session::{Session, Sessions};

/// The largest form body a page posts (a CSRF token and a few fields).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What the pages share: the service and the live sessions.
pub struct Ui {
    pub service: Arc<ServiceState>,
    pub sessions: Sessions,
}

/// The UI's routes, merged beside the API's by the service.
pub fn router(service: Arc<ServiceState>) -> Router {
    router_with(Arc::new(Ui {
        service,
        sessions: Sessions::new(),
    }))
}

fn router_with(ui: Arc<Ui>) -> Router {
    let pages = Router::new()
        .route("/", get(pages::overview))
        .route("/runs", get(pages::runs).post(pages::trigger_run))
        .route("/runs/{id}", get(pages::run))
        .route("/audit", get(pages::audit))
        .route("/audit/customer/{number}", get(pages::customer))
        .route("/review", get(pages::review))
        .route("/review/bulk", post(pages::bulk))
        .route("/review/{id}/{decision}", post(pages::decide))
        .route("/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(ui.clone(), require_session));
    Router::new()
        .route("/login", get(login_form).post(login))
        .merge(pages)
        .route_layer(middleware::from_fn(page_headers))
        .with_state(ui)
}

/// Pages are not cached, not framed by other sites, and send no referrer to Pipedrive.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// Lets a request with a live session through, with the `Session` as an extension; a POST
/// only with the session's CSRF token in its form. Without a session: to `/login`.
async fn require_session(State(ui): State<Arc<Ui>>, request: Request, next: Next) -> Response {
    let session =
        cookie(request.headers(), SESSION_COOKIE).and_then(|id| ui.sessions.find(id, Utc::now()));
    let Some(session) = session else {
        return Redirect::to("/login").into_response();
    };
    let (parts, body) = request.into_parts();
    let body = if parts.method == Method::POST {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &session,
                "Form too large",
                "The form sent more than a page's form holds.",
            );
        };
        let presented = url::form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == "csrf")
            .map(|(_, value)| value.into_owned());
        if !secrets_match(Some(&session.csrf_token), presented.as_deref()) {
            tracing::warn!(
                path = parts.uri.path(),
                token_sent = presented.is_some(),
                "UI form refused: missing or wrong CSRF token"
            );
            return message(
                StatusCode::FORBIDDEN,
                &session,
                "Form refused",
                "This form did not come from a page of this session (its CSRF token is missing \
                 or wrong): reload the page and send it again.",
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(session);
    next.run(request).await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    message: Option<&'a str>,
}

/// The login form, with a fresh CSRF token in a cookie and in the form (there is no session
/// to tie it to yet). A browser already logged in goes to the overview.
async fn login_form(State(ui): State<Arc<Ui>>, headers: axum::http::HeaderMap) -> Response {
    if cookie(&headers, SESSION_COOKIE)
        .and_then(|id| ui.sessions.find(id, Utc::now()))
        .is_some()
    {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let csrf_token = random_token();
    let page = LoginPage {
        csrf_token: &csrf_token,
        message,
    };
    let mut response = html(status, page.render());
    append_cookie(
        &mut response,
        &set_cookie(LOGIN_CSRF_COOKIE, &csrf_token, 3_600),
    );
    response
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Trades the admin token for a session. A refusal is logged without what was typed, and
/// answers a little late, which slows down guessing.
async fn login(
    State(ui): State<Arc<Ui>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !secrets_match(cookie(&headers, LOGIN_CSRF_COOKIE), Some(&form.csrf)) {
        tracing::warn!("UI login refused: the form's CSRF token does not match its cookie");
        return login_page(
            StatusCode::FORBIDDEN,
            Some("The login form expired: type the token again."),
        );
    }
    let expected = ui.service.admin_token.as_ref().map(|token| token.expose());
    if !secrets_match(expected, Some(&form.token)) {
        tracing::warn!(
            token_set = expected.is_some(),
            "UI login refused: wrong admin token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let message = if expected.is_none() {
            "server.admin_token is not set in the configuration: nobody can log in."
        } else {
            "Wrong token."
        };
        return login_page(StatusCode::UNAUTHORIZED, Some(message));
    }
    let session = ui.sessions.start(Utc::now());
    tracing::info!("UI login");
    let mut response = Redirect::to("/").into_response();
    append_cookie(
        &mut response,
        &set_cookie(SESSION_COOKIE, &session.id, SESSION_LIFETIME.num_seconds()),
    );
    append_cookie(&mut response, &clear_cookie(LOGIN_CSRF_COOKIE));
    response
}

async fn logout(State(ui): State<Arc<Ui>>, Extension(session): Extension<Session>) -> Response {
    ui.sessions.end(&session.id);
    let mut response = Redirect::to("/login").into_response();
    append_cookie(&mut response, &clear_cookie(SESSION_COOKIE));
    response
}

fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A rendered page, or a plain error when a template fails (it does not with these types).
fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "UI page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    section: &'a str,
    csrf_token: &'a str,
    title: &'a str,
    message: &'a str,
    back: &'a str,
}

/// A page that says what went wrong, for a logged-in browser.
fn message(status: StatusCode, session: &Session, title: &str, text: &str) -> Response {
    html(
        status,
        MessagePage {
            section: "",
            csrf_token: &session.csrf_token,
            title,
            message: text,
            back: "/",
        }
        .render(),
    )
}

#[cfg(test)]
mod tests;
