//! The route settings of issue 14: `relay.next_hop = "mx"`, `relay.dns_servers`, `[[routes]]`
//! with `domains`, `next_hop` and `tls`; what is refused at load, and which route a
//! recipient domain takes.

use sealgate::config::{Config, RouteTls};
use sealgate::gateway::Settings;

const BASE: &str = r#"
[smtp]
listen = ["127.0.0.1:2525"]
hostname = "sealgate.test"

[audit]
store = "sqlite:/nonexistent/never-opened.db"
"#;

fn load(relay_and_routes: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sealgate.toml");
    std::fs::write(&path, format!("{BASE}\n{relay_and_routes}")).expect("write");
    Config::load(&path).map_err(|e| e.to_string())
}

#[test]
fn routes_by_domain_over_a_default_route() {
    let config = load(
        r#"
[relay]
next_hop = "smtp://127.0.0.1:10025"
dns_servers = ["127.0.0.1:5353", "[::1]:53"]

[[routes]]
domains = ["wervik.be", "Menen.BE."]
next_hop = "mx"
tls = "dane"

[[routes]]
name = "partner"
domains = ["partner.example"]
next_hop = "smtp://[::1]:2526"
"#,
    )
    .expect("a valid configuration");
    assert_eq!(config.relay.dns_servers.len(), 2);
    assert_eq!(config.routes[0].tls, Some(RouteTls::Dane));
    let settings = Settings::build(config).expect("settings");
    let routes = &settings.routes;
    let (index, route) = routes.choose("wervik.be");
    assert_eq!(
        (index, route.label.as_str(), route.is_mx()),
        (1, "route1", true)
    );
    assert_eq!(routes.choose("menen.be").0, 1, "domains are canonical");
    let (index, route) = routes.choose("partner.example");
    assert_eq!(
        (index, route.label.as_str(), route.is_mx()),
        (2, "partner", false)
    );
    assert_eq!(route.relay.next_hop.port, 2526);
    let (index, route) = routes.choose("example.org");
    assert_eq!(
        (index, route.label.as_str(), route.is_mx()),
        (0, "default", false)
    );
    assert_eq!(routes.choose("sub.wervik.be").0, 0, "exact domains only");

    // The first recipient fixes the target: for MX the domain is part of it.
    let wervik = routes.target("wervik.be", false);
    assert_eq!(wervik.domain.as_deref(), Some("wervik.be"));
    let default = routes.target("example.org", false);
    assert!(default.domain.is_none(), "a smarthost takes every domain");
    assert!(
        !default.covers(&routes.target("example.net", true)),
        "protected mail does not join a connection opened for ordinary mail (every route)"
    );
    assert!(routes.target("example.net", true).covers(&default));
    assert!(!wervik.covers(&default));
    assert!(
        !wervik.covers(&routes.target("wervik.be", true)),
        "protected mail does not join a connection opened for ordinary mail"
    );
    assert!(routes.target("wervik.be", true).covers(&wervik));
}

#[test]
fn mx_as_the_default_route() {
    let config = load("[relay]\nnext_hop = \"mx\"\n").expect("a valid configuration");
    let settings = Settings::build(config).expect("settings");
    let (index, route) = settings.routes.choose("anything.example");
    assert_eq!((index, route.is_mx()), (0, true));
    assert_eq!(
        route.tls,
        RouteTls::May,
        "relay.tls defaults to opportunistic"
    );
}

#[test]
fn bad_routes_are_refused_at_load_naming_the_key() {
    let cases = [
        (
            "[relay]\nnext_hop = \"mx://x\"\n",
            "relay.next_hop",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"a.example\"]\nnext_hop = \"smtp//x\"\n",
            "routes[0].next_hop",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = []\nnext_hop = \"mx\"\n",
            "routes[0].domains",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"not a domain\"]\nnext_hop = \"mx\"\n",
            "routes[0].domains",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"a.example\"]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"A.example\"]\nnext_hop = \"mx\"\n",
            "routes[1].domains",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\nname = \"default\"\ndomains = [\"a.example\"]\nnext_hop = \"mx\"\n",
            "routes[0].name",
        ),
        (
            "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"a.example\"]\nnext_hop = \"smtp://192.0.2.1:25\"\ntls = \"dane\"\n",
            "routes[0].tls",
        ),
    ];
    for (text, key) in cases {
        let error = load(text).expect_err(text);
        assert!(error.contains(&format!("`{key}`")), "{key}: {error}");
    }
    for bad in [
        "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"a.example\"]\nnext_hop = \"mx\"\ntls = \"secure\"\n",
        "[relay]\nnext_hop = \"mx\"\n[[routes]]\ndomains = [\"a.example\"]\nnext_hop = \"mx\"\nport = 25\n",
        "[relay]\nnext_hop = \"mx\"\ndns_servers = [\"localhost\"]\n",
    ] {
        assert!(load(bad).is_err(), "refused: {bad}");
    }
}
