// Package mail holds the parts of the e-mail engine that need no database:
//
//   - the personalisation language (ParseTemplate): a small hand-written
//     sandbox — fields from an allow-list, four filters, no loops, capped
//     output — whose grammar is documented in template.go;
//   - message building (Prepare once per broadcast, Prepared.Append per
//     recipient): Markdown or sanitised HTML, CSS inlined, a plain-text part
//     generated from the HTML, an identity and unsubscribe footer that the
//     body cannot remove, RFC 8058 one-click List-Unsubscribe headers and a
//     deterministic Message-ID (MessageID) so a retried message keeps its id;
//   - the SMTP sender (NewSender, Sender.Send): a pool of persistent
//     connections to the MUSTER_SMTP_URL relay, a global rate cap, a
//     per-domain concurrency cap and per-message outcomes (sent, temporary,
//     permanent, ambiguous);
//   - bounce handling input: RFC 3464 delivery status notifications and
//     RFC 5965 complaint reports (ParseDSN), mbox files (ParseMbox);
//   - unsubscribe tokens (SignUnsubscribe) and webhook signatures
//     (SignWebhook).
//
// The outbox, broadcasts and audience live in the broadcast domain and use
// this package; subpackage smtptest is a real in-process SMTP server for
// tests and benchmarks.
package mail
