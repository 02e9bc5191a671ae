//! Issue 15's allowed senders (`senders`, reason `sender_not_allowed`) against the spellings a
//! client can put on the `MAIL FROM` line, through the real session, smtp-proto's address
//! parser, transfer core and policy (in-process tier: a scripted next hop).
//!
//! Generated variants of a listed and an unlisted sender (quoting, quoted pairs, case,
//! trailing dot, IDN forms, parameters, source routes, routing characters, the null sender):
//! each is refused at MAIL, or judged by the canonical form the recipients use, and only a
//! spelling of a listed address reaches the protected mailbox. The generated spellings at
//! the policy level (invisible characters, confusables, subdomains, AUTH user names) are in
//! src/policy/registry.rs.

mod inprocess;

use inprocess::*;

/// A mailbox of the fixture's relaxed protocol: no password tries, so many messages stay cheap.
const PROTECTED: &str = "dossier@relaxed.example";
const SENDERS: &str =
    "senders = [\"An.Peeters@Opgroeien.be\", \"@kindengezin.be\", \"*@bücher.example\"]\n";

/// What became of one `MAIL FROM` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// 5xx to MAIL: the address is refused before any recipient.
    RefusedAtMail,
    /// 550 after the data, with `sender_not_allowed`.
    NotAllowed,
    /// Relayed to the protected mailbox.
    Relayed,
}

fn config() -> TestConfig {
    let mut config = TestConfig::default();
    let id = "id = \"relaxed\"\n";
    config.edit_fixture(id, &format!("{id}{SENDERS}"));
    config
}

/// The `MAIL FROM` argument spellings of `local@domain` a client can send: as is, quoted,
/// with a quoted pair, in upper case, with a trailing dot, with parameters.
fn mail_lines(local: &str, domain: &str) -> Vec<String> {
    let escaped: String = local.chars().flat_map(|c| ['\\', c]).collect();
    vec![
        format!("<{local}@{domain}>"),
        format!("<\"{local}\"@{domain}>"),
        format!("<\"{escaped}\"@{domain}>"),
        format!("<{}@{}>", local.to_uppercase(), domain.to_uppercase()),
        format!("<{local}@{domain}.>"),
        format!("<{local}@{domain}> SIZE=4000 BODY=8BITMIME"),
        format!("<{local}@{domain}> SMTPUTF8"),
    ]
}

async fn fate(gateway: &TestGateway, line: &str, message: &[u8]) -> Fate {
    let (mut smtp, _session) = gateway.ready().await;
    let got = smtp.command(&format!("MAIL FROM:{line}")).await;
    if got.code >= 500 {
        return Fate::RefusedAtMail;
    }
    assert_eq!(got.code, 250, "{line}: {got:?}");
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(250, None);
    smtp.command("DATA").await.assert(354, None);
    smtp.send(&stuffed(message)).await;
    let got = smtp.reply().await;
    match got.code {
        250 => Fate::Relayed,
        550 => {
            assert!(
                got.text().contains("sealgate: sender_not_allowed"),
                "{line}: refused for another reason: {}",
                got.text()
            );
            Fate::NotAllowed
        }
        _ => panic!("{line}: unexpected {got:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_from_spellings_reach_the_protected_mailbox_only_for_listed_senders() {
    let gateway = TestGateway::with_config(config());
    let good = fixture_message("good_basic.eml");
    let mut cases: Vec<(String, Fate)> = Vec::new();
    for (local, domain) in [
        ("an.peeters", "opgroeien.be"),
        ("wie", "kindengezin.be"),
        ("iemand", "bücher.example"),
        ("iemand", "xn--bcher-kva.example"),
    ] {
        for line in mail_lines(local, domain) {
            cases.push((line, Fate::Relayed));
        }
    }
    for (local, domain) in [
        ("piet", "opgroeien.be"),
        ("an.peeters", "sub.opgroeien.be"),
        ("an.peeters", "opgroeien.be.evil.example"),
        ("wie", "sub.kindengezin.be"),
        ("iemand", "bucher.example"),
    ] {
        for line in mail_lines(local, domain) {
            cases.push((line, Fate::NotAllowed));
        }
    }
    // A listed address hidden in a quoted local part, a source route, routing characters, a
    // second address: never the listed sender.
    for line in [
        "<\"an.peeters@opgroeien.be\">",
        "<\"an.peeters@opgroeien.be\"@evil.example>",
        "<\"an.peeters\\@opgroeien.be\"@evil.example>",
        "<@evil.example:an.peeters@opgroeien.be>",
        "<@evil.example,@b.example:an.peeters@opgroeien.be>",
        "<an.peeters%opgroeien.be@evil.example>",
        "<opgroeien.be!an.peeters@evil.example>",
        "<an.peeters@opgroeien.be@evil.example>",
        "<\"an.peeters(x)\"@opgroeien.be>",
        "<an.peeters@[192.0.2.1]>",
        "<an.peeters @opgroeien.be>",
    ] {
        cases.push((line.to_string(), Fate::RefusedAtMail));
    }
    // The null sender in its spellings never matches a list.
    for line in ["<>", "<postmaster>", "<Postmaster>"] {
        cases.push((line.to_string(), Fate::NotAllowed));
    }
    let (mut relayed, mut not_allowed, mut at_mail) = (0, 0, 0);
    for (line, expected) in &cases {
        let got = fate(&gateway, line, &good).await;
        assert_eq!(got, *expected, "MAIL FROM:{line}");
        match got {
            Fate::Relayed => relayed += 1,
            Fate::NotAllowed => not_allowed += 1,
            Fate::RefusedAtMail => at_mail += 1,
        }
    }
    assert_eq!(gateway.relayed().len(), relayed, "only the listed went out");
    eprintln!(
        "MAIL FROM spellings: {relayed} relayed, {not_allowed} sender_not_allowed, {at_mail} refused at MAIL"
    );
}
