package addressing

// JSON is the JSON form of one parsed address: what `npes address parse
// --json` prints for each address and what the API shows as a mailbox's
// normalized address, with the same keys. The keys are a contract: scripts
// consume them. (Address itself keeps Go's field names: it is also the
// stored form, which must keep decoding.)
type JSON struct {
	Postcode       string   `json:"postcode"`
	Region         string   `json:"region"`
	District       string   `json:"district"`
	SettlementType string   `json:"settlement_type"`
	Settlement     string   `json:"settlement"`
	StreetType     string   `json:"street_type"`
	Street         string   `json:"street"`
	House          string   `json:"house"`
	Building       string   `json:"building"`
	Unit           string   `json:"unit"`
	Rest           string   `json:"rest"`
	Warnings       []string `json:"warnings"`
	PosteRestante  bool     `json:"poste_restante"`
	MatchKey       string   `json:"match_key"`
	// Error says why raw did not parse (err); null when it did.
	Error *string `json:"error"`
	// MailboxError says why the address cannot be a mailbox's
	// (ParseStrict); null when it can.
	MailboxError *string `json:"mailbox_error"`
}

// NewJSON is the JSON form of a, parsed from raw with the outcome err.
func NewJSON(raw string, a Address, err error) JSON {
	j := JSON{
		Postcode:       a.Postcode,
		Region:         a.Region,
		District:       a.District,
		SettlementType: a.SettlementType,
		Settlement:     a.Settlement,
		StreetType:     a.StreetType,
		Street:         a.Street,
		House:          a.House,
		Building:       a.Building,
		Unit:           a.Unit,
		Rest:           a.Rest,
		Warnings:       a.Warnings,
		PosteRestante:  a.PosteRestante,
		MatchKey:       a.MatchKey(),
	}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	merr := err
	if err == nil {
		_, merr = ParseStrict(raw)
	}
	if merr != nil {
		msg := merr.Error()
		j.MailboxError = &msg
	}
	if err != nil {
		msg := err.Error()
		j.Error = &msg
		j.MatchKey = ""
	}
	return j
}
