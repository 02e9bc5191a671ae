//! The reject texts: what was wrong and how to fix it, in Dutch and then English, for a social
//! worker rather than a mail administrator.
//!
//! Each text is a template; `policy.reject_texts.<code>` in the configuration replaces it.
//! Lines are separated by `\n`. Placeholders: `{protocol}` (the protocol's title),
//! `{recipients}` (recipients outside the protocol), `{min_kdf_cycles_power}` and `{detail}`
//! (a technical detail, e.g. which bound was exceeded). Texts never quote the message.

use super::ReasonCode;

/// Values for the placeholders.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub protocol: String,
    pub recipients: String,
    pub min_kdf_cycles_power: u8,
    /// A fixed string chosen by the code (a format name, which bound): never message text.
    pub detail: &'static str,
}

const FIX_NL: &str = "Zo doet u het: klik in Verkenner rechts op de bestanden > 7-Zip > Toevoegen aan archief; kies archiefformaat 7z en versleuteling AES-256, vink \"Bestandsnamen versleutelen\" aan, kies een sterk wachtwoord en geef dat door via een ander kanaal (telefoon of sms), nooit in de e-mail.";
const FIX_EN: &str = "How to: in Explorer right-click the files > 7-Zip > Add to archive; choose archive format 7z and encryption AES-256, tick \"Encrypt file names\", choose a strong password and pass it on by another channel (phone or SMS), never in the e-mail.";

/// The built-in template for `code`: a Dutch line, an English line, and the fix where useful.
pub fn default_text(code: ReasonCode) -> String {
    let (nl, en, fix) = match code {
        ReasonCode::NoArchive => (
            "NL: Dit bericht aan een beschermde mailbox ({protocol}) bevat geen versleuteld 7z-archief. Persoonsgegevens mogen enkel vertrekken in een met AES-256 versleuteld 7z-archief als bijlage.",
            "EN: This message to a protected mailbox ({protocol}) carries no encrypted 7z archive. Personal data may only leave in an attached 7z archive encrypted with AES-256.",
            true,
        ),
        ReasonCode::NotSevenZ => (
            "NL: Een bijlage is een ander soort archief ({detail}), geen 7z-archief. Enkel 7z met AES-256 is toegestaan (ZIP-versleuteling is zwak).",
            "EN: An attachment is another kind of archive ({detail}), not a 7z archive. Only 7z with AES-256 is allowed (ZIP encryption is weak).",
            true,
        ),
        ReasonCode::ArchiveCorrupt => (
            "NL: Een 7z-bijlage is beschadigd of onvolledig, of is een deel van een archief in meerdere volumes. Maak het archief opnieuw als een enkel bestand.",
            "EN: A 7z attachment is damaged or incomplete, or is one part of a multi-volume archive. Make the archive again as a single file.",
            true,
        ),
        ReasonCode::ArchiveNotEncrypted => (
            "NL: Het 7z-archief is niet versleuteld: iedereen kan het openen.",
            "EN: The 7z archive is not encrypted: anyone can open it.",
            true,
        ),
        ReasonCode::ArchivePartiallyEncrypted => (
            "NL: Het 7z-archief is maar gedeeltelijk versleuteld: niet elk bestand erin is met AES-256 beveiligd.",
            "EN: The 7z archive is only partly encrypted: not every file in it is protected with AES-256.",
            true,
        ),
        ReasonCode::HeaderNotEncrypted => (
            "NL: Het 7z-archief toont de bestandsnamen onversleuteld, en namen verraden vaak wie het dossier betreft. Vink in 7-Zip \"Bestandsnamen versleutelen\" aan en maak het archief opnieuw.",
            "EN: The 7z archive shows its file names unencrypted, and names often tell whom the file is about. Tick \"Encrypt file names\" in 7-Zip and make the archive again.",
            false,
        ),
        ReasonCode::WeakKeyDerivation => (
            "NL: Het 7z-archief gebruikt een te zwakke sleutelafleiding (minder dan 2^{min_kdf_cycles_power} rondes, of een ruwe sleutel). Maak het archief opnieuw met 7-Zip zelf.",
            "EN: The 7z archive uses too weak a key derivation (fewer than 2^{min_kdf_cycles_power} rounds, or a raw key). Make the archive again with 7-Zip itself.",
            true,
        ),
        ReasonCode::OtherAttachment => (
            "NL: Naast het versleutelde archief reist nog een andere bijlage mee (een document, een afbeelding, ook een afbeelding in de tekst of een handtekeninglogo, of een doorgestuurd bericht). Steek alle bestanden in het versleutelde 7z-archief en verstuur enkel het archief.",
            "EN: Another attachment travels beside the encrypted archive (a document, an image, also an image in the text or a signature logo, or a forwarded message). Put every file in the encrypted 7z archive and send only the archive.",
            false,
        ),
        ReasonCode::Tnef => (
            "NL: Het bericht bevat een Outlook-bijlage winmail.dat (opmaak Rich Text) die de echte bijlagen verbergt. Zet de opmaak van het bericht op HTML of Tekst zonder opmaak en verstuur opnieuw.",
            "EN: The message carries an Outlook winmail.dat attachment (Rich Text format) that hides the real attachments. Set the message format to HTML or Plain Text and send again.",
            false,
        ),
        ReasonCode::UnjudgeableCryptoBlob => (
            "NL: Het bericht is ondertekend of versleuteld met S/MIME of PGP; de gateway kan niet nagaan wat erin zit. Verstuur zonder S/MIME of PGP, met de gegevens in een versleuteld 7z-archief.",
            "EN: The message is signed or encrypted with S/MIME or PGP; the gateway cannot check what is inside. Send without S/MIME or PGP, with the data in an encrypted 7z archive.",
            false,
        ),
        ReasonCode::IdentifierInText => (
            "NL: Het onderwerp, de tekst of een bestandsnaam bevat een rijksregisternummer (INSZ) of een rekeningnummer (IBAN). Zet zulke gegevens enkel in het versleutelde archief en geef bijlagen een neutrale naam.",
            "EN: The subject, the text or a file name contains a national register number (INSZ) or a bank account number (IBAN). Put such data only inside the encrypted archive and give attachments a neutral name.",
            false,
        ),
        ReasonCode::PasswordInMessage => (
            "NL: Het wachtwoord van het archief staat in hetzelfde bericht. Haal het uit onderwerp en tekst, maak het archief opnieuw met een nieuw wachtwoord (het oude is gelekt) en geef dat door via een ander kanaal (telefoon of sms).",
            "EN: The archive's password is in the same message. Remove it from subject and text, make the archive again with a new password (the old one has leaked) and pass it on by another channel (phone or SMS).",
            false,
        ),
        ReasonCode::UnrelatedRecipient => (
            "NL: Het bericht gaat ook naar ontvangers buiten dit protocol ({recipients}). Stuur beschermde gegevens enkel naar de beschermde mailbox en naar collega's van de eigen organisatie; stuur de anderen een apart bericht.",
            "EN: The message also goes to recipients outside this protocol ({recipients}). Send protected data only to the protected mailbox and to colleagues of your own organisation; send the others a separate message.",
            false,
        ),
        ReasonCode::SenderNotAllowed => (
            "NL: Naar deze beschermde mailbox ({protocol}) mogen enkel de afzenders mailen die het protocol noemt (artikel 5: een lokaal teamlid); dit afzenderadres of deze aangemelde gebruiker staat niet op die lijst. Laat een bevoegd teamlid het bericht vanuit het eigen account versturen, of vraag de functionaris voor gegevensbescherming om de lijst aan te passen.",
            "EN: Only the senders the protocol names may mail this protected mailbox ({protocol}) (article 5: a local team member); this sender address or this signed-in user is not on that list. Have an authorised team member send the message from their own account, or ask the data protection officer to change the list.",
            false,
        ),
        ReasonCode::ProtocolNotInForce => (
            "NL: Het protocol voor deze mailbox ({protocol}) is vandaag niet van kracht: er mogen geen persoonsgegevens naartoe. Neem contact op met de functionaris voor gegevensbescherming.",
            "EN: The protocol for this mailbox ({protocol}) is not in force today: no personal data may be sent to it. Contact the data protection officer.",
            false,
        ),
        ReasonCode::MimeUnparseable => (
            "NL: De opbouw van het bericht (MIME) is onleesbaar of een deel kan niet gedecodeerd worden ({detail}). Verstuur het bericht opnieuw vanuit het gewone mailprogramma.",
            "EN: The structure of the message (MIME) cannot be read or a part cannot be decoded ({detail}). Send the message again from the ordinary mail program.",
            false,
        ),
        ReasonCode::MimeTooComplex => (
            "NL: Het bericht is te complex om na te kijken ({detail}). Verstuur een eenvoudig bericht met enkel het versleutelde 7z-archief als bijlage.",
            "EN: The message is too complex to check ({detail}). Send a simple message with only the encrypted 7z archive attached.",
            false,
        ),
        ReasonCode::MimeAmbiguous => (
            "NL: De opbouw van het bericht (MIME) is dubbelzinnig: verschillende mailprogramma's zouden er andere bijlagen in zien, dus de gateway kan niet nagaan wat de ontvanger krijgt (technisch: {detail}). Verstuur het bericht opnieuw vanuit uw gewone mailprogramma (Outlook, Thunderbird, webmail), met het versleutelde 7z-archief als gewone bijlage met een eenvoudige naam (letters en cijfers, zonder accenten); bewerk de broncode van het bericht niet en stuur geen bericht door dat u van elders kreeg.",
            "EN: The structure of the message (MIME) is ambiguous: different mail programs would see different attachments in it, so the gateway cannot check what the recipient gets (technical: {detail}). Send the message again from your normal mail program (Outlook, Thunderbird, webmail), with the encrypted 7z archive as a normal attachment with a plain name (letters and digits, no accents); do not edit the message source and do not forward a message you received from elsewhere.",
            false,
        ),
    };
    if fix {
        format!("{nl}\n{en}\n{FIX_NL}\n{FIX_EN}")
    } else {
        format!("{nl}\n{en}")
    }
}

/// The text for `code`: the configured override or the built-in template, filled in.
pub fn render(
    code: ReasonCode,
    overrides: &std::collections::BTreeMap<String, String>,
    context: &Context,
) -> String {
    let template = overrides
        .get(code.as_str())
        .cloned()
        .unwrap_or_else(|| default_text(code));
    template
        .replace("{protocol}", &context.protocol)
        .replace("{recipients}", &context.recipients)
        .replace(
            "{min_kdf_cycles_power}",
            &context.min_kdf_cycles_power.to_string(),
        )
        .replace("{detail}", context.detail)
}

/// One line of an SMTP reply: printable ASCII only (common accented letters lose their accent,
/// anything else becomes '?').
pub fn ascii_line(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            ' '..='~' => c,
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'À' | 'Á' | 'Â' | 'Ä' => 'A',
            'È' | 'É' | 'Ê' | 'Ë' => 'E',
            'Ï' | 'Î' => 'I',
            'Ö' | 'Ô' => 'O',
            'Ü' | 'Û' => 'U',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            '\u{a0}' => ' ',
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_text_is_bilingual_ascii_and_filled() {
        let context = Context {
            protocol: "P".into(),
            recipients: "x@example.org".into(),
            min_kdf_cycles_power: 19,
            detail: "d",
        };
        for code in ReasonCode::ALL {
            let text = render(code, &Default::default(), &context);
            assert!(
                text.starts_with("NL: ") && text.contains("\nEN: "),
                "{code:?}"
            );
            assert!(text.is_ascii() && !text.contains('{'), "{code:?}: {text}");
        }
    }

    #[test]
    fn overrides_replace_templates() {
        let mut overrides = std::collections::BTreeMap::new();
        overrides.insert(
            "no_archive".to_string(),
            "Geen archief voor {protocol}".to_string(),
        );
        let context = Context {
            protocol: "Wervik".into(),
            ..Context::default()
        };
        assert_eq!(
            render(ReasonCode::NoArchive, &overrides, &context),
            "Geen archief voor Wervik"
        );
    }

    #[test]
    fn lines_are_ascii() {
        assert_eq!(ascii_line("Bestandsnamen één ✓"), "Bestandsnamen een ?");
    }
}
