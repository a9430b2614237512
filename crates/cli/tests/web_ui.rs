//! The web UI in a real headless Chromium (driven through chromedriver), against
//! `ml-connector run` in its own process and both simulators: a person logs in with the admin
//! token, looks at the overview, the runs and one run, finds a customer's history by number
//! and by name, accepts a pair in the review queue and sees the link appear in the customer's
//! history; the pages work by keyboard and on a phone-sized screen; logging out ends the
//! session. A screenshot of each page goes to `target/ui-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test says so and passes, except under MLC_TEST_STRICT=1, where it fails.

mod support;

use support::service_process::{free_port, write_service_config, ServiceProcess};
use support::{connector, organizations_by_customer, text};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mlc_sim_pipedrive::NewOrganization;
use mlc_store::{EntityKind, ReviewStatus, RunQuery, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "ui-admin-token-4711";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key code of Tab.
const TAB: &str = "\u{e004}";

/// Chromium and chromedriver, or `None` (skip) when either is missing; under
/// MLC_TEST_STRICT=1 a missing one fails the test.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var("MLC_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let driver = std::env::var("MLC_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    let missing: Vec<&str> = [&chromium, &driver]
        .into_iter()
        .filter(|path| !std::path::Path::new(path).exists())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Some((chromium.into(), driver.into()));
    }
    let message = format!(
        "{} missing: install Debian's chromium and chromium-driver (`apt-get install -y chromium \
         chromium-driver`, as .ci/run does), or point MLC_CHROMIUM and MLC_CHROMEDRIVER at them",
        missing.join(" and ")
    );
    if std::env::var("MLC_TEST_STRICT").is_ok_and(|value| value == "1") {
        panic!("{message} (MLC_TEST_STRICT=1)");
    }
    println!("skipped: {message}");
    None
}

/// chromedriver on a free port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(binary: &PathBuf) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Option<Value> = match http.get(format!("{}/status", driver.url)).send().await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        if status.is_some_and(|status| status["value"]["ready"] == true) {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_browser(driver: &Driver, chromium: &PathBuf) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-US", "--hide-scrollbars"]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Where the screenshots go: the workspace's target directory (or CARGO_TARGET_DIR's).
fn screenshot_directory() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let directory = target.join("ui-screenshots");
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

/// A screenshot of the whole page (the window grown to the page's height) at `width`.
async fn snap(browser: &Client, name: &str, width: u32) {
    // From a short window, so the height measured is the page's, not the last window's.
    browser.set_window_size(width, 600).await.unwrap();
    let height = browser
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(900)
        .clamp(600, 4_000) as u32;
    browser.set_window_size(width, height + 140).await.unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshot_directory().join(format!("{name}.png")), png).unwrap();
}

async fn path_of(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// Clicks what `locator` finds and waits until the page it leads to has loaded (a click
/// returns before the navigation it starts has finished).
async fn click_and_wait(browser: &Client, locator: Locator<'_>) {
    browser
        .execute("window.mlcOldPage = true;", vec![])
        .await
        .unwrap();
    browser.find(locator).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let loaded = browser
            .execute(
                "return window.mlcOldPage === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .ok()
            .and_then(|value| value.as_bool())
            .unwrap_or(false);
        if loaded {
            return;
        }
        assert!(Instant::now() < deadline, "the click led to no new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn body_text(browser: &Client) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether the page is wider than the window (a phone would scroll sideways).
async fn overflows_sideways(browser: &Client) -> bool {
    browser
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

struct HandTyped {
    customer_number: String,
    organization_id: i64,
}

/// 24 customers; three of them typed into Pipedrive by hand, one letter off, before the first
/// run, with a link threshold above any fuzzy score: they go to the review queue.
async fn review_testbed(port: u16) -> (Testbed, PathBuf, Vec<HandTyped>) {
    let mut options = TestbedOptions::new(24, 83);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec![
        "link_threshold = 0.999".into(),
        "review_threshold = 0.5".into(),
        "schedule = \"every 1h\"".into(),
    ];
    let testbed = Testbed::start(options).await.unwrap();
    let mut typed = Vec::new();
    for record in testbed
        .truth()
        .iter()
        .filter(|record| {
            let customer = &record.customer;
            !customer.deleted && !customer.blocked && customer.name.chars().count() > 8
        })
        .take(3)
    {
        let customer = &record.customer;
        let address = &customer.billing_address;
        let mut name: Vec<char> = customer.name.chars().collect();
        name.remove(name.len() / 2);
        let organization_id = testbed
            .pipedrive
            .state()
            .insert_organization(NewOrganization {
                name: name.into_iter().collect(),
                address: Some(json!({
                    "value": format!("{} {}, {} {}", address.street, address.house_number, address.postal_code, address.city),
                    "route": address.street,
                    "street_number": address.house_number,
                    "postal_code": address.postal_code,
                    "locality": address.city,
                })),
                ..NewOrganization::default()
            })
            .unwrap();
        typed.push(HandTyped {
            customer_number: customer.customer_number.to_string(),
            organization_id: organization_id as i64,
        });
    }
    let config = write_service_config(
        testbed.directory.path(),
        &testbed.config_text,
        port,
        ADMIN_TOKEN,
    );
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    (testbed, config, typed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_finds_a_customers_history_and_settles_a_review_pair_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let port = free_port();
    let (testbed, config, typed) = review_testbed(port).await;
    let service = ServiceProcess::start(&config, "service.log", port).await;

    // The schedule's first run (nothing ran before: at once) syncs and queues the pairs.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let runs = testbed.store.runs(&RunQuery::default()).await.unwrap();
        if runs.iter().any(|run| run.status == RunStatus::Ok) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no successful run: {}",
            service.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pending = testbed
        .store
        .reviews("testbed", Some(ReviewStatus::Pending))
        .await
        .unwrap();
    let (pair, hand_typed) = pending
        .iter()
        .find_map(|review| {
            typed
                .iter()
                .find(|typed| {
                    review.kind == EntityKind::Organization
                        && review.ecc_key == typed.customer_number
                        && review.pipedrive_id == typed.organization_id
                })
                .map(|typed| (review.clone(), typed))
        })
        .unwrap_or_else(|| panic!("no pending pair of a hand-typed organization: {pending:?}"));
    let truth = testbed.truth();
    let created = truth
        .iter()
        .map(|record| &record.customer)
        .find(|customer| {
            !customer.deleted
                && !customer.blocked
                && typed
                    .iter()
                    .all(|typed| typed.customer_number != customer.customer_number.as_str())
        })
        .expect("a customer synced by create");

    let scenario = Scenario {
        base: service.base.clone(),
        pair_id: pair.id,
        organization_id: hand_typed.organization_id,
        typed_display: hand_typed
            .customer_number
            .trim_start_matches('0')
            .to_string(),
        created_display: created.customer_number_display.to_string(),
        created_name: created.name.clone(),
        created_city: created.billing_address.city.clone(),
    };

    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;
    // The walk runs in its own task, so the browser is closed also when an assertion fails.
    let in_browser = browser.clone();
    let result = tokio::spawn(async move {
        walk_through(&in_browser, &scenario, &testbed, &service).await;
    })
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(failure) = result {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// What the walk looks for, from the testbed.
struct Scenario {
    base: String,
    pair_id: i64,
    organization_id: i64,
    typed_display: String,
    created_display: String,
    created_name: String,
    created_city: String,
}

async fn walk_through(
    browser: &Client,
    scenario: &Scenario,
    testbed: &Testbed,
    service: &ServiceProcess,
) {
    let base = &scenario.base;
    // Without a session, the overview sends the browser to the login.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path_of(browser).await, "/login");
    snap(browser, "01-login", 1280).await;
    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys("a-wrong-token")
        .await
        .unwrap();
    click_and_wait(browser, Locator::Css("form[action='/login'] button")).await;
    assert!(body_text(browser).await.contains("Wrong token."));
    assert_eq!(path_of(browser).await, "/login");
    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    click_and_wait(browser, Locator::Css("form[action='/login'] button")).await;
    assert_eq!(path_of(browser).await, "/", "logged in, at the overview");

    // The overview: the connection, its gauge, the chart.
    let overview = body_text(browser).await;
    for expected in [
        "testbed",
        "connected",
        "Last run",
        "Next run",
        "429 answers",
        "Pipedrive tokens today",
    ] {
        assert!(
            overview.contains(expected),
            "overview lacks {expected}: {overview}"
        );
    }
    browser
        .find(Locator::Css("meter"))
        .await
        .expect("the token gauge");
    let bars = browser
        .find_all(Locator::Css("svg.chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30, "a bar per day of the chart");
    snap(browser, "02-overview", 1280).await;

    // By keyboard: the first Tab reaches the skip link, which shows its focus.
    browser.set_window_size(1280, 900).await.unwrap();
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(TAB)
        .await
        .unwrap();
    let focused = browser.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to content");
    assert_eq!(focused.css_value("outline-style").await.unwrap(), "solid");

    // Runs, and one run with its counts by action.
    click_and_wait(browser, Locator::LinkText("Runs")).await;
    assert_eq!(path_of(browser).await, "/runs");
    snap(browser, "03-runs", 1280).await;
    click_and_wait(browser, Locator::Css("table tbody tr td a")).await;
    let run_page = body_text(browser).await;
    assert!(run_page.contains("Records by action"), "{run_page}");
    assert!(run_page.contains("create"), "{run_page}");
    assert!(run_page.contains("review"), "{run_page}");
    snap(browser, "04-run", 1280).await;

    // The audit trail: a customer by number, then its history.
    let display = scenario.created_display.clone();
    click_and_wait(browser, Locator::LinkText("Audit trail")).await;
    browser
        .find(Locator::Id("customer"))
        .await
        .unwrap()
        .send_keys(&display)
        .await
        .unwrap();
    click_and_wait(browser, Locator::Css("form.search button[type=submit]")).await;
    assert_eq!(
        path_of(browser).await.split('&').next().unwrap(),
        format!("/audit?customer={display}")
    );
    snap(browser, "05-audit-search", 1280).await;
    click_and_wait(
        browser,
        Locator::Css(&format!("table a[href='/audit/customer/{display}']")),
    )
    .await;
    assert_eq!(path_of(browser).await, format!("/audit/customer/{display}"));
    let history = body_text(browser).await;
    assert!(
        history.contains(&scenario.created_name),
        "the history names the customer: {history}"
    );
    assert!(history.contains("create"), "{history}");
    assert!(history.contains("soap-rfc"), "what was read: {history}");
    let organizations = organizations_by_customer(testbed).await;
    assert_eq!(organizations.get(&display), Some(&1));
    let links = browser
        .find_all(Locator::Css("a[href*='/organization/']"))
        .await
        .unwrap();
    assert!(!links.is_empty(), "a link to the organization in Pipedrive");
    // The extracted fields, behind a disclosure a keyboard opens too.
    browser
        .find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let fields = body_text(browser).await;
    assert!(fields.contains("billing_address.city"), "{fields}");
    assert!(fields.contains(&scenario.created_city), "{fields}");
    snap(browser, "06-customer-history", 1280).await;

    // By name: a word of the name finds the customer.
    let word = scenario
        .created_name
        .split_whitespace()
        .max_by_key(|word| word.chars().count())
        .unwrap()
        .to_lowercase();
    browser.goto(&format!("{base}/audit")).await.unwrap();
    browser
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(&word)
        .await
        .unwrap();
    click_and_wait(browser, Locator::Css("form.search button[type=submit]")).await;
    let found = body_text(browser).await;
    assert!(
        found.contains(&format!("{display} {}", scenario.created_name)),
        "name search for {word}: {found}"
    );
    snap(browser, "07-audit-by-name", 1280).await;

    // The review queue: the pair side by side, accepted.
    click_and_wait(browser, Locator::LinkText("Review queue")).await;
    let queue = body_text(browser).await;
    assert!(
        queue.contains(&format!("Pair {}", scenario.pair_id)),
        "{queue}"
    );
    assert!(
        queue.contains(&format!(
            "Pipedrive organization {}",
            scenario.organization_id
        )),
        "{queue}"
    );
    snap(browser, "08-review", 1280).await;
    click_and_wait(
        browser,
        Locator::XPath(&format!(
            "//button[starts-with(normalize-space(.), 'Accept pair {}:')]",
            scenario.pair_id
        )),
    )
    .await;
    let decided = body_text(browser).await;
    assert!(
        decided.contains(&format!("Pair {} accepted", scenario.pair_id)),
        "{decided}"
    );
    let section = browser
        .find(Locator::Id(&format!("review-{}", scenario.pair_id)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(section.contains("accepted"), "{section}");
    assert!(
        !section.contains("Accept pair"),
        "a decided pair has no buttons: {section}"
    );
    snap(browser, "09-review-accepted", 1280).await;

    // The change: the run the decision asked for links the customer to the typed
    // organization, and its history shows it.
    let customer_display = scenario.typed_display.clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        browser
            .goto(&format!("{base}/audit/customer/{customer_display}"))
            .await
            .unwrap();
        let history = body_text(browser).await;
        if history.contains("link organization")
            && history.contains(&format!("organization {}", scenario.organization_id))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the accepted pair was never linked: {history}\n{}",
            service.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    snap(browser, "10-customer-linked", 1280).await;
    let organizations = organizations_by_customer(testbed).await;
    assert_eq!(
        organizations.get(&customer_display),
        Some(&1),
        "linked, not created a second time"
    );

    // A phone: nothing scrolls sideways, the pair stacks.
    browser.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/", "11-phone-overview"),
        ("/review?status=all", "12-phone-review"),
        ("/audit", "13-phone-audit"),
    ] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        assert!(
            !overflows_sideways(browser).await,
            "{path} scrolls sideways on a phone"
        );
        snap(browser, name, 390).await;
    }

    // Logging out ends the session: the overview sends the browser to the login again.
    browser.set_window_size(1280, 900).await.unwrap();
    browser.goto(&format!("{base}/")).await.unwrap();
    click_and_wait(browser, Locator::Css("form[action='/logout'] button")).await;
    assert_eq!(path_of(browser).await, "/login");
    browser.goto(&format!("{base}/review")).await.unwrap();
    assert_eq!(path_of(browser).await, "/login");
}
