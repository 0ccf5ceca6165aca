// Package segment is the filter language of DESIGN §4: the text staff type
// to pick people ("tag:pensions age:45.. consent:email -tag:member"), used by
// segments, exports, broadcasts and the API's ?filter=.
//
// This package holds the language itself, with no database: a parser that
// turns text into a typed syntax tree (validating every value at parse time
// and reporting errors with their column), a canonical printer, helpers to
// inspect a tree (Walk, Uses, Expand), and Eval, a reference evaluator over
// one person's facts. Eval is the oracle the SQL compiler and the in-memory
// fast path are tested against, so it favours being obviously right over
// being fast.
//
// # Grammar
//
//	filter  = [ or ]                        empty text matches everyone
//	or      = and { "OR" and }
//	and     = unary { unary }               juxtaposition (whitespace) means AND
//	unary   = ( "NOT" | "-" ) unary | primary
//	primary = "(" or ")" | qualifier
//	qualifier = NAME ":" VALUE | "field." FIELD ":" VALUE
//	VALUE   = bare text up to whitespace or a parenthesis
//	        | '"' text with \" and \\ escapes '"'
//
// NOT binds tightest, then AND, then OR. OR and NOT are keywords only in
// capitals; a "-" negates only when written directly against its operand
// ("-tag:member", "-(a OR b)"). Qualifier names are case-insensitive. Quoting
// only groups characters: tag:"x" and tag:x are the same filter.
//
// Numbers, amounts and dates take a comparison or a range: "n" or "=n",
// ">n", ">=n", "<n", "<=n", "a..b" (both ends included), "a.." and "..b".
//
// Errors are *SyntaxError values naming the column and what was expected
// there ("at column 9: unknown qualifier "tga" (did you mean "tag"?)"); they
// are of kind errs.KindInvalid. A filter is limited to MaxLength bytes (not
// counting whitespace), MaxTerms qualifiers and MaxDepth levels of nesting.
//
// # Qualifiers
//
//	tag:NAME               has the tag (case-insensitive)
//	age:RANGE              whole years since the birth date, today in the nation's time zone
//	gender:f|m|x           recorded gender
//	support:RANGE          support level, 1 (strong support) to 5 (strong opposition)
//	near:LAT,LON,RADIUS    home within RADIUS (km or m) of the point, great-circle distance
//	postcode:CODE          exact postcode, or a prefix with a trailing * (spaces and case ignored)
//	city:NAME              city (case-insensitive)
//	country:CC             ISO 3166-1 alpha-2 country code
//	signed:SLUG | *        signed that petition, or any petition
//	rsvp:SLUG | *          responded to that event, or any event
//	attended:SLUG | *      checked in at that event, or any event
//	donated:RANGE          total donated, in the nation's currency (up to 2 decimals)
//	donations:RANGE        number of gifts
//	actions:RANGE          distinct campaigns acted on
//	points:RANGE           engagement points
//	subscribed:TOPIC | *   opted in to that email topic, or any topic
//	consent:CHANNEL        current consent granted: email, sms, phone, ads, push, post
//	has:FIELD              field present: email, phone, mobile, address
//	created:RANGE          record created, dates YYYY-MM-DD in the nation's time zone
//	active:RANGE           last activity, dates YYYY-MM-DD in the nation's time zone
//	segment:NAME           the people of a saved segment
//	field.NAME:VALUE       custom field equals VALUE (case-insensitive)
//
// # Unknown values
//
// A person whose value is unknown (no birth date, no coordinates, no support
// level, never active…) never matches a qualifier on it, and therefore
// matches its negation: "age:..30" excludes people without a birth date and
// "-age:..30" includes them. Counters (donated, donations, actions, points)
// are never unknown: a person who never gave has donated 0.
//
// signed: counts a signature on a page of the nation with that slug (any
// page for *); subscribed: a topic subscription whose current status is
// 'subscribed' (not 'unsubscribed'); both as internal/pages records them.
//
// # Restricted people
//
// A person whose processing is restricted (GDPR Art. 18, people.restricted,
// see internal/privacy) matches no filter at all: not the empty filter, not
// a negation. Eval, Compile and the index all leave them out at the top, so
// counts, lists, exports, audiences and ladder suggestions never hold them.
package segment
