package gs1

//go:generate go run ./internal/gen -dict ../../../shared/reference/gs1-syntax-dictionary.txt -rev ff2eb4b -out aitable_gen.go

// charKind is the character set of one component of an AI's value.
type charKind uint8

const (
	kindN charKind = iota // digits 0-9
	kindX                 // GS1 AI encodable character set 82
	kindY                 // GS1 AI encodable character set 39
	kindZ                 // base64url (CSET 64)
)

// component is one part of an AI's data field as the syntax dictionary
// decomposes it ("N6,yymmd0", "[X..17]").
type component struct {
	kind     charKind
	min, max int      // fixed length when min == max
	optional bool     // "[...]" in the dictionary
	linters  []string // dictionary linter names applied to this component
}

// aiDef is one Application Identifier as the syntax dictionary defines it.
type aiDef struct {
	ai      string
	fixed   bool         // "*" flag: predefined length, no FNC1/GS separator needed after it
	dlAttr  bool         // "?" flag: permitted as a Digital Link data attribute
	comps   []component  // data field components
	req     [][][]string // req= attributes: each a list of alternatives, each a group of AI patterns all required
	ex      [][]string   // ex= attributes: AI patterns this AI may not appear with
	dlpkey  bool         // a Digital Link primary key
	dlQuals [][]string   // its alternative ordered qualifier sequences
	title   string
}

// minLen and maxLen of the whole value.
func (d *aiDef) lengths() (min, max int) {
	for _, c := range d.comps {
		if !c.optional {
			min += c.min
		}
		max += c.max
	}
	return
}

// aiLen returns the length of the AI that starts with the two digits p, or 0.
func aiLenFor(s string) int {
	if len(s) < 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0
	}
	return int(aiPrefixLen[int(s[0]-'0')*10+int(s[1]-'0')])
}

// lookupAI returns the definition of ai, or nil.
func lookupAI(ai string) *aiDef {
	i, ok := aiIndex[ai]
	if !ok {
		return nil
	}
	return &aiTable[i]
}
