package i18n_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/store/journal"
)

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// TestCatalogues: every catalogue loads, has every English key, and each
// translation uses exactly the English text's placeholders.
func TestCatalogues(t *testing.T) {
	if err := i18n.Err(); err != nil {
		t.Fatal(err)
	}
	langs := i18n.Languages()
	if !slices.Contains(langs, "de") || langs[0] != "en" {
		t.Fatalf("languages %v", langs)
	}
	en := i18n.Keys("en")
	for _, l := range langs[1:] {
		have := map[string]bool{}
		for _, k := range i18n.Keys(l) {
			have[k] = true
		}
		for _, k := range en {
			if !have[k] {
				t.Errorf("%s: key %q missing", l, k)
				continue
			}
			e, _ := i18n.Lookup("en", k)
			x, _ := i18n.Lookup(l, k)
			pe, px := placeholder.FindAllString(e, -1), placeholder.FindAllString(x, -1)
			slices.Sort(pe)
			slices.Sort(px)
			if !slices.Equal(slices.Compact(pe), slices.Compact(px)) {
				t.Errorf("%s: key %q placeholders %v, English has %v", l, k, px, pe)
			}
		}
		for k := range have {
			if _, ok := i18n.Lookup("en", k); !ok {
				t.Errorf("%s: key %q is not in the English catalogue", l, k)
			}
		}
	}
}

func TestTranslate(t *testing.T) {
	if got := i18n.T("de", "alarm.GATE-NOT-CONFIRMED", "serial", "00AT9V8T1DBP"); got == "" || got == "alarm.GATE-NOT-CONFIRMED" || !regexp.MustCompile(`00AT9V8T1DBP`).MatchString(got) {
		t.Errorf("de gate alarm: %q", got)
	}
	if got := i18n.T("xx", "nav.line"); got != i18n.T("en", "nav.line") {
		t.Errorf("unknown language falls back to English: %q", got)
	}
	if got := i18n.T("en", "no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
	for _, c := range []struct{ user, accept, want string }{
		{"de", "", "de"}, {"", "de-DE,de;q=0.9,en;q=0.8", "de"}, {"", "fr-FR", "en"}, {"xx", "", "en"},
	} {
		if got := i18n.Pick(c.user, c.accept); got != c.want {
			t.Errorf("Pick(%q, %q) = %q, want %q", c.user, c.accept, got, c.want)
		}
	}
}

// TestWords: every unit state and parent state of the journal has a word in
// every catalogue (German differs from the raw word); a word no catalogue
// knows (a level name from the product master) passes through.
func TestWords(t *testing.T) {
	var words []string
	for _, s := range journal.States() {
		words = append(words, "ustate."+s.String())
	}
	for _, s := range []journal.ParentState{journal.ParentOpen, journal.ParentClosed, journal.ParentUnpacked, journal.ParentVoid} {
		words = append(words, "pstate."+s.String())
	}
	for _, lang := range i18n.Languages() {
		for _, k := range words {
			if _, ok := i18n.Lookup(lang, k); !ok {
				t.Errorf("%s: no word for %s", lang, k)
			}
		}
	}
	if got := i18n.Word("de", "ustate.", "commissioned"); got != "in Verkehr gebracht" {
		t.Errorf("de commissioned: %q", got)
	}
	if got := i18n.Word("de", "level.", "display-box"); got != "display-box" {
		t.Errorf("unknown level name: %q, want it as it is", got)
	}
}
