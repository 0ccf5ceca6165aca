package importer

import "strings"

// Format names a source vocabulary of column headers.
type Format string

const (
	FormatAuto          Format = "auto"
	FormatNationBuilder Format = "nationbuilder"
	FormatCiviCRM       Format = "civicrm"
	FormatCSV           Format = "csv"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, bool) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "", FormatAuto:
		return FormatAuto, true
	case FormatNationBuilder, FormatCiviCRM, FormatCSV:
		return f, true
	}
	return "", false
}

// synonym says that headers folding (normKey) to one of keys feed field.
type synonym struct {
	field string
	keys  string // space-separated header spellings, folded by normKey
}

// common are the headers recognised in every format: English, French and
// Dutch words a person types as a column title. Keys are folded with
// normKey, so "Prénom", "prenom" and "PRÉ-NOM" are all "prenom".
var common = []synonym{
	{"first_name", "first_name firstname first given_name forename prenom voornaam roepnaam"},
	{"last_name", "last_name lastname surname family_name nom nom_de_famille achternaam familienaam"},
	{"middle_name", "middle_name middlename"},
	{"prefix", "prefix title civilite titre aanhef"},
	{"email", "email e-mail email_address mail courriel adresse_email adresse_courriel adresse_e-mail emailadres e-mailadres"},
	{"phone", "phone phone_number telephone tel telefoon telefoonnummer landline telephone_fixe vaste_telefoon"},
	{"mobile", "mobile mobile_phone mobile_number cell cellphone cell_phone gsm portable telephone_portable mobiel mobiele_telefoon mobiel_nummer"},
	{"work_phone", "work_phone work_phone_number telephone_travail werktelefoon"},
	{"birth_date", "birth_date birthdate date_of_birth dob birthday date_de_naissance naissance geboortedatum"},
	{"gender", "gender sex sexe genre geslacht"},
	{"language", "language lang langue taal locale preferred_language langue_preferee voorkeurstaal"},
	{"support_level", "support_level support"},
	{"tags", "tags tag tag_list labels etiquettes mots-cles"},
	{"note", "note notes comment comments commentaire commentaires remarque remarques opmerking opmerkingen"},
	{"external_id", "external_id external_identifier identifiant_externe externe_id externe_identificatie"},
	{"nationbuilder_id", "nationbuilder_id"},
	{"civicrm_id", "civicrm_id"},
	{"address1", "address address1 address_1 street street_address adresse rue straat adres straatadres"},
	{"address2", "address2 address_2 adresse2 adresse_2 complement_d_adresse"},
	{"city", "city town ville localite commune plaats woonplaats gemeente"},
	{"postcode", "postcode post_code postal_code zip zip_code zipcode code_postal cp npa"},
	{"region", "region state province state_province provincie etat"},
	{"country", "country country_code pays land"},
	{"lat", "lat latitude"},
	{"lng", "lng lon long longitude"},
	{"email_opt_in", "email_opt_in"},
	{"mobile_opt_in", "mobile_opt_in sms_opt_in"},
	{"volunteer", "volunteer is_volunteer benevole vrijwilliger"},
}

// nationBuilder are the columns of a NationBuilder people export.
// primary_* describes the same address as home_* in most nations and wins
// over it; billing_, user_submitted_ and registered_ addresses are not kept.
var nationBuilder = []synonym{
	{"nationbuilder_id", "nationbuilder_id id"},
	{"external_id", "external_id"},
	{"civicrm_id", "civicrm_id"},
	{"prefix", "prefix"},
	{"first_name", "first_name"},
	{"middle_name", "middle_name"},
	{"last_name", "last_name"},
	{"email", "email email1 email2 email3 email4"},
	{"email_opt_in", "email_opt_in"},
	{"phone", "phone_number"},
	{"mobile", "mobile_number"},
	{"work_phone", "work_phone_number"},
	{"mobile_opt_in", "mobile_opt_in"},
	{"birth_date", "born_at"},
	{"gender", "sex"},
	{"language", "language"},
	{"tags", "tag_list"},
	{"support_level", "support_level"},
	{"note", "note"},
	{"volunteer", "is_volunteer is_volunteer?"},
	{"membership_status", "membership_status"},
	{"membership_started_at", "membership_started_at membership_start_date"},
	{"membership_ends_at", "membership_expires_at membership_expires_on membership_end_date"},
	{"address1", "primary_address1 home_address1"},
	{"address2", "primary_address2 home_address2"},
	{"city", "primary_city home_city"},
	{"region", "primary_state home_state"},
	{"postcode", "primary_zip home_zip"},
	{"country", "primary_country_code home_country_code primary_country home_country"},
	{"lat", "primary_lat home_lat"},
	{"lng", "primary_lng home_lng"},
	{"mailing_address1", "mailing_address1"},
	{"mailing_address2", "mailing_address2"},
	{"mailing_city", "mailing_city"},
	{"mailing_region", "mailing_state"},
	{"mailing_postcode", "mailing_zip"},
	{"mailing_country", "mailing_country_code mailing_country"},
	{"mailing_lat", "mailing_lat"},
	{"mailing_lng", "mailing_lng"},
	{"work_address1", "work_address1"},
	{"work_address2", "work_address2"},
	{"work_city", "work_city"},
	{"work_region", "work_state"},
	{"work_postcode", "work_zip"},
	{"work_country", "work_country_code work_country"},
	{"work_lat", "work_lat"},
	{"work_lng", "work_lng"},
}

// civiCRM are the columns of a CiviCRM contact export: the English labels,
// their French and Dutch translations, and the raw field names (which an
// export "with field names" or an API dump uses).
var civiCRM = []synonym{
	{"civicrm_id", "contact_id id contact-id id_du_contact identifiant_du_contact identifiant_contact contact_identificatie"},
	{"external_id", "external_identifier identifiant_externe externe_identificatie externe_id"},
	{"prefix", "individual_prefix prefix_id prefixe voorvoegsel"},
	{"first_name", "first_name prenom voornaam"},
	{"middle_name", "middle_name deuxieme_prenom tweede_voornaam"},
	{"last_name", "last_name nom nom_de_famille achternaam"},
	{"email", "email courriel e-mail adresse_courriel"},
	{"phone", "phone telephone telefoon"},
	{"mobile", "phone-mobile mobile_phone mobile portable gsm mobiel"},
	{"address1", "street_address adresse rue straat straatadres adres"},
	{"address2", "supplemental_address_1 supplemental_address adresse_complementaire_1 adresse_supplementaire_1 aanvullend_adres_1"},
	{"city", "city ville plaats woonplaats"},
	{"postcode", "postal_code code_postal postcode"},
	{"region", "state_province state_province_id etat_province province_etat province provincie"},
	{"country", "country country_id pays land"},
	{"lat", "geo_code_1 latitude"},
	{"lng", "geo_code_2 longitude"},
	{"birth_date", "birth_date date_de_naissance geboortedatum"},
	{"gender", "gender gender_id genre sexe geslacht"},
	{"language", "preferred_language langue_preferee voorkeurstaal"},
	{"do_not_email", "do_not_email ne_pas_envoyer_de_courriel pas_de_courriel ne_pas_envoyer_de_courriels geen_e-mail geen_email niet_e-mailen"},
	{"do_not_sms", "do_not_sms ne_pas_envoyer_de_sms pas_de_sms geen_sms niet_sms-en"},
	{"do_not_phone", "do_not_phone ne_pas_telephoner pas_d_appel pas_de_telephone niet_bellen geen_telefoon"},
	{"do_not_mail", "do_not_mail ne_pas_envoyer_de_courrier pas_de_courrier geen_post niet_mailen"},
	{"no_bulk_email", "is_opt_out no_bulk_emails_(user_opt_out) no_bulk_emails pas_de_courriels_de_masse_(desinscription_de_l_utilisateur) pas_de_courriels_groupes pas_de_courriels_en_masse geen_bulk_e-mails_(afmelding_gebruiker) geen_bulkmail geen_bulk-e-mails"},
	{"tags", "tags tag mots-cles etiquettes balises labels groups group(s) groupes groupe(s) groepen groep(en)"},
	{"note", "note notes note(s)"},
}

// lookup is the folded-header → destination index of one format.
type lookup map[string]target

// target is where a header goes; when several columns feed one scalar
// field, the lowest rank (the earliest spelling in the tables) wins.
type target struct {
	field string
	rank  int
}

// lookupFor builds the header index of a format: its own vocabulary first,
// then the common one for anything it does not name.
func lookupFor(f Format) lookup {
	l := lookup{}
	rank := 0
	add := func(list []synonym) {
		for _, s := range list {
			for k := range strings.FieldsSeq(s.keys) {
				rank++
				if k = normKey(k); k != "" {
					if _, ok := l[k]; !ok {
						l[k] = target{s.field, rank}
					}
				}
			}
		}
	}
	switch f {
	case FormatNationBuilder:
		add(nationBuilder)
	case FormatCiviCRM:
		add(civiCRM)
	}
	add(common)
	return l
}

// detectFormat picks the vocabulary of a header: a column only
// NationBuilder writes, or two of its typical columns, make it
// nationbuilder; a CiviCRM contact id or do-not flag (in any of its
// languages) makes it civicrm; anything else is a plain csv.
func detectFormat(header []string) Format {
	nbStrong := map[string]bool{"nationbuilderid": true, "taglist": true, "primaryaddress1": true, "primaryzip": true, "primarycity": true}
	nbWeak := map[string]bool{"bornat": true, "emailoptin": true, "mobileoptin": true, "mobilenumber": true, "phonenumber": true, "supportlevel": true, "isvolunteer": true, "email1": true, "sex": true}
	civi := map[string]string{}
	for _, s := range civiCRM {
		if s.field == "civicrm_id" || strings.HasPrefix(s.field, "do_not_") || s.field == "no_bulk_email" {
			for k := range strings.FieldsSeq(s.keys) {
				if k = normKey(k); k != "id" {
					civi[k] = s.field
				}
			}
		}
	}
	weak, civiHits := 0, 0
	for _, h := range header {
		k := normKey(h)
		if nbStrong[k] {
			return FormatNationBuilder
		}
		if nbWeak[k] {
			weak++
		}
		if _, ok := civi[k]; ok {
			civiHits++
		}
	}
	switch {
	case weak >= 2 && weak > civiHits:
		return FormatNationBuilder
	case civiHits > 0:
		return FormatCiviCRM
	}
	return FormatCSV
}
