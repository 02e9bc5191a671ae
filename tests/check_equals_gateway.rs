//! `sealgate check` gives the gateway's exact reply: every case of
//! fixtures/messages/manifest.json goes through `sealgate::transfer::check` (what the
//! `check` command runs) and through an in-process gateway session, and the two replies must be
//! the same bytes (code, enhanced code, every text line). The gateway's next hop answers the
//! end of data as check's offline next hop does, so passes compare byte for byte too.

mod inprocess;

use inprocess::*;
use sealgate::envelope::Address;
use sealgate::reply::{Reply, Status};

const FROM: &str = "medewerker@opgroeien.be";
/// Cases run side by side.
const CONCURRENT_CASES: usize = 2;

/// One case through check and through the gateway; the gateway's reply on the wire.
async fn run_case(case: FixtureCase) -> (FixtureCase, Got) {
    // What check's offline next hop answers to the end of data.
    let offline_ok = Reply::new(
        250,
        Status(2, 0, 0),
        "Ok: would be relayed (sealgate check sends nothing)",
    );
    let gateway = TestGateway::start(Options {
        script: Script {
            data: Some(offline_ok),
            ..Script::default()
        },
        day: Some(case.date),
        ..Options::default()
    });
    let message = fixture_message(&case.file);
    let recipients: Vec<Address> = case
        .rcpt
        .iter()
        .map(|r| Address::parse(r).unwrap())
        .collect();
    let checked = sealgate::transfer::check(
        gateway.config.clone(),
        Some(Address::parse(FROM).unwrap()),
        None,
        recipients,
        message.clone(),
        Some(case.date),
    )
    .await
    .unwrap_or_else(|e| panic!("{}: check failed: {e}", case.file));
    let mut expected = Vec::new();
    checked.reply.write_to(&mut expected);

    let (mut smtp, _session) = gateway.ready().await;
    let rcpts: Vec<&str> = case.rcpt.iter().map(String::as_str).collect();
    let got = smtp.send_mail(FROM, &rcpts, &message).await;
    assert_eq!(
        String::from_utf8_lossy(&got.raw),
        String::from_utf8_lossy(&expected),
        "{} to {:?}: the gateway and check differ",
        case.file,
        case.rcpt
    );
    (case, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_the_gateway_give_the_same_reply_on_every_fixture() {
    let cases = fixture_cases();
    assert!(
        cases.len() >= 40,
        "the manifest lists {} cases",
        cases.len()
    );
    // Two cases at a time, not more: the password-in-message check stops after a wall-clock
    // budget (policy::TIME_BUDGET), so an overloaded machine would change verdicts.
    let (mut passes, mut refusals) = (0, 0);
    for (case, got) in run_concurrently(cases, CONCURRENT_CASES, run_case).await {
        match case.verdict.as_str() {
            "pass" => {
                assert_eq!(got.code, 250, "{}: {got:?}", case.file);
                passes += 1;
            }
            _ => {
                assert_eq!(got.code, 550, "{}: {got:?}", case.file);
                refusals += 1;
            }
        }
    }
    assert!(
        passes > 5 && refusals > 20,
        "{passes} passes, {refusals} refusals"
    );
}
